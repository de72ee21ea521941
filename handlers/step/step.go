// Package step is the port between the choreography engine (package
// handlers) and the back ends that do a provisioning step's work (the
// packages beside this one: idp, database, storage, infrastructure, deploy,
// dns, platform). The engine knows steps only through these interfaces; a
// back end knows nothing of Kafka, the log or the other steps.
//
// Every implementation of Action runs the contract suite in steptest, on its
// real back end.
package step

import (
	"context"
	"errors"
	"fmt"

	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/platform/backoff"
)

// Action does and undoes one step for a tenant. Both run again after a
// crash or a redelivery, so Do treats "already exists and is ours" as done
// and Undo treats "already gone" as done. Errors are retried unless marked
// Permanent.
type Action interface {
	Do(ctx context.Context, t *domain.Tenant) (Result, error)
	Undo(ctx context.Context, t *domain.Tenant) error
}

// Result is what a step's Do made.
type Result struct {
	Skipped   bool   // nothing made, nothing to undo (not configured, or nothing to do for this tenant)
	Reason    string // why it was skipped, recorded in the outcome
	Resources []domain.Resource
	Outputs   map[string]string // handed to later steps (recorded in the outcome)
	// The dns step's addressing, recorded in its outcome.
	PlatformHost  string
	CustomDomains []domain.CustomDomain
	// Record, when set, decides the events of the step's turn in place of
	// its outcome event: tenant.activated for the activate step, the request
	// to the application plane for the deploy step (whose outcome the agent's
	// report records later). It gets the tenant (folded again after a
	// concurrent append) and the outcome the engine would have recorded; it
	// may return no events (nothing to record yet). RecordKey, when set,
	// keys the ids of its events instead of the step's "do" key.
	Record    func(t *domain.Tenant, outcome domain.StepOutcome) ([]domain.Event, error)
	RecordKey string
}

// UndoRecorder is an Action whose undo is recorded as events of its own
// rather than by running Undo and recording compensated: the deploy step
// records a request to the application plane (id key
// Tenant.UndoKey+"/request"), and the undo's outcome (id key Tenant.UndoKey) comes later, from whoever
// confirms it.
type UndoRecorder interface {
	RecordUndo(t *domain.Tenant, outcome domain.StepOutcome) ([]domain.Event, error)
}

// Reconciler is an Action whose work depends on the tenant's domains: after
// a domain change of an ACTIVE tenant (tenant.updated) it makes what it made
// follow the new domains, given the domains it made it for. Its result's
// Resources, if any, replace the step's.
type Reconciler interface {
	Reconcile(ctx context.Context, t *domain.Tenant, previous []string) (Result, error)
}

// Prober is implemented by the back ends that can say what exists now for
// a tenant: the resources, as the step records them, that are live. The
// drift check (package drift) compares them with what the log recorded.
type Prober interface {
	Probe(ctx context.Context, t *domain.Tenant) ([]domain.Resource, error)
}

// Recorder appends what decide returns to a tenant's stream, with event ids
// derived from the key decide returns (no events: nothing to record),
// folding the tenant again and deciding again after a concurrent append.
// The engine hands one to each Watcher.
// actor names who records (metadata of the events).
type Recorder func(ctx context.Context, tenantID, actor string, decide func(*domain.Tenant) (events []domain.Event, key string, err error)) error

// Watcher is an Action with work of its own besides its turn: the deploy
// step watches the application plane's deadlines. The engine runs Watch,
// until ctx ends, in the process that hosts the step.
type Watcher interface {
	Watch(ctx context.Context, record Recorder)
}

// Permanent marks err as not worth retrying (backoff.Permanent): a 4xx
// answer, invalid input, a resource that exists and belongs to someone
// else. Every other error a step returns is treated as transient (network,
// 5xx, timeouts) and retried.
func Permanent(err error) error { return backoff.Permanent(err) }

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool { return backoff.IsPermanent(err) }

// ErrForeign is domain.ErrForeign: what exists belongs to someone else.
var ErrForeign = domain.ErrForeign

// Foreign is a permanent ErrForeign about what.
func Foreign(what string) error { return Permanent(fmt.Errorf("%s %w", what, ErrForeign)) }

// UndoneUnlessOurs is an undo's answer to err from a look-up: a foreign
// resource leaves nothing of ours to remove.
func UndoneUnlessOurs(err error) error {
	if errors.Is(err, ErrForeign) {
		return nil
	}
	return err
}

// IgnoreForeign is a probe's answer to err from a look-up: a resource that
// belongs to someone else (or any permanent refusal) is simply not ours.
func IgnoreForeign(err error) error {
	if IsPermanent(err) {
		return nil
	}
	return err
}
