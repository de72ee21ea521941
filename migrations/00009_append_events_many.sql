-- +goose Up

-- append_events_many appends to several streams in one transaction (the
-- store's group commit: concurrent appends of one process share a commit).
-- Unlike AppendStreams it is not all-or-nothing: each part is checked on its
-- own and answers with its new version, or with the code append_events would
-- have raised (TF001 with the stream's version, TF002), without rolling back
-- the other parts and without a savepoint per part. Parts come sorted by
-- stream id, the lock order every multi-stream writer uses. An error raised
-- anyway (a concurrent writer storing one of the ids first, a retried_append
-- that finds its ids elsewhere) fails the whole call, and the store appends
-- each part alone.
-- +goose StatementBegin
create function append_events_many(
    p_streams  text[],
    p_expected bigint[],
    p_counts   integer[],
    p_ids      uuid[],
    p_types    text[],
    p_schemas  integer[],
    p_data     jsonb[],
    p_metadata jsonb[]
) returns table (out_part integer, out_version bigint, out_code text, out_actual bigint)
language plpgsql as $$
declare
    v_off     integer := 0;
    v_n       integer;
    v_stream  text;
    v_current bigint;
    v_prev    bytea;
    v_retry   bigint;
    v_hashes  bytea[];
    v_now     timestamptz := now();
begin
    for p in 1 .. coalesce(cardinality(p_streams), 0) loop
        v_n := p_counts[p];
        v_stream := p_streams[p];
        out_part := p;
        out_version := null;
        out_code := null;
        out_actual := null;
        perform pg_advisory_xact_lock(1952805748, hashtext(v_stream));
        select e.stream_version, e.hash into v_current, v_prev from events e
         where e.stream_id = v_stream order by e.stream_version desc limit 1;
        v_current := coalesce(v_current, 0);
        if (p_expected[p] >= 0 and p_expected[p] <> v_current)
           or exists (select 1 from events e where e.event_id = any (p_ids[v_off + 1 : v_off + v_n])) then
            v_retry := retried_append(v_stream, p_expected[p], p_ids[v_off + 1 : v_off + v_n],
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
            v_hashes := '{}';
            for i in v_off + 1 .. v_off + v_n loop
                v_prev := event_hash(v_prev, event_hash_input(v_stream, v_current + (i - v_off), p_ids[i], p_types[i],
                                                              p_schemas[i], p_data[i], coalesce(p_metadata[i], '{}'), v_now));
                v_hashes := v_hashes || v_prev;
            end loop;
            insert into events (stream_id, stream_version, event_id, event_type, schema_version, data, metadata, recorded_at, hash)
            select v_stream, v_current + n.ord, n.id, n.typ, n.sv, n.dat, coalesce(n.meta, '{}'), v_now, n.h
              from unnest(p_ids[v_off + 1 : v_off + v_n], p_types[v_off + 1 : v_off + v_n], p_schemas[v_off + 1 : v_off + v_n],
                          p_data[v_off + 1 : v_off + v_n], p_metadata[v_off + 1 : v_off + v_n], v_hashes)
                   with ordinality as n(id, typ, sv, dat, meta, h, ord)
             order by n.ord;
            out_version := v_current + v_n;
        end if;
        return next;
        v_off := v_off + v_n;
    end loop;
end
$$;
-- +goose StatementEnd

-- +goose Down
-- Forward-only.
