package handlers

import (
	"context"
	"fmt"
	"time"

	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
)

// notifyHandler sends the welcome mail after activation and the failure
// notice after a rollback: step 11, recorded as tenant.notify.<outcome>.
func (e *engine) notifyHandler() handler {
	notify, _ := domain.FlowOf(domain.StepNotify)
	return handler{
		name:     "step." + domain.StepNotify,
		triggers: func(t string) bool { return domain.Triggers(notify.TriggeredBy, t) },
		run: func(ctx context.Context, tenantID string, md eventstore.Metadata) error {
			t, err := e.tenants.Get(ctx, tenantID)
			if err != nil || !t.NotificationDue() {
				return err
			}
			started := time.Now().UTC()
			outcome := domain.StepOutcome{Step: domain.StepNotify, Outcome: domain.OutcomeSkipped, StartedAt: started}
			if e.cfg.Notifier != nil {
				tries, err := e.retryFor(domain.StepNotify).Run(ctx, func(ctx context.Context) error {
					if t.Status() == domain.StatusActive {
						return e.cfg.Notifier.Welcome(ctx, t)
					}
					return e.cfg.Notifier.Failure(ctx, t)
				})
				if ctx.Err() != nil {
					return ctx.Err()
				}
				outcome.Outcome, outcome.Tries = domain.OutcomeCompleted, tries
				if err != nil {
					outcome.Outcome, outcome.Error = domain.OutcomeFailed, e.withoutPersonalData(ctx, t, err.Error())
				}
			}
			outcome.At = time.Now().UTC()
			return e.record(ctx, t, md, fmt.Sprintf("%s/%d/notify", tenantID, t.Attempt()),
				func(t *domain.Tenant) ([]domain.Event, error) { return t.RecordNotification(outcome) })
		},
	}
}
