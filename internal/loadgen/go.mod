// The load generator is a module of its own so that the Temporal baseline
// (bench/temporal) can share it without depending on tenantflow's module:
// the two pin incompatible OpenTelemetry versions.
module github.com/tenantflow/tenantflow/internal/loadgen

go 1.26
