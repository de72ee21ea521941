-- +goose Up

-- Two projections are gone. progress (each tenant's latest attempt per
-- step) was read only by GET /tenants/{id}, which answers from the
-- documents projection now (each settled tenant's answer rendered from the
-- stream's fold). resources (every resource a step made) was read by it
-- too, and for the orphans, which the orphans projection keeps as the fold
-- gives them. Together they cost about twenty statements a provisioned
-- tenant. Their generations' schemas, their feed marks and their generation
-- rows go; nothing else refers to them.
-- +goose StatementBegin
do $$
declare
    s name;
begin
    for s in select nspname from pg_namespace where nspname ~ '^proj_(progress|resources)_g[0-9]+$' loop
        execute format('drop schema %I cascade', s);
    end loop;
end
$$;
-- +goose StatementEnd
delete from projection_feeds where name in ('progress', 'resources');
delete from projection_generations where name in ('progress', 'resources');

-- +goose Down
-- Forward-only: Ensure rebuilds a projection that comes back from the log.
