// Package platform holds the steps every installation runs the same way:
// resources (the record of what the steps made) and activate.
package platform

import (
	"context"
	"time"

	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/handlers/step"
)

// Resources is the resources step: its outcome event is the record of every
// resource the steps before it made.
type Resources struct{}

func (Resources) Do(_ context.Context, t *domain.Tenant) (step.Result, error) {
	return step.Result{Resources: t.Resources()}, nil
}

func (Resources) Undo(context.Context, *domain.Tenant) error { return nil }

// Activate is the activate step: it records tenant.activated (ACTIVE)
// instead of an outcome, unless a cancellation came first.
type Activate struct{}

func (Activate) Do(context.Context, *domain.Tenant) (step.Result, error) {
	return step.Result{Record: func(t *domain.Tenant, outcome domain.StepOutcome) ([]domain.Event, error) {
		if t.CancelRequested() {
			outcome.Outcome, outcome.Error, outcome.At = domain.OutcomeFailed, domain.ReasonCancelled, time.Now().UTC()
			return t.RecordStep(outcome)
		}
		return t.Activate()
	}}, nil
}

func (Activate) Undo(context.Context, *domain.Tenant) error { return nil }

// With returns actions with the steps every installation runs the same way
// (resources, activate) filled in where actions names none, so the engine
// itself names no step.
func With(actions map[string]step.Action) map[string]step.Action {
	out := map[string]step.Action{domain.StepResources: Resources{}, domain.StepActivate: Activate{}}
	for name, a := range actions {
		out[name] = a
	}
	return out
}
