-- +goose Up

-- events_held_back is the store's HeldBack: whether committed events after
-- a cursor wait behind the read horizon (the oldest transaction still
-- running). Subscriptions ask it whenever they find nothing new, so under
-- load many times a second. As a prepared statement it was planned once a
-- connection, and a plan made while the log was small scanned the events
-- table from its first page to find the newest rows: a scan of the whole
-- log, many times a second, until autoanalyze made the connection plan
-- again. In a function planned without sequential scans it reads the log's
-- order index from the cursor on, whatever the log's size was.
-- +goose StatementBegin
create function events_held_back(p_tx xid8, p_position bigint) returns boolean
language sql stable
set enable_seqscan = off
as $$
    select exists (select 1 from events
                    where (tx_id, position) > (p_tx, p_position)
                      and tx_id >= pg_snapshot_xmin(pg_current_snapshot()))
$$;
-- +goose StatementEnd

-- +goose Down
-- Forward-only.
