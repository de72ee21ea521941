-- +goose Up

-- The projector code version a generation was built with. When the code's
-- version differs (its tables or its Apply changed), tenantd rebuilds the
-- projection into a new generation at start instead of applying new events
-- to tables of another shape.
alter table projection_generations add column projector_version integer not null default 1;

-- +goose Down
-- Forward-only.
