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

// With is actions with the steps every installation runs the same way
// (resources, activate) filled in where actions names none, and
// step.NotConfigured for every other step it lacks, so the engine itself
// names no step.
func With(actions map[string]step.Action) map[string]step.Action {
	out := map[string]step.Action{domain.StepResources: Resources{}, domain.StepActivate: Activate{}}
	for _, name := range domain.AllSteps {
		if out[name] == nil {
			out[name] = step.NotConfigured{Step: name}
		}
	}
	for name, a := range actions {
		if a != nil {
			out[name] = a
		}
	}
	return out
}

// Actions is every step's action as the engine runs it, built where the
// process is composed: With(given), each in its tracing span and behind
// wrap (fault injection, faults.Injector.Wrap; nil: none).
func Actions(given map[string]step.Action, wrap func(name string, a step.Action) step.Action) map[string]step.Action {
	all := With(given)
	for name, a := range all {
		if wrap != nil {
			a = wrap(name, a)
		}
		all[name] = step.Traced(name, a)
	}
	return all
}
