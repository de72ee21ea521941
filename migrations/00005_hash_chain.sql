-- +goose Up

-- A tamper-evident log. Each event's hash covers its content and the hash of
-- the stream's previous event; it is computed in append_events, where the
-- stream lock already orders the stream's writers, so it serialises nothing
-- else. Seals (below) chain the stream heads, so that deleting or rewriting a
-- whole stream is caught too. `tenantctl verify` checks both.

alter table events add column hash bytea;

-- The bytes an event's hash covers besides the previous hash. recorded_at is
-- taken as microseconds since the epoch, so the session's TimeZone cannot
-- change the text.
-- +goose StatementBegin
create function event_hash_input(
    p_stream text, p_version bigint, p_id uuid, p_type text, p_schema integer,
    p_data jsonb, p_metadata jsonb, p_recorded_at timestamptz
) returns bytea language sql immutable as $$
    select convert_to(concat_ws(E'\n', p_stream, p_version::text, p_id::text, p_type, p_schema::text,
                                p_data::text, p_metadata::text,
                                (extract(epoch from p_recorded_at) * 1000000)::bigint::text), 'UTF8')
$$;
-- +goose StatementEnd

-- +goose StatementBegin
create function event_hash(p_prev bytea, p_input bytea) returns bytea language sql immutable as $$
    select sha256(coalesce(p_prev, '\x'::bytea) || p_input)
$$;
-- +goose StatementEnd

-- Hash the events already stored, stream by stream, in version order.
-- +goose StatementBegin
do $$
declare
    r      record;
    v_prev bytea;
    v_last text := null;
begin
    for r in select * from events order by stream_id, stream_version loop
        if v_last is distinct from r.stream_id then
            v_prev := null;
            v_last := r.stream_id;
        end if;
        v_prev := event_hash(v_prev, event_hash_input(r.stream_id, r.stream_version, r.event_id, r.event_type,
                                                       r.schema_version, r.data, r.metadata, r.recorded_at));
        update events set hash = v_prev where stream_id = r.stream_id and stream_version = r.stream_version;
    end loop;
end
$$;
-- +goose StatementEnd

alter table events alter column hash set not null;

-- append_events, now hashing each event onto its stream's chain.
-- +goose StatementBegin
create or replace function append_events(
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
    v_inserted bigint := 0;
    v_rows     bigint;
    v_retry    bigint;
    v_prev     bytea;
    v_now      timestamptz := now();
    v_meta     jsonb;
begin
    if v_n is null or v_n = 0 then
        raise exception 'append_events: empty batch' using errcode = '22023';
    end if;
    perform pg_advisory_xact_lock(1952805748, hashtext(p_stream));

    select stream_version, hash into v_current, v_prev from events
     where stream_id = p_stream order by stream_version desc limit 1;
    v_current := coalesce(v_current, 0);
    if p_expected >= 0 and p_expected <> v_current then
        v_retry := retried_append(p_stream, p_expected, p_ids, p_types, p_schemas, p_data);
        if v_retry is not null then
            return v_retry;
        end if;
        raise exception 'stream % is at version %, expected %', p_stream, v_current, p_expected
            using errcode = 'TF001', detail = v_current::text;
    end if;

    for i in 1 .. v_n loop
        v_meta := coalesce(p_metadata[i], '{}');
        v_prev := event_hash(v_prev, event_hash_input(p_stream, v_current + i, p_ids[i], p_types[i], p_schemas[i],
                                                      p_data[i], v_meta, v_now));
        insert into events (stream_id, stream_version, event_id, event_type, schema_version, data, metadata, recorded_at, hash)
        values (p_stream, v_current + i, p_ids[i], p_types[i], p_schemas[i], p_data[i], v_meta, v_now, v_prev)
        on conflict (event_id) do nothing;
        get diagnostics v_rows = row_count;
        v_inserted := v_inserted + v_rows;
    end loop;
    if v_inserted = v_n then
        return v_current + v_n;
    end if;
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

-- Seals: the sealer follows the log in commit-safe order and writes, every
-- so often, the heads (version and hash) of the streams written since the
-- previous seal, chained to it and signed with TENANTFLOW_SEAL_KEY (HMAC).
create table seals (
    id            bigserial   primary key,
    upto_tx       xid8        not null,
    upto_position bigint      not null,
    heads         jsonb       not null,  -- {"stream": {"version": n, "hash": "hex"}}
    prev_hash     bytea,
    hash          bytea       not null,
    signed        boolean     not null,
    created_at    timestamptz not null default now()
);

-- +goose Down
-- Forward-only.
