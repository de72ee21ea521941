package handlers

import (
	"context"
	"fmt"

	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/handlers/step"
)

// sagaHandler turns a failed step into provisioning.failed, and ends the
// undo chain (rolled back, or deactivated) when nothing is left to undo.
func (e *engine) sagaHandler() handler {
	return handler{
		name:     "saga",
		triggers: func(t string) bool { return domain.Triggers(domain.SagaTriggers, t) },
		run: func(ctx context.Context, t *domain.Tenant, md eventstore.Metadata) error {
			if _, _, failed := t.FailedStep(); failed && t.Status() == domain.StatusProvisioning && !t.Undoing() {
				return e.record(ctx, t, md)(step.Turn{Key: fmt.Sprintf("%s/%d/failed", t.ID(), t.Attempt()),
					Decide: func(t *domain.Tenant) ([]domain.Event, error) { return t.FailProvisioning() }}, nil)
			}
			if _, pending := t.NextUndo(); t.Undoing() && !pending {
				return e.record(ctx, t, md)(step.Turn{Key: t.FinishUndoKey(),
					Decide: func(t *domain.Tenant) ([]domain.Event, error) { return t.FinishUndo() }}, nil)
			}
			return nil
		},
	}
}
