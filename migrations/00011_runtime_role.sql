-- +goose Up

-- Least privilege. Migrations run as the owner of the tables (the role of
-- TENANTFLOW_DATABASE_MIGRATE_URL); tenantd runs as a login role that is a
-- member of tenantflow_runtime, which may read the event log and add to it
-- but never change or remove what is there: the log is append-only by
-- permission, not only by convention. The other tables are working state
-- (checkpoints, idempotency keys, dead letters, holds, sessions, the tenant
-- list) and take ordinary writes. Projections are rebuilt into schemas of
-- their own, so the runtime may create schemas in this database.
--
-- The role is cluster-wide and made here once; databases migrated at the
-- same time (tests) race to make it, hence the duplicate_object guard.
-- Every later migration that adds a table grants on it explicitly.

-- +goose StatementBegin
do $$
begin
    if not exists (select from pg_roles where rolname = 'tenantflow_runtime') then
        create role tenantflow_runtime nologin;
        -- The owner hands projection schemas over below, which needs membership.
        execute format('grant tenantflow_runtime to %I', current_user);
    end if;
exception when duplicate_object or unique_violation then
    null;
end
$$;
-- +goose StatementEnd

-- +goose StatementBegin
do $$
begin
    execute format('grant connect, create, temporary on database %I to tenantflow_runtime', current_database());
end
$$;
-- +goose StatementEnd

grant usage on schema public to tenantflow_runtime;
grant select, insert on events, seals to tenantflow_runtime;
grant select, insert, update, delete on checkpoints, idempotency_keys, dead_letters,
    projection_generations, relay_held, console_sessions to tenantflow_runtime;
grant usage, select on all sequences in schema public to tenantflow_runtime;

-- Projection schemas built before this migration belong to the owner; the
-- runtime rebuilds and drops them, so they become its own (an owner that
-- is not a member of the runtime role keeps them: a fresh database has none).
-- +goose StatementBegin
do $$
declare
    s name;
begin
    if not pg_has_role(current_user, 'tenantflow_runtime', 'member') then
        return;
    end if;
    for s in select nspname from pg_namespace where nspname like 'proj\_%' loop
        execute format('alter schema %I owner to tenantflow_runtime', s);
        execute format('grant all on all tables in schema %I to tenantflow_runtime', s);
    end loop;
end
$$;
-- +goose StatementEnd

-- +goose Down
revoke all on events, seals, checkpoints, idempotency_keys, dead_letters,
    projection_generations, relay_held, console_sessions from tenantflow_runtime;
revoke all on all sequences in schema public from tenantflow_runtime;
revoke usage on schema public from tenantflow_runtime;
