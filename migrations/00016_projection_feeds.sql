-- +goose Up

-- How far each generation of a projection has been fed: one row a feeder
-- (a partition of the live feed, a projector's subscription to the log, a
-- share of a rebuild), holding the newest log position it applied.
-- GET /stats/projections and the lag metrics read the newest of them.
--
-- Until now they found it through an index on each generation's
-- applied.position, so every update of an applied row (one a stream a
-- projector a batch) added an index entry and could never be a HOT update,
-- and a projector had to keep a row of every stream, its own or not.
-- A row here changes once a batch, in place.
create table projection_feeds (
    name        text        not null,
    generation  integer     not null,
    feeder      integer     not null,
    position    bigint      not null,
    recorded_at timestamptz not null,
    primary key (name, generation, feeder)
);
grant select, insert, update, delete on projection_feeds to tenantflow_runtime;

-- +goose Down
drop table projection_feeds;
