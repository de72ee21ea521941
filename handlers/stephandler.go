package handlers

import (
	"context"

	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
)

// stepHandler runs one step when it is the tenant's next, and its undo when
// compensation or deprovisioning reaches it. A step without a back end
// still answers its turn in the undo chain: a cancellation can fail it, and
// the chain must go on past it.
func (e *engine) stepHandler(row domain.FlowStep) handler {
	name, action := row.Step, e.cfg.Actions[row.Step]
	return handler{
		name: "step." + name,
		step: name,
		triggers: func(t string) bool {
			return domain.Triggers(row.TriggeredBy, t) || (row.Undo && domain.Triggers(domain.UndoTriggers, t))
		},
		run: func(ctx context.Context, t *domain.Tenant, md eventstore.Metadata) error {
			if next, ok := t.NextStep(); ok && next == name {
				return e.record(ctx, t, md)(e.cfg.Steps.Do(ctx, name, action, t))
			}
			if next, ok := t.NextUndo(); ok && next == name {
				return e.record(ctx, t, md)(e.cfg.Steps.Undo(ctx, name, action, t))
			}
			return nil
		},
	}
}

// notifyHandler runs the notify step's action (notify.Step: the welcome mail
// after activation, the failure notice after a rollback) once the attempt
// has ended. It never undoes anything.
func (e *engine) notifyHandler() handler {
	row, _ := domain.FlowOf(domain.StepNotify)
	return handler{
		name:     "step." + domain.StepNotify,
		triggers: func(t string) bool { return domain.Triggers(row.TriggeredBy, t) },
		run: func(ctx context.Context, t *domain.Tenant, md eventstore.Metadata) error {
			if !t.NotificationReady() {
				return nil
			}
			return e.record(ctx, t, md)(e.cfg.Steps.Notify(ctx, e.cfg.Actions[domain.StepNotify], t))
		},
	}
}

// reconcileHandler follows a domain change of an ACTIVE tenant
// (step.Runner.Reconcile); another PATCH of the domains tries again.
func (e *engine) reconcileHandler() handler {
	return handler{
		name:     "domains",
		triggers: func(t string) bool { return t == domain.TypeTenantUpdated },
		run: func(ctx context.Context, t *domain.Tenant, md eventstore.Metadata) error {
			if update, previous, due := t.DomainsReconcileDue(); due {
				return e.record(ctx, t, md)(e.cfg.Steps.Reconcile(ctx, e.cfg.Actions, t, update, previous))
			}
			return nil
		},
	}
}
