package handlers

import (
	"context"
	"fmt"
	"time"

	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/handlers/step"
)

// reconcileHandler follows a domain change of an ACTIVE tenant: each
// completed step whose action is a Reconciler reconciles (with the step's
// retries), and one tenant.domains.reconciled records every step's result.
// Nothing else runs again. A step that fails says why in that event; the
// tenant stays ACTIVE, and another PATCH of the domains tries again.
func (e *engine) reconcileHandler() handler {
	return handler{
		name:     "domains",
		triggers: func(t string) bool { return t == domain.TypeTenantUpdated },
		run: func(ctx context.Context, tenantID string, md eventstore.Metadata) error {
			t, err := e.tenants.Get(ctx, tenantID)
			if err != nil {
				return err
			}
			update, previous, due := t.DomainsReconcileDue()
			if !due {
				return nil
			}
			var steps []domain.Reconciled
			for _, st := range t.StepStates() {
				r, ok := step.As[step.Reconciler](e.cfg.Actions[st.Step])
				if !ok || st.State != domain.OutcomeCompleted {
					continue
				}
				var res step.Result
				_, err := e.retryFor(st.Step).Run(ctx, func(ctx context.Context) error {
					var err error
					res, err = r.Reconcile(ctx, t, previous)
					return err
				})
				if ctx.Err() != nil {
					return ctx.Err()
				}
				done := domain.Reconciled{Step: st.Step, Resources: res.Resources, PlatformHost: res.PlatformHost, CustomDomains: res.CustomDomains}
				if err != nil {
					done = domain.Reconciled{Step: st.Step, Error: err.Error()}
					e.cfg.Logger.Error("domain reconciliation failed", "tenant_id", tenantID, "step", st.Step, "error", err)
				}
				steps = append(steps, done)
			}
			return e.record(ctx, t, md, fmt.Sprintf("%s/reconcile/%d", tenantID, update), func(t *domain.Tenant) ([]domain.Event, error) {
				return t.RecordReconciled(update, steps, time.Now())
			})
		},
	}
}
