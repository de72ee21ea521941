package handlers

import (
	"context"
	"time"

	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/handlers/step"
	"github.com/tenantflow/tenantflow/platform/metrics"
	"github.com/tenantflow/tenantflow/platform/pii"
	"github.com/tenantflow/tenantflow/platform/telemetry"
)

// stepHandler runs one step, and its undo when compensation or
// deprovisioning reaches it.
func (e *engine) stepHandler(row domain.FlowStep) handler {
	name := row.Step
	action := e.cfg.Actions[name]
	// A step without an action still answers its turn in the undo chain: a
	// cancellation can fail it, and the chain must go on past it.
	return handler{
		name: "step." + name,
		step: name,
		triggers: func(t string) bool {
			return domain.Triggers(row.TriggeredBy, t) || (row.Undo && domain.Triggers(domain.UndoTriggers, t))
		},
		run: func(ctx context.Context, tenantID string, md eventstore.Metadata) error {
			t, err := e.tenants.Get(ctx, tenantID)
			if err != nil {
				return err
			}
			if next, ok := t.NextStep(); ok && next == name {
				return e.do(ctx, t, name, action, md)
			}
			if next, ok := t.NextUndo(); ok && next == name {
				return e.undo(ctx, t, name, action, md)
			}
			return nil
		},
	}
}

// retryFor is the policy of step name's tries: Config.Retry with the
// step's own bounds; an error marked step.Permanent ends them.
func (e *engine) retryFor(name string) Retry {
	r := e.cfg.Retry
	r.Stop = step.IsPermanent
	if n, ok := e.cfg.MaxTries[name]; ok {
		r.MaxTries = n
	}
	if d, ok := e.cfg.TryTimeouts[name]; ok {
		r.TryTimeout = d
	}
	return r
}

// do runs the step and records its one outcome.
func (e *engine) do(ctx context.Context, t *domain.Tenant, name string, action step.Action, md eventstore.Metadata) error {
	key := domain.StepKey(t.ID(), t.Attempt(), name)
	outcome := domain.StepOutcome{Step: name, StartedAt: time.Now().UTC()}
	if t.CancelRequested() {
		outcome.Outcome, outcome.Error, outcome.At = domain.OutcomeFailed, domain.ReasonCancelled, time.Now().UTC()
		return e.record(ctx, t, md, key, func(t *domain.Tenant) ([]domain.Event, error) { return t.RecordStep(outcome) })
	}
	var res step.Result
	tries, err := e.retryFor(name).Run(ctx, func(ctx context.Context) error {
		var err error
		res, err = action.Do(ctx, t)
		return err
	})
	if ctx.Err() != nil {
		return ctx.Err() // shutting down: the step runs again after redelivery
	}
	if _, none := step.As[step.NotConfigured](action); none {
		tries = 0 // no back end was tried (a fault may still fail the step): it made nothing
	}
	outcome.Tries, outcome.Resources, outcome.Outputs = tries, res.Resources, res.Outputs
	outcome.PlatformHost, outcome.CustomDomains = res.PlatformHost, res.CustomDomains
	switch {
	case err != nil:
		outcome.Outcome, outcome.Error = domain.OutcomeFailed, e.withoutPersonalData(ctx, t, err.Error())
		e.cfg.Logger.Warn("step failed", "tenant_id", t.ID(), "step", name, "tries", tries, "error", err, "trace_id", telemetry.TraceID(ctx))
	case res.Record != nil:
		if res.RecordKey != "" {
			key = res.RecordKey
		}
		outcome.Outcome, outcome.At = domain.OutcomeCompleted, time.Now().UTC()
		return e.record(ctx, t, md, key, func(t *domain.Tenant) ([]domain.Event, error) { return res.Record(t, outcome) })
	case res.Skipped:
		outcome.Outcome, outcome.Error = domain.OutcomeSkipped, res.Reason // said in the tenant's record, not only in a log line
	default:
		outcome.Outcome = domain.OutcomeCompleted
	}
	outcome.At = time.Now().UTC()
	err = e.record(ctx, t, md, key, func(t *domain.Tenant) ([]domain.Event, error) { return t.RecordStep(outcome) })
	if err == nil {
		metrics.StepOutcomes.WithLabelValues(name, outcome.Outcome).Inc()
		metrics.StepDuration.WithLabelValues(name).Observe(outcome.At.Sub(outcome.StartedAt).Seconds())
		metrics.StepRetries.WithLabelValues(name).Add(float64(max(tries-1, 0)))
	}
	return err
}

// undo runs the step's undo and records compensated or compensation_failed.
func (e *engine) undo(ctx context.Context, t *domain.Tenant, name string, action step.Action, md eventstore.Metadata) error {
	started := time.Now().UTC()
	if ur, ok := step.As[step.UndoRecorder](action); ok {
		outcome := domain.StepOutcome{Step: name, Tries: 1, StartedAt: started, At: started}
		return e.record(ctx, t, md, t.UndoKey(name)+"/request", func(t *domain.Tenant) ([]domain.Event, error) {
			return ur.RecordUndo(t, outcome)
		})
	}
	tries, err := e.retryFor(name).Run(ctx, func(ctx context.Context) error { return action.Undo(ctx, t) })
	if ctx.Err() != nil {
		return ctx.Err()
	}
	outcome := domain.StepOutcome{Step: name, Outcome: domain.OutcomeCompensated, Tries: tries, StartedAt: started, At: time.Now().UTC()}
	if err != nil {
		outcome.Outcome, outcome.Error = domain.OutcomeCompensationFailed, e.withoutPersonalData(ctx, t, err.Error())
		e.cfg.Logger.Error("undo failed: resource left behind", "tenant_id", t.ID(), "step", name, "tries", tries, "error", err, "trace_id", telemetry.TraceID(ctx))
	}
	err = e.record(ctx, t, md, t.UndoKey(name), func(t *domain.Tenant) ([]domain.Event, error) { return t.RecordUndo(outcome) })
	if err == nil {
		metrics.Compensations.WithLabelValues(name, outcome.Outcome).Inc()
	}
	return err
}

// NotConfigured is the reason a step skipped for want of a back end gives
// in its outcome.
const NotConfigured = step.NotConfiguredReason

// withoutPersonalData is text (a back end's error) without the tenant's
// people in it (pii.WithoutPersonalData).
func (e *engine) withoutPersonalData(ctx context.Context, t *domain.Tenant, text string) string {
	return pii.WithoutPersonalData(ctx, e.cfg.Personal, t, text)
}
