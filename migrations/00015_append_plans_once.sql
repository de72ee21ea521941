-- +goose Up

-- The append functions' statements find rows by key and take a part's
-- events as arrays. With the default plan_cache_mode PostgreSQL made a
-- custom plan for them at every call (one made for the arrays' actual
-- lengths looks cheaper than a generic one), for every stream of every
-- group commit. Planned once instead: the generic plans are the same index
-- lookups and the same insert from unnest.
alter function append_events(text, bigint, uuid[], text[], integer[], jsonb[], jsonb[])
    set plan_cache_mode = force_generic_plan;
alter function append_events_many(text[], bigint[], integer[], uuid[], text[], integer[], jsonb[], jsonb[])
    set plan_cache_mode = force_generic_plan;
alter function retried_append(text, bigint, uuid[], text[], integer[], jsonb[])
    set plan_cache_mode = force_generic_plan;

-- +goose Down
-- Forward-only.
