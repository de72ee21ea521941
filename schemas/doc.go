// Package schemas holds the public contract of tenant.events.v1: one JSON
// Schema per event type and schema version (<type>.v<version>.json) for the
// data of each event; README.md in this folder is the consumers' guide.
// schemas_test.go holds them to what the code emits.
package schemas
