// Package migrations holds the forward-only, numbered SQL migrations of
// tenantflow's database. A migration is never edited after it lands.
package migrations
