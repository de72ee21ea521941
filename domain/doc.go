// Package domain holds tenantflow's aggregates (Lead, Tenant), their events,
// commands and the tenant status machine. It decides and never does I/O: it
// imports only the standard library, so every rule is unit-testable.
package domain
