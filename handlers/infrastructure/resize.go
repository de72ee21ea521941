package infrastructure

import (
	"context"
	"fmt"

	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/handlers/step"
)

// Resize is the plan change's infrastructure step (domain.StepPlanInfra):
// the tenant's module applied again with the new plan's size and size
// configuration (variables size and size_config), in the tenant's own
// state; its undo applies it again with the plan in effect. A tenant the
// infrastructure step made nothing for (pooled: shared infrastructure) has
// nothing to resize. The state stays the infrastructure step's resource:
// deprovisioning destroys it as before.
type Resize struct {
	Infrastructure
}

func (r Resize) Do(ctx context.Context, t *domain.Tenant) (step.Result, error) {
	target, ok := t.PlanChangeTarget()
	if !ok {
		return step.Result{}, step.Permanent(fmt.Errorf("tenant %s has no plan change running", t.ID()))
	}
	if _, applied := r.appliedModule(t); !applied {
		return step.Result{Skipped: true, Reason: "the tenant has no infrastructure of its own"}, nil
	}
	res, err := r.Infrastructure.Do(ctx, t.WithPlan(target))
	return step.Result{Skipped: res.Skipped, Outputs: res.Outputs}, err
}

func (r Resize) Undo(ctx context.Context, t *domain.Tenant) error {
	if _, applied := r.appliedModule(t); !applied {
		return nil
	}
	_, err := r.Infrastructure.Do(ctx, t)
	return err
}
