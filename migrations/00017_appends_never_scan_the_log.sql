-- +goose Up

-- The append functions find what they need by key: a stream's head on the
-- primary key, an event id on its unique index. Their plans are made once
-- a connection (00015), and a plan made while the log was small scanned
-- the whole table instead: the group commit's check that none of a part's
-- ids is stored yet then read every event of the log for every stream of
-- every group, 9–14 ms a stream on a log of a few thousand events, growing
-- with the log, until something made the connection plan again. Planned
-- without sequential scans, they use the indexes whatever the log's size
-- was when the plan was made.
alter function append_events(text, bigint, uuid[], text[], integer[], jsonb[], jsonb[])
    set enable_seqscan = off;
alter function append_events_many(text[], bigint[], integer[], uuid[], text[], integer[], jsonb[], jsonb[])
    set enable_seqscan = off;
alter function retried_append(text, bigint, uuid[], text[], integer[], jsonb[])
    set enable_seqscan = off;

-- +goose Down
-- Forward-only.
