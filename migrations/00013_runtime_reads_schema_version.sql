-- +goose Up

-- A production tenantd does not migrate (it never holds the owner's
-- credentials): at start it checks, as the runtime role, that no migration
-- is pending and waits for `tenantctl migrate` otherwise. That needs
-- reading goose's version table, and nothing more.
grant select on goose_db_version to tenantflow_runtime;

-- +goose Down
revoke select on goose_db_version from tenantflow_runtime;
