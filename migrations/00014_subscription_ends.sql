-- +goose Up
-- Expiry's watcher looks, every minute, for tenants whose latest
-- provisioning request carries a subscription that has ended: one row per
-- attempt among all the log's events. This index holds those rows only, so
-- the look reads them and not the whole log; each append of another type
-- does not touch it.
create index events_provisioning_requests on events (stream_id, stream_version)
    where event_type = 'tenant.provisioning.requested';

-- +goose Down
drop index events_provisioning_requests;
