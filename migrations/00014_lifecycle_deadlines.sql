-- +goose Up
-- The lifecycle watcher looks, every minute, for tenants whose latest
-- provisioning request carries a subscription that has ended, and for
-- offboardings whose retention period is over: a few rows among all the
-- log's events. These indexes hold those rows only, so each look reads
-- them and not the whole log; an append of another type touches neither.
create index events_provisioning_requests on events (stream_id, stream_version)
    where event_type = 'tenant.provisioning.requested';
create index events_offboarding_requests on events (stream_id, stream_version)
    where event_type = 'tenant.offboarding.requested';

-- +goose Down
drop index events_offboarding_requests;
drop index events_provisioning_requests;
