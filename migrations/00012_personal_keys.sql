-- +goose Up

-- Keys of people's personal data (internal/pii): one per email address
-- (person, an HMAC of it), wrapped with TENANTFLOW_PII_KEY when configured.
-- The events hold only fields sealed with these keys; erasing a person
-- deletes the row, and their fields can never be opened again. The table
-- is working state, not the log: the runtime role may delete from it.
create table personal_keys (
    id         uuid        primary key,
    person     text        not null unique,
    key        bytea       not null,
    created_at timestamptz not null default now()
);
grant select, insert, delete on personal_keys to tenantflow_runtime;

-- +goose Down
drop table personal_keys;
