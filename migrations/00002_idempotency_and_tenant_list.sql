-- +goose Up

-- First responses to POSTs that carried an Idempotency-Key, kept for a day
-- (TENANTFLOW_IDEMPOTENCY_TTL). scope is the caller (token subject) so keys
-- of different callers never meet. status is null while the first request
-- is still being handled.
create table idempotency_keys (
    scope       text        not null,
    key         text        not null,
    fingerprint bytea       not null,
    created_at  timestamptz not null default now(),
    status      integer,
    header      jsonb,
    body        bytea,
    primary key (scope, key)
);
create index idempotency_keys_created_at on idempotency_keys (created_at);

-- Read projection behind GET /tenants: one row per tenant, folded from the
-- log by the tenant-list subscription. version is the tenant stream version
-- the row reflects; an older fold never overwrites a newer one.
create table tenant_list (
    id          uuid        primary key,
    key         text        not null unique,
    name        text        not null,
    status      smallint    not null,
    version     bigint      not null,
    updated_at  timestamptz not null
);
create index tenant_list_key_prefix on tenant_list (key text_pattern_ops);
create index tenant_list_status_key on tenant_list (status, key);

-- +goose Down
drop table tenant_list;
drop table idempotency_keys;
