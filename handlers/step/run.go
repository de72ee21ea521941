package step

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/platform/backoff"
	"github.com/tenantflow/tenantflow/platform/metrics"
	"github.com/tenantflow/tenantflow/platform/pii"
	"github.com/tenantflow/tenantflow/platform/telemetry"
)

// Runner runs a step's action with the step's tries and says what came of
// it as the outcome the log records: completed, skipped (saying why) or
// failed, with a back end's error cleared of the tenant's people. It only
// runs; the engine decides whose turn it is and appends the outcome.
type Runner struct {
	Retry backoff.Policy
	// MaxTries and TryTimeouts override Retry per step (infrastructure runs
	// take minutes).
	MaxTries    map[string]int
	TryTimeouts map[string]time.Duration
	// Personal opens the tenant's sealed contacts, so that a back end's
	// error that quotes a person (an SMTP server's "<ada@x>: rejected",
	// Keycloak's "user ada@x exists") is recorded without them (nil: the
	// contacts are not sealed).
	Personal pii.Opener
	Logger   *slog.Logger
}

// policy is the step's tries; an error marked Permanent ends them.
func (r Runner) policy(name string) backoff.Policy {
	p := r.Retry
	p.Stop = IsPermanent
	if n, ok := r.MaxTries[name]; ok {
		p.MaxTries = n
	}
	if d, ok := r.TryTimeouts[name]; ok {
		p.TryTimeout = d
	}
	return p
}

// Turn is what the log records of a step's turn: the events decide returns
// on the tenant (folded again after a concurrent append), with ids derived
// from Key, so that a turn recorded twice is recorded once.
type Turn struct {
	Key    string
	Decide func(*domain.Tenant) ([]domain.Event, error)
}

// Do runs a's Do for t, the step's turn: its outcome, or what its
// Result.Record decides instead; a cancelled attempt fails the step without
// running it. The error is ctx's alone (shutting down: the step runs again
// after redelivery); the step's own failure is in the outcome.
func (r Runner) Do(ctx context.Context, name string, a Action, t *domain.Tenant) (Turn, error) {
	key := t.DoKey(name)
	if t.CancelRequested() {
		now := time.Now().UTC()
		out := domain.StepOutcome{Step: name, Outcome: domain.OutcomeFailed, Error: domain.ReasonCancelled, StartedAt: now, At: now}
		return Turn{key, func(t *domain.Tenant) ([]domain.Event, error) { return t.RecordStep(out) }}, nil
	}
	out, res, err := r.run(ctx, name, a, t)
	if err != nil {
		return Turn{}, err
	}
	if res.Record != nil && out.Outcome != domain.OutcomeFailed {
		return Turn{cmp.Or(res.RecordKey, key), func(t *domain.Tenant) ([]domain.Event, error) { return res.Record(t, out) }}, nil
	}
	// Counted here, where the outcome is the step's own: an activation or a
	// deployment request (Result.Record) is not yet the step's outcome.
	metrics.StepOutcomes.WithLabelValues(name, out.Outcome).Inc()
	metrics.StepDuration.WithLabelValues(name).Observe(out.At.Sub(out.StartedAt).Seconds())
	metrics.StepRetries.WithLabelValues(name).Add(float64(max(out.Tries-1, 0)))
	return Turn{key, func(t *domain.Tenant) ([]domain.Event, error) { return t.RecordStep(out) }}, nil
}

// Notify runs the notify step's action once t's attempt has ended:
// tenant.notify.<outcome>.
func (r Runner) Notify(ctx context.Context, a Action, t *domain.Tenant) (Turn, error) {
	out, _, err := r.run(ctx, domain.StepNotify, a, t)
	if err != nil {
		return Turn{}, err
	}
	key := fmt.Sprintf("%s/%d/notify", t.ID(), t.Attempt())
	return Turn{key, func(t *domain.Tenant) ([]domain.Event, error) { return t.RecordNotification(out) }}, nil
}

// run runs a's Do with the step's tries: completed, skipped (saying why) or
// failed (the error without the tenant's people).
func (r Runner) run(ctx context.Context, name string, a Action, t *domain.Tenant) (domain.StepOutcome, Result, error) {
	out := domain.StepOutcome{Step: name, Outcome: domain.OutcomeCompleted, StartedAt: time.Now().UTC()}
	res, tries, err := r.try(ctx, name, func(ctx context.Context) (Result, error) { return a.Do(ctx, t) })
	if ctx.Err() != nil {
		return out, res, ctx.Err()
	}
	if _, none := As[NotConfigured](a); none {
		tries = 0 // no back end was tried (a fault may still fail the step): it made nothing
	}
	out.Tries, out.Resources, out.Outputs = tries, res.Resources, res.Outputs
	out.PlatformHost, out.CustomDomains = res.PlatformHost, res.CustomDomains
	switch {
	case err != nil:
		out.Outcome, out.Error = domain.OutcomeFailed, pii.WithoutPersonalData(ctx, r.Personal, t, err.Error())
		r.Logger.Warn("step failed", "tenant_id", t.ID(), "step", name, "tries", tries, "error", err, "trace_id", telemetry.TraceID(ctx))
	case res.Skipped:
		out.Outcome, out.Error = domain.OutcomeSkipped, res.Reason // said in the tenant's record, not only in a log line
	}
	out.At = time.Now().UTC()
	return out, res, nil
}

// try calls f with step name's tries: its last result, how many tries it
// made, and its last error.
func (r Runner) try(ctx context.Context, name string, f func(ctx context.Context) (Result, error)) (Result, int, error) {
	var res Result
	tries, err := r.policy(name).Run(ctx, func(ctx context.Context) error {
		var err error
		res, err = f(ctx)
		return err
	})
	return res, tries, err
}

// Undo runs a's Undo for t, the step's turn in the undo chain: compensated,
// or compensation_failed and what was left behind; an UndoRecorder records
// a request instead, whose outcome comes later. The error is ctx's alone.
func (r Runner) Undo(ctx context.Context, name string, a Action, t *domain.Tenant) (Turn, error) {
	out := domain.StepOutcome{Step: name, Outcome: domain.OutcomeCompensated, Tries: 1, StartedAt: time.Now().UTC()}
	if ur, ok := As[UndoRecorder](a); ok {
		out.Outcome, out.At = "", out.StartedAt
		return Turn{t.UndoKey(name) + "/request", func(t *domain.Tenant) ([]domain.Event, error) { return ur.RecordUndo(t, out) }}, nil
	}
	tries, err := r.policy(name).Run(ctx, func(ctx context.Context) error { return a.Undo(ctx, t) })
	if ctx.Err() != nil {
		return Turn{}, ctx.Err()
	}
	out.Tries, out.At = tries, time.Now().UTC()
	if err != nil {
		out.Outcome, out.Error = domain.OutcomeCompensationFailed, pii.WithoutPersonalData(ctx, r.Personal, t, err.Error())
		r.Logger.Error("undo failed: resource left behind", "tenant_id", t.ID(), "step", name, "tries", tries, "error", err, "trace_id", telemetry.TraceID(ctx))
	}
	metrics.Compensations.WithLabelValues(name, out.Outcome).Inc()
	return Turn{t.UndoKey(name), func(t *domain.Tenant) ([]domain.Event, error) { return t.RecordUndo(out) }}, nil
}

// Reconcile follows a domain change of an ACTIVE tenant (update, made for
// the domains previous): each completed step whose action is a Reconciler
// reconciles, with the step's tries, and one tenant.domains.reconciled
// records every step's result, a failure saying why. Nothing else runs
// again. The error is ctx's alone.
func (r Runner) Reconcile(ctx context.Context, actions map[string]Action, t *domain.Tenant, update int64, previous []string) (Turn, error) {
	var steps []domain.Reconciled
	for _, st := range t.StepStates() {
		rec, ok := As[Reconciler](actions[st.Step])
		if !ok || st.State != domain.OutcomeCompleted {
			continue
		}
		res, _, err := r.try(ctx, st.Step, func(ctx context.Context) (Result, error) { return rec.Reconcile(ctx, t, previous) })
		if ctx.Err() != nil {
			return Turn{}, ctx.Err()
		}
		done := domain.Reconciled{Step: st.Step, Resources: res.Resources, PlatformHost: res.PlatformHost, CustomDomains: res.CustomDomains}
		if err != nil {
			done = domain.Reconciled{Step: st.Step, Error: err.Error()}
			r.Logger.Error("domain reconciliation failed", "tenant_id", t.ID(), "step", st.Step, "error", err)
		}
		steps = append(steps, done)
	}
	return Turn{fmt.Sprintf("%s/reconcile/%d", t.ID(), update), func(t *domain.Tenant) ([]domain.Event, error) {
		return t.RecordReconciled(update, steps, time.Now())
	}}, nil
}
