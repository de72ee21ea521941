-- +goose Up

-- append_events_many (00009), the store's group commit, with the same
-- answers, in four statements a call instead of five a part: every
-- stream's lock, every stream's head, the ids already stored, and one
-- insert of every part's events. Each part is still checked on its own in
-- the loop (its expectation against its stream's head, its ids against
-- those stored) and its events hashed onto its chain there, in expressions
-- that read no table. A part of a stream an earlier part of the same call
-- appends to starts from that part's new head. A part whose ids an earlier
-- part of the call is about to store fails the whole call, as a concurrent
-- writer storing them first does: the store then appends each part alone,
-- and the later one finds the earlier one's events (a retried append).
--
-- Decision (issue 33): under the closed loop each call carried about ten
-- parts of one event each, and its fifty statements (an insert alone 0.14
-- ms) were most of PostgreSQL's time a tenant.
-- +goose StatementBegin
create or replace function append_events_many(
    p_streams  text[],
    p_expected bigint[],
    p_counts   integer[],
    p_ids      uuid[],
    p_types    text[],
    p_schemas  integer[],
    p_data     jsonb[],
    p_metadata jsonb[]
) returns table (out_part integer, out_version bigint, out_code text, out_actual bigint)
language plpgsql
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
as $$
declare
    v_parts    integer := coalesce(cardinality(p_streams), 0);
    v_heads    bigint[];
    v_tips     bytea[];
    v_stored   uuid[];
    v_off      integer := 0;
    v_n        integer;
    v_current  bigint;
    v_prev     bytea;
    v_retry    bigint;
    v_now      timestamptz := now();
    -- the previous part's stream and head, when the call appends to it
    v_last     text;
    v_last_v   bigint;
    v_last_h   bytea;
    -- every appended event, in the order it is inserted
    r_streams  text[] := '{}';
    r_versions bigint[] := '{}';
    r_ids      uuid[] := '{}';
    r_types    text[] := '{}';
    r_schemas  integer[] := '{}';
    r_data     jsonb[] := '{}';
    r_meta     jsonb[] := '{}';
    r_hashes   bytea[] := '{}';
begin
    if v_parts = 0 then
        return;
    end if;
    perform pg_advisory_xact_lock(1952805748, hashtext(s)) from unnest(p_streams) as s;
    select array_agg(h.version order by u.ord), array_agg(h.hash order by u.ord) into v_heads, v_tips
      from unnest(p_streams) with ordinality as u(stream, ord)
      left join lateral (select e.stream_version as version, e.hash from events e
                          where e.stream_id = u.stream order by e.stream_version desc limit 1) h on true;
    select coalesce(array_agg(e.event_id), '{}') into v_stored from events e where e.event_id = any (p_ids);
    for p in 1 .. v_parts loop
        v_n := p_counts[p];
        out_part := p;
        out_version := null;
        out_code := null;
        out_actual := null;
        if p_streams[p] = v_last then
            v_current := v_last_v;
            v_prev := v_last_h;
        else
            v_current := coalesce(v_heads[p], 0);
            v_prev := v_tips[p];
        end if;
        if r_ids && p_ids[v_off + 1 : v_off + v_n] then
            raise exception 'an event id appears in two parts of one group'
                using errcode = 'TF002';
        end if;
        if (p_expected[p] >= 0 and p_expected[p] <> v_current) or v_stored && p_ids[v_off + 1 : v_off + v_n] then
            v_retry := retried_append(p_streams[p], p_expected[p], p_ids[v_off + 1 : v_off + v_n],
                                      p_types[v_off + 1 : v_off + v_n], p_schemas[v_off + 1 : v_off + v_n],
                                      p_data[v_off + 1 : v_off + v_n]);
            if v_retry is not null then
                out_version := v_retry;
            elsif p_expected[p] >= 0 and p_expected[p] <> v_current then
                out_code := 'TF001';
                out_actual := v_current;
            else
                out_code := 'TF002';
            end if;
        else
            for i in v_off + 1 .. v_off + v_n loop
                v_prev := event_hash(v_prev, event_hash_input(p_streams[p], v_current + (i - v_off), p_ids[i], p_types[i],
                                                              p_schemas[i], p_data[i], coalesce(p_metadata[i], '{}'), v_now));
                r_streams := r_streams || p_streams[p];
                r_versions := r_versions || (v_current + (i - v_off));
                r_ids := r_ids || p_ids[i];
                r_types := r_types || p_types[i];
                r_schemas := r_schemas || p_schemas[i];
                r_data := r_data || p_data[i];
                r_meta := r_meta || coalesce(p_metadata[i], '{}');
                r_hashes := r_hashes || v_prev;
            end loop;
            out_version := v_current + v_n;
            v_last := p_streams[p];
            v_last_v := out_version;
            v_last_h := v_prev;
        end if;
        return next;
        v_off := v_off + v_n;
    end loop;
    insert into events (stream_id, stream_version, event_id, event_type, schema_version, data, metadata, recorded_at, hash)
    select n.stream, n.version, n.id, n.typ, n.sv, n.dat, n.meta, v_now, n.h
      from unnest(r_streams, r_versions, r_ids, r_types, r_schemas, r_data, r_meta, r_hashes)
           with ordinality as n(stream, version, id, typ, sv, dat, meta, h, ord)
     order by n.ord;
end
$$;
-- +goose StatementEnd

-- append_events_all appends to several streams all or nothing (the store's
-- AppendStreams: a tenant's first events and its key's reservation): the
-- parts as append_events_many takes them, the first part it refuses raised
-- as append_events raises it (TF001 with the stream's version in DETAIL,
-- TF002), the refused part's stream in HINT. One statement, so one round
-- trip and its own transaction, instead of six round trips (begin, a lock
-- and an append_events a stream, commit).
-- +goose StatementBegin
create function append_events_all(
    p_streams  text[],
    p_expected bigint[],
    p_counts   integer[],
    p_ids      uuid[],
    p_types    text[],
    p_schemas  integer[],
    p_data     jsonb[],
    p_metadata jsonb[]
) returns setof bigint
language plpgsql
set plan_cache_mode = force_generic_plan
as $$
declare
    r record;
begin
    for r in select * from append_events_many(p_streams, p_expected, p_counts, p_ids, p_types, p_schemas, p_data, p_metadata) loop
        if r.out_code is not null then
            raise exception 'append to % refused', p_streams[r.out_part]
                using errcode = r.out_code, detail = coalesce(r.out_actual::text, ''), hint = p_streams[r.out_part];
        end if;
        return next r.out_version;
    end loop;
end
$$;
-- +goose StatementEnd

-- +goose Down
-- Forward-only.
