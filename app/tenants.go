package app

import (
	"context"
	"time"

	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
)

// The tenant commands of the REST API and the operators' tooling: each one
// folds the tenant, runs the domain command and appends at the loaded
// version. A concurrent change is an *eventstore.ConcurrencyError (409):
// the caller decides whether to try again, as it asked for this change on
// what it saw.

// Provision asks for a tenant's provisioning under sub (a new attempt after
// PROVISION_FAILED); tiers is the operator's plan catalogue.
func Provision(ctx context.Context, tenants Repository[*domain.Tenant], id string, sub domain.Subscription, tiers domain.Tiers, md eventstore.Metadata) (*domain.Tenant, error) {
	return tenants.Update(ctx, id, md, func(t *domain.Tenant) ([]domain.Event, error) { return t.RequestProvisioning(sub, tiers) })
}

// RequestChange starts a change of the live tenant (domain.ChangeSuspend,
// domain.ChangeReactivate) for reason, asked by source.
func RequestChange(ctx context.Context, tenants Repository[*domain.Tenant], id, kind, reason, source string, md eventstore.Metadata) (*domain.Tenant, error) {
	return tenants.Update(ctx, id, md, func(t *domain.Tenant) ([]domain.Event, error) {
		return t.RequestChange(kind, reason, source, time.Now())
	})
}

// ChangePlan starts a change of the ACTIVE tenant's plan, within its
// tier: planID names the catalogue's plan, or plan is sent whole (as a
// subscription's). An unknown plan id is a validation error of planId; an
// archived plan is domain.ErrPlanArchived.
func (s *Service) ChangePlan(ctx context.Context, id, planID string, plan *domain.Plan, tiers domain.Tiers, reason string, md eventstore.Metadata) (*domain.Tenant, error) {
	sub := domain.Subscription{PlanID: planID}
	if plan != nil {
		sub.Plan = *plan
	}
	sub, err := s.SubscriptionPlan(ctx, sub)
	if err != nil {
		return nil, err
	}
	if sub.Plan.ID == "" {
		return nil, &domain.ValidationError{Fields: map[string]string{"planId": "is required (or send the plan)"}}
	}
	return s.Tenants.UpdateRetried(ctx, id, md, func(t *domain.Tenant) ([]domain.Event, error) {
		return t.RequestPlanChange(sub.Plan, tiers, reason, domain.SourceOperator, time.Now())
	})
}

// ActOnBilling applies the billing provider's verified notice n to the
// tenant it names (domain.Tenant.ActOnBilling): the change it started
// (domain.ChangeSuspend or ChangeReactivate), or "" when it asked for none.
func ActOnBilling(ctx context.Context, tenants Repository[*domain.Tenant], n domain.BillingNotice, md eventstore.Metadata) (change string, err error) {
	_, err = tenants.UpdateRetried(ctx, n.TenantID, md, func(t *domain.Tenant) ([]domain.Event, error) {
		evs, err := t.ActOnBilling(n, time.Now())
		change = ""
		for _, e := range evs {
			if r, ok := e.(domain.ChangeRequested); ok {
				change = r.Change
			}
		}
		return evs, err
	})
	return change, err
}

// Cancel stops the running attempt at its next step; what it made is undone.
func Cancel(ctx context.Context, tenants Repository[*domain.Tenant], id string, md eventstore.Metadata) (*domain.Tenant, error) {
	return tenants.Update(ctx, id, md, func(t *domain.Tenant) ([]domain.Event, error) { return t.RequestCancel() })
}

// Offboard is DELETE: a live tenant is suspended and kept for retention,
// then purged (domain.Tenant.RequestOffboarding); with no retention, or a
// tenant that is not live, everything the steps made is undone at once,
// newest first, and the tenant ends INACTIVE, keeping its key.
func Offboard(ctx context.Context, tenants Repository[*domain.Tenant], id, reason string, retention time.Duration, md eventstore.Metadata) (*domain.Tenant, error) {
	return tenants.UpdateRetried(ctx, id, md, func(t *domain.Tenant) ([]domain.Event, error) {
		return t.RequestOffboarding(reason, retention, time.Now())
	})
}

// Restore brings back a tenant kept for its retention period after a
// DELETE (domain.Tenant.Restore).
func Restore(ctx context.Context, tenants Repository[*domain.Tenant], id, reason string, md eventstore.Metadata) (*domain.Tenant, error) {
	return tenants.UpdateRetried(ctx, id, md, func(t *domain.Tenant) ([]domain.Event, error) { return t.Restore(reason, time.Now()) })
}

// ForgetOrphan records that an operator dealt with a resource an undo left
// behind (step/kind/resourceID), and why.
func ForgetOrphan(ctx context.Context, tenants Repository[*domain.Tenant], id, step, kind, resourceID, reason string, md eventstore.Metadata) (*domain.Tenant, error) {
	return tenants.Update(ctx, id, md, func(t *domain.Tenant) ([]domain.Event, error) {
		return t.ForgetOrphan(step, kind, resourceID, reason, time.Now())
	})
}

// RetryUndos asks the handlers to run the failed undos of a tenant again.
func RetryUndos(ctx context.Context, tenants Repository[*domain.Tenant], id string, md eventstore.Metadata) (*domain.Tenant, error) {
	return tenants.Update(ctx, id, md, func(t *domain.Tenant) ([]domain.Event, error) { return t.RetryUndos(time.Now()) })
}
