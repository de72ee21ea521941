-- +goose Up

-- The operator console's sign-ins: the browser's cookie holds a random id,
-- this table its SHA-256 (a leaked table opens no session), who signed in,
-- the sign-out form's CSRF token and when the session ends (the bearer
-- token's expiry; the token itself is not kept).
create table console_sessions (
    id_hash    bytea       primary key,
    subject    text        not null,
    csrf       text        not null,
    expires_at timestamptz not null,
    created_at timestamptz not null default now()
);
create index console_sessions_expires_at on console_sessions (expires_at);

-- +goose Down
drop table console_sessions;
