package handlers

import (
	"context"
	"fmt"

	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
)

// sagaHandler turns a failed step into provisioning.failed, and ends the
// undo chain (rolled back, or deactivated) when nothing is left to undo.
func (e *engine) sagaHandler() handler {
	return handler{
		name:     "saga",
		triggers: func(t string) bool { return domain.Triggers(domain.SagaTriggers, t) },
		run: func(ctx context.Context, tenantID string, md eventstore.Metadata) error {
			t, err := e.tenants.Get(ctx, tenantID)
			if err != nil {
				return err
			}
			if _, _, failed := t.FailedStep(); failed && t.Status() == domain.StatusProvisioning && !t.Undoing() {
				return e.record(ctx, t, md, fmt.Sprintf("%s/%d/failed", tenantID, t.Attempt()),
					func(t *domain.Tenant) ([]domain.Event, error) { return t.FailProvisioning() })
			}
			if _, pending := t.NextUndo(); t.Undoing() && !pending {
				phase := "rolled-back"
				switch {
				case t.UndoRound() > 0 && t.Status() != domain.StatusProvisioning:
					phase = fmt.Sprintf("undos-retried/r%d", t.UndoRound()) // or deactivated after them
					if t.Status() == domain.StatusDeprovisioning {
						phase += "/deactivated"
					}
				case t.Status() == domain.StatusDeprovisioning:
					phase = "deactivated"
				}
				return e.record(ctx, t, md, fmt.Sprintf("%s/%d/%s", tenantID, t.Attempt(), phase),
					func(t *domain.Tenant) ([]domain.Event, error) { return t.FinishUndo() })
			}
			return nil
		},
	}
}
