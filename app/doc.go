// Package app is tenantflow's use-case layer: what both the REST API and the
// step handlers do to the log, written once. A Repository keeps an aggregate
// in the event store — load (fold the stream), decide (a domain command),
// append at the loaded version — and Record does it with event ids derived
// from the decision, folding and deciding again after a concurrent append.
// The use cases built on it: creating a tenant (alone, or from its lead,
// reserving its key), recording a step's outcome (Record), the application
// plane's deployment reports (ReportDeployment) and a person's erasure
// (Erase), and the tenant commands of the API and tenantctl (Provision,
// Cancel, Deprovision, ForgetOrphan, RetryUndos).
//
// It sits on domain and eventstore only; api and handlers import it, never
// the other way round. A concurrent change the caller did not ask to retry
// is an *eventstore.ConcurrencyError, which the API answers with 409.
package app
