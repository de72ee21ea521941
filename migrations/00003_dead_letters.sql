-- +goose Up

-- Records a handler could not decode (dead letters), and the later records
-- of the same stream that the handler held back behind them. A handler
-- processes nothing of a stream while it has an unreleased row for it;
-- `tenantctl dlq redrive` releases and republishes them.
create table dead_letters (
    id          bigserial   primary key,
    handler     text        not null,          -- consumer group
    stream      text        not null,          -- '' when the record names none
    held        boolean     not null,          -- false: the dead letter itself; true: held behind one
    reason      text        not null,
    topic       text        not null,
    kafka_key   text        not null,
    headers     jsonb       not null,
    payload     bytea       not null,
    created_at  timestamptz not null default now(),
    released_at timestamptz
);
create index dead_letters_open on dead_letters (handler, stream) where released_at is null;

-- +goose Down
drop table dead_letters;
