-- +goose Up

-- The progress projection (each tenant's latest attempt per step) is gone:
-- GET /tenants/{id}, its one reader, answers from the documents projection
-- (each settled tenant's answer rendered from the stream's fold), and the
-- projection cost ten statements a provisioned tenant for nothing. Its
-- generations' schemas, their feed marks and its generation row go with
-- it; nothing else refers to them.
-- +goose StatementBegin
do $$
declare
    s name;
begin
    for s in select nspname from pg_namespace where nspname ~ '^proj_progress_g[0-9]+$' loop
        execute format('drop schema %I cascade', s);
    end loop;
end
$$;
-- +goose StatementEnd
delete from projection_feeds where name = 'progress';
delete from projection_generations where name = 'progress';

-- +goose Down
-- Forward-only: Ensure rebuilds a projection that comes back from the log.
