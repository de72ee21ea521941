package domain

import (
	"encoding/json"
	"errors"
	"testing"
)

func largerPlan() Plan {
	p := validSubscription().Plan
	p.ID, p.Name, p.Price, p.Size, p.SizeConfig = "plan-2", "Larger", 20, "LARGE", json.RawMessage(`{"maxUsers":100}`)
	return p
}

// A plan change within the tier runs billing, infrastructure and the
// application plane in order with the new plan as their target; the
// subscription has the new plan once it completes, and the tenant stays
// ACTIVE throughout. Another tier's plan, the same plan, or a tenant that
// is not ACTIVE is refused and changes nothing.
func TestPlanChangeWithinTheTier(t *testing.T) {
	tn := active(t)
	other := largerPlan()
	other.Tier = "silo"
	if _, err := tn.RequestPlanChange(other, DefaultTiers, "", SourceOperator, now); !errors.Is(err, ErrTierChange) {
		t.Fatalf("another tier's plan: %v", err)
	}
	if _, err := tn.RequestPlanChange(validSubscription().Plan, DefaultTiers, "", SourceOperator, now); !errors.Is(err, ErrSamePlan) {
		t.Fatalf("the same plan: %v", err)
	}
	bad := largerPlan()
	bad.Price = -1
	var ve *ValidationError
	if _, err := tn.RequestPlanChange(bad, DefaultTiers, "", SourceOperator, now); !errors.As(err, &ve) {
		t.Fatalf("an invalid plan: %v", err)
	}
	if tn.changeRunning() {
		t.Fatal("a refused plan change started a change")
	}

	evs, err := tn.RequestPlanChange(largerPlan(), DefaultTiers, "", SourceOperator, now)
	if err != nil || len(evs) != 1 || evs[0].(ChangeRequested).Plan == nil || evs[0].(ChangeRequested).Plan.Size != "LARGE" {
		t.Fatalf("plan change: %v %v", evs, err)
	}
	for _, want := range []string{StepPlanBilling, StepPlanInfra, StepPlanApp} {
		if next, _ := tn.NextStep(); next != want || tn.Status() != StatusActive {
			t.Fatalf("next %q, status %s; want %s while ACTIVE", next, tn.Status(), want)
		}
		if target, ok := tn.PlanChangeTarget(); !ok || target.ID != "plan-2" {
			t.Fatalf("target %+v %v", target, ok)
		}
		if sub, _ := tn.Subscription(); sub.Plan.ID != "plan-1" {
			t.Fatalf("the subscription moved before the change completed: %s", sub.Plan.ID)
		}
		record(t, tn, want, OutcomeCompleted)
	}
	if sub, _ := tn.Subscription(); sub.Plan.ID != "plan-2" || sub.PlanID != "plan-2" || sub.Plan.Size != "LARGE" || tn.Status() != StatusActive {
		t.Fatalf("after the change: %+v, status %s", sub.Plan, tn.Status())
	}
	if _, ok := tn.PlanChangeTarget(); ok {
		t.Fatal("a completed plan change still has a target")
	}

	// The request as stored names the new plan.
	raw, _ := json.Marshal(evs[0])
	stored, err := Decode(TypeChangeRequested, raw)
	if err != nil || stored.(*ChangeRequested).Plan == nil || stored.(*ChangeRequested).Plan.ID != "plan-2" {
		t.Fatalf("stored request %s: %v", raw, err)
	}
}

// A plan change whose infrastructure step fails is undone, newest first —
// the failed step too, then billing — and the tenant keeps its plan,
// ACTIVE.
func TestPlanChangeRollsBack(t *testing.T) {
	tn := active(t)
	if _, err := tn.RequestPlanChange(largerPlan(), DefaultTiers, "", SourceOperator, now); err != nil {
		t.Fatal(err)
	}
	record(t, tn, StepPlanBilling, OutcomeCompleted)
	record(t, tn, StepPlanInfra, OutcomeFailed)
	if _, err := tn.Fail(); err != nil {
		t.Fatal(err)
	}
	var undone []string
	for s, ok := tn.NextUndo(); ok; s, ok = tn.NextUndo() {
		if _, ok := tn.PlanChangeTarget(); !ok {
			t.Fatal("the undos do not know the target they undo")
		}
		undone = append(undone, s)
		if _, err := tn.RecordUndo(StepOutcome{Step: s, Outcome: OutcomeCompensated}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tn.FinishUndo(); err != nil {
		t.Fatal(err)
	}
	if len(undone) != 2 || undone[0] != StepPlanInfra || undone[1] != StepPlanBilling {
		t.Fatalf("undone %v, want plan_infra then plan_billing", undone)
	}
	c, _ := tn.LastChange()
	if sub, _ := tn.Subscription(); sub.Plan.ID != "plan-1" || tn.Status() != StatusActive || c.State != "rolled_back" {
		t.Fatalf("after the rollback: plan %s, status %s, change %s", sub.Plan.ID, tn.Status(), c.State)
	}
}

// A plan change waits for billing after activation: before its outcome,
// the subscription it would move may not exist.
func TestPlanChangeWaitsForBilling(t *testing.T) {
	tn := provisioning(t)
	completeSteps(t, tn, StepActivate)
	if _, err := tn.Activate(); err != nil {
		t.Fatal(err)
	}
	if _, err := tn.RequestPlanChange(largerPlan(), DefaultTiers, "", SourceOperator, now); !errors.Is(err, ErrActivationSettling) {
		t.Fatalf("before billing's outcome: %v", err)
	}
	record(t, tn, StepBilling, OutcomeFailed) // billing gave up: nothing to move, the change may run
	if _, err := tn.RequestPlanChange(largerPlan(), DefaultTiers, "", SourceOperator, now); err != nil {
		t.Fatalf("after billing's outcome: %v", err)
	}
}
