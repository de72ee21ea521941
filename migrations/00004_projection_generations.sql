-- +goose Up

-- Each projection's tables live in a schema of its own per generation,
-- proj_<name>_g<generation>; readers and the live projector use the
-- generation named here. A replay builds the next generation beside the
-- current one and switches this row in one transaction.
create table projection_generations (
    name       text        primary key,
    generation integer     not null,
    switched_at timestamptz not null default now()
);

-- The first tenant list (00002) is replaced by the generation-managed one.
drop table tenant_list;

-- +goose Down
drop table projection_generations;
