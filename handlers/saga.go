package handlers

import (
	"context"

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
			if key, due := t.FailureDue(); due { // a provisioning attempt's step, or a change's
				return e.record(ctx, t, md)(step.Turn{Key: key,
					Decide: func(t *domain.Tenant) ([]domain.Event, error) { return t.Fail() }}, nil)
			}
			if _, pending := t.NextUndo(); t.Undoing() && !pending {
				return e.record(ctx, t, md)(step.Turn{Key: t.FinishUndoKey(),
					Decide: func(t *domain.Tenant) ([]domain.Event, error) { return t.FinishUndo() }}, nil)
			}
			return nil
		},
	}
}
