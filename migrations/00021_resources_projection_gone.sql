-- +goose Up

-- The resources projection is gone: the orphans projection keeps what
-- tenantctl orphans and the orphan metrics read, folded from each tenant's
-- stream, and GET /tenants/{id} lists a tenant's resources from its
-- document. Its generations' schemas, feed marks and generation row go, as
-- the progress projection's did (00020).
-- +goose StatementBegin
do $$
declare
    s name;
begin
    for s in select nspname from pg_namespace where nspname ~ '^proj_resources_g[0-9]+$' loop
        execute format('drop schema %I cascade', s);
    end loop;
end
$$;
-- +goose StatementEnd
delete from projection_feeds where name = 'resources';
delete from projection_generations where name = 'resources';

-- +goose Down
-- Forward-only: Ensure rebuilds a projection that comes back from the log.
