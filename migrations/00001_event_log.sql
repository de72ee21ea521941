-- +goose Up
-- The append-only event log: the single source of truth for tenant state.

create table events (
    -- Global position: unique and increasing in insertion order. Insertion
    -- order is not commit order, so readers follow (tx_id, position); see
    -- eventstore's package documentation.
    position        bigint generated always as identity,
    stream_id       text        not null check (stream_id <> ''),
    stream_version  bigint      not null check (stream_version >= 1),
    event_id        uuid        not null,
    event_type      text        not null check (event_type <> ''),
    schema_version  integer     not null default 1 check (schema_version >= 1),
    data            jsonb       not null,
    metadata        jsonb       not null default '{}',
    recorded_at     timestamptz not null default now(),
    -- The writing transaction; assigned after the stream lock (append_events),
    -- so within one stream it increases with the version.
    tx_id           xid8        not null default pg_current_xact_id(),
    -- Loading a stream reads this index; it also keeps versions unique.
    constraint events_pkey primary key (stream_id, stream_version),
    constraint events_event_id_key unique (event_id)
);

-- Reading the global log in (tx_id, position) order. Positions come from an
-- identity column and are unique without an index of their own: every index
-- costs each append, and nothing looks events up by position alone.
create index events_global_order on events (tx_id, position);

-- Durable read positions of the relay and of log subscriptions.
create table checkpoints (
    name        text primary key,
    tx_id       xid8        not null,
    position    bigint      not null,
    updated_at  timestamptz not null default now()
);

-- append_events appends a batch to one stream in the caller's transaction.
--   p_expected: -1 any version, 0 the stream must not exist, n the stream must be at n.
-- Returns the stream's version after the append.
-- Raises SQLSTATE TF001 (wrong expected version; DETAIL = actual version) or
-- TF002 (an event id is already stored elsewhere or with other content).
-- A batch whose ids are all stored, in this stream, at the expected place and
-- with the same type, schema version and data, is an idempotent retry: it
-- writes nothing and returns the version after those events.
-- The common path is one lock, one index probe and one insert; stored ids are
-- looked at only when the version does not match or an id already exists.
-- +goose StatementBegin
create function append_events(
    p_stream   text,
    p_expected bigint,
    p_ids      uuid[],
    p_types    text[],
    p_schemas  integer[],
    p_data     jsonb[],
    p_metadata jsonb[]
) returns bigint
language plpgsql as $$
declare
    v_n        integer := cardinality(p_ids);
    v_current  bigint;
    v_inserted bigint;
    v_retry    bigint;
begin
    if v_n is null or v_n = 0 then
        raise exception 'append_events: empty batch' using errcode = '22023';
    end if;
    -- Serialise writers of this stream. Taken before any write, so the
    -- transaction id (assigned at the first write) follows the lock order.
    perform pg_advisory_xact_lock(1952805748, hashtext(p_stream));

    select coalesce(max(stream_version), 0) into v_current from events where stream_id = p_stream;
    if p_expected >= 0 and p_expected <> v_current then
        v_retry := retried_append(p_stream, p_expected, p_ids, p_types, p_schemas, p_data);
        if v_retry is not null then
            return v_retry;
        end if;
        raise exception 'stream % is at version %, expected %', p_stream, v_current, p_expected
            using errcode = 'TF001', detail = v_current::text;
    end if;

    insert into events (stream_id, stream_version, event_id, event_type, schema_version, data, metadata)
    select p_stream, v_current + n.ord, n.id, n.typ, n.sv, n.dat, coalesce(n.meta, '{}')
      from unnest(p_ids, p_types, p_schemas, p_data, p_metadata) with ordinality as n(id, typ, sv, dat, meta, ord)
     order by n.ord
    on conflict (event_id) do nothing;
    get diagnostics v_inserted = row_count;
    if v_inserted = v_n then
        return v_current + v_n;
    end if;
    -- Some ids were already stored. Only a whole-batch retry is accepted; the
    -- exception undoes whatever this statement inserted.
    if v_inserted = 0 then
        v_retry := retried_append(p_stream, p_expected, p_ids, p_types, p_schemas, p_data);
        if v_retry is not null then
            return v_retry;
        end if;
    end if;
    raise exception 'event id already stored in another place or with other content'
        using errcode = 'TF002';
end
$$;
-- +goose StatementEnd

-- retried_append returns the stream version after the batch when every id is
-- already stored in p_stream, consecutively in batch order, at the expected
-- place (any place for p_expected = -1), with the same type, schema version
-- and data; null when none is stored; raises TF002 otherwise.
-- +goose StatementBegin
create function retried_append(
    p_stream   text,
    p_expected bigint,
    p_ids      uuid[],
    p_types    text[],
    p_schemas  integer[],
    p_data     jsonb[]
) returns bigint
language plpgsql as $$
declare
    v_found    integer;
    v_offsets  integer;
    v_same     boolean;
    v_first    bigint;
    v_last     bigint;
begin
    select count(*),
           count(distinct e.stream_version - n.ord),
           coalesce(bool_and(e.stream_id = p_stream and e.event_type = n.typ
                             and e.schema_version = n.sv and e.data = n.dat), false),
           min(e.stream_version), max(e.stream_version)
      into v_found, v_offsets, v_same, v_first, v_last
      from unnest(p_ids, p_types, p_schemas, p_data) with ordinality as n(id, typ, sv, dat, ord)
      join events e on e.event_id = n.id;
    if v_found = 0 then
        return null;
    end if;
    if v_found = cardinality(p_ids) and v_offsets = 1 and v_same
       and (p_expected < 0 or v_first = p_expected + 1) then
        return v_last;
    end if;
    raise exception 'event id already stored in another place or with other content'
        using errcode = 'TF002';
end
$$;
-- +goose StatementEnd

-- +goose Down
-- Forward-only: migrations are never rolled back.
