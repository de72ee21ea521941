// Package handlers holds the provisioning step handlers and compensators: each
// an independent, idempotent Kafka consumer group that reacts to one event and
// appends exactly one outcome event. No handler calls another.
package handlers
