package handlers

import (
	"context"
	"fmt"
	"time"

	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/handlers/step"
)

// notifyHandler runs the notify step's action (notify.Step: the welcome mail
// after activation, the failure notice after a rollback) once the attempt
// has ended: step 11, recorded as tenant.notify.<outcome>.
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
			action := e.cfg.Actions[domain.StepNotify]
			outcome := domain.StepOutcome{Step: domain.StepNotify, StartedAt: time.Now().UTC()}
			var res step.Result
			tries, err := e.retryFor(domain.StepNotify).Run(ctx, func(ctx context.Context) error {
				var err error
				res, err = action.Do(ctx, t)
				return err
			})
			if ctx.Err() != nil {
				return ctx.Err()
			}
			outcome.Outcome, outcome.Tries = domain.OutcomeCompleted, tries
			switch {
			case err != nil:
				outcome.Outcome, outcome.Error = domain.OutcomeFailed, e.withoutPersonalData(ctx, t, err.Error())
			case res.Skipped:
				outcome.Outcome, outcome.Error, outcome.Tries = domain.OutcomeSkipped, res.Reason, 0
			}
			outcome.At = time.Now().UTC()
			return e.record(ctx, t, md, fmt.Sprintf("%s/%d/notify", tenantID, t.Attempt()),
				func(t *domain.Tenant) ([]domain.Event, error) { return t.RecordNotification(outcome) })
		},
	}
}
