package domain

import (
	"errors"
	"time"
)

// ChangePlan is a plan change of a live tenant within its tier: the
// billing subscription moves to the new plan's price, and the new plan's
// size and size configuration are applied again to the tenant's
// infrastructure (OpenTofu) and application plane — each a step of the
// change (rows of Flow with Change ChangePlan), each undone, newest first,
// when a later one fails. The tenant stays ACTIVE and serving throughout;
// the new plan is the subscription's once the change completes.
const ChangePlan = "plan"

// The plan change's steps.
const (
	StepPlanBilling = "plan_billing"
	StepPlanInfra   = "plan_infra"
	StepPlanApp     = "plan_app"
)

// ErrTierChange refuses a plan change to another tier's plan.
var ErrTierChange = errors.New("the plan is of another tier than the tenant's: a plan change stays within the tier (moving a live tenant between tiers is not offered)")

// ErrSamePlan refuses a plan change to the plan the tenant is on.
var ErrSamePlan = errors.New("the tenant is on this plan already")

// ErrActivationSettling refuses a plan change while the steps that follow
// activation (billing) have not recorded their outcome: the billing
// subscription a plan change moves may not exist yet.
var ErrActivationSettling = errors.New("the tenant's billing after activation has not finished: change the plan once it has")

// RequestPlanChange starts a change of the ACTIVE tenant's plan to plan
// (from the catalogue or the request), within the tenant's tier, asked by
// source (SourceOperator).
func (t *Tenant) RequestPlanChange(plan Plan, tiers Tiers, reason, source string, now time.Time) ([]Event, error) {
	p := problems{}
	plan = checkPlan(p, "plan.", plan, tiers)
	if err := p.err(); err != nil {
		return nil, err
	}
	sub, ok := t.Subscription()
	switch {
	case !ok || t.status != StatusActive:
		return nil, &TransitionError{TenantID: t.id, From: t.status, To: StatusActive}
	case plan.Tier != sub.Plan.Tier:
		return nil, ErrTierChange
	case plan.ID == sub.Plan.ID:
		return nil, ErrSamePlan
	}
	for _, s := range ActiveSteps {
		if st := t.steps[s]; st == nil || st.State == "" {
			return nil, ErrActivationSettling
		}
	}
	if reason == "" {
		reason = "plan " + sub.Plan.ID + " → " + plan.ID
	}
	events, err := t.RequestChange(ChangePlan, reason, source, now)
	if err != nil {
		return nil, err
	}
	// The request carries the new plan: the steps apply it, the undos the
	// plan in effect.
	req := events[0].(ChangeRequested)
	req.Plan = &plan
	t.change.plan = &plan
	return []Event{req}, nil
}

// PlanChangeTarget is the plan the running (or rolling back) plan change
// moves to; the plan in effect until it completes is the subscription's.
func (t *Tenant) PlanChangeTarget() (Plan, bool) {
	if t.change == nil || t.change.over || t.change.kind != ChangePlan || t.change.plan == nil {
		return Plan{}, false
	}
	return *t.change.plan, true
}

// WithPlan is a copy of t whose subscription's plan is p: what a step
// applies for the plan change's target.
func (t *Tenant) WithPlan(p Plan) *Tenant {
	c := *t
	if t.subscription != nil {
		sub := *t.subscription
		sub.Plan, sub.PlanID = p, p.ID
		c.subscription = &sub
	}
	return &c
}
