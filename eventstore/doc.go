// Package eventstore is the append-only event log in PostgreSQL — the single
// source of truth for tenant state — and the gap-safe relay that publishes each
// committed event to Kafka.
package eventstore
