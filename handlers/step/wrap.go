package step

import (
	"context"
	"errors"

	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/platform/telemetry"
)

// Unwrapper is an Action that wraps another (tracing, fault injection):
// what the inner one can do besides Do and Undo (UndoRecorder, Watcher,
// Reconciler, Prober) is found through it, with As.
type Unwrapper interface {
	Unwrap() Action
}

// As finds, in a and the actions it wraps, the first that is a T.
func As[T any](a Action) (T, bool) {
	for a != nil {
		if found, ok := a.(T); ok {
			return found, true
		}
		u, ok := a.(Unwrapper)
		if !ok {
			break
		}
		a = u.Unwrap()
	}
	var none T
	return none, false
}

// NotConfiguredReason is what a step skipped for want of a back end says in
// its outcome (production names such steps in TENANTFLOW_SKIP_STEPS).
const NotConfiguredReason = "skipped: no back end for this step is configured in this installation"

// ErrNoBackEnd is the undo's error in a process without a back end for the
// step: what the step made cannot be removed from here.
var ErrNoBackEnd = errors.New("no back end for this step is configured in the process that ran its undo: what it made is left; " +
	"retry the undo from a process that has one (POST /tenants/{id}/orphans/retry)")

// NotConfigured is the action of a step with no back end in this process.
// Its Do skips, saying why; its Undo succeeds only when the step cannot hold
// anything (it never ran, or was cancelled before it did) — otherwise what
// it made, perhaps in another process, is left, and the undo says so
// instead of claiming a clean-up that never happened.
type NotConfigured struct{ Step string }

func (NotConfigured) Do(context.Context, *domain.Tenant) (Result, error) {
	return Result{Skipped: true, Reason: NotConfiguredReason}, nil
}

func (n NotConfigured) Undo(_ context.Context, t *domain.Tenant) error {
	if !t.MayHoldResources(n.Step) {
		return nil
	}
	return Permanent(ErrNoBackEnd)
}

// Traced wraps a in a span for each Do and Undo ("<name> do", "<name> undo").
func Traced(name string, a Action) Action { return traced{Action: a, name: name} }

type traced struct {
	Action
	name string
}

func (a traced) Unwrap() Action { return a.Action }

func (a traced) Do(ctx context.Context, t *domain.Tenant) (Result, error) {
	ctx, span := telemetry.Tracer().Start(ctx, a.name+" do")
	defer span.End()
	res, err := a.Action.Do(ctx, t)
	if err != nil {
		span.RecordError(err)
	}
	return res, err
}

func (a traced) Undo(ctx context.Context, t *domain.Tenant) error {
	ctx, span := telemetry.Tracer().Start(ctx, a.name+" undo")
	defer span.End()
	err := a.Action.Undo(ctx, t)
	if err != nil {
		span.RecordError(err)
	}
	return err
}
