package handlers

import (
	"context"
	"time"

	"github.com/tenantflow/tenantflow/domain"
)

// Resources is the resources step: its outcome event is the record of every
// resource the steps before it made.
type Resources struct{}

func (Resources) Do(_ context.Context, t *domain.Tenant) (Result, error) {
	return Result{Resources: t.Resources()}, nil
}

func (Resources) Undo(context.Context, *domain.Tenant) error { return nil }

// Activate is the activate step: it records tenant.activated (ACTIVE)
// instead of an outcome, unless a cancellation came first.
type Activate struct{}

func (Activate) Do(context.Context, *domain.Tenant) (Result, error) {
	return Result{Record: func(t *domain.Tenant, outcome domain.StepOutcome) ([]domain.Event, error) {
		if t.CancelRequested() {
			outcome.Outcome, outcome.Error, outcome.At = domain.OutcomeFailed, domain.ReasonCancelled, time.Now().UTC()
			return t.RecordStep(outcome)
		}
		return t.Activate()
	}}, nil
}

func (Activate) Undo(context.Context, *domain.Tenant) error { return nil }

// withPlatformSteps returns actions with the steps every installation runs
// the same way filled in where the configuration names none: resources,
// activate, and the choreographed deploy when a Deployment is configured.
// The engine itself names no step.
func withPlatformSteps(actions map[string]Action, d *Deployment) map[string]Action {
	out := map[string]Action{domain.StepResources: Resources{}, domain.StepActivate: Activate{}}
	if d != nil {
		out[domain.StepDeploy] = d
	}
	for step, a := range actions {
		out[step] = a
	}
	return out
}
