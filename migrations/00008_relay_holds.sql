-- +goose Up

-- Records the broker refused for good (over its message size, invalid):
-- the relay sets such a record aside, with every later record of its stream
-- (the stream is held, so its consumers never see a gap), and goes on with
-- every other stream. `tenantctl relay release` sets release_requested; the
-- active relay then publishes the stream's held records in order and deletes
-- them, or holds the stream again when the broker still refuses.
create table relay_held (
    topic             text        not null,
    position          bigint      not null,  -- the event's global position
    stream            text        not null,
    event_id          uuid        not null,
    event_type        text        not null,
    reason            text        not null,  -- '' for a record held behind a refused one
    held_at           timestamptz not null default now(),
    release_requested boolean     not null default false,
    primary key (topic, position)
);
create index relay_held_stream on relay_held (topic, stream, position);

-- +goose Down
drop table relay_held;
