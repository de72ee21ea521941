package domain

import (
	"errors"
	"testing"
)

// active is a tenant provisioned, billed and welcomed: ACTIVE, nothing due.
func active(t *testing.T) *Tenant {
	t.Helper()
	tn := provisioning(t)
	completeSteps(t, tn, StepActivate)
	if _, err := tn.Activate(); err != nil {
		t.Fatal(err)
	}
	if _, err := tn.RecordStep(StepOutcome{Step: StepBilling, Outcome: OutcomeSkipped}); err != nil {
		t.Fatal(err)
	}
	if _, err := tn.RecordNotification(StepOutcome{Step: StepNotify, Outcome: OutcomeCompleted}); err != nil {
		t.Fatal(err)
	}
	return tn
}

func record(t *testing.T, tn *Tenant, step, outcome string) []Event {
	t.Helper()
	evs, err := tn.RecordStep(StepOutcome{Step: step, Outcome: outcome, Error: map[bool]string{true: "refused"}[outcome == OutcomeFailed]})
	if err != nil {
		t.Fatalf("%s %s: %v", step, outcome, err)
	}
	return evs
}

// Suspension runs its steps in order and moves the tenant to SUSPENDED
// with its last step's outcome; reactivation brings it back; each change
// is a round of its own, so their events' keys never meet.
func TestSuspendAndReactivate(t *testing.T) {
	tn := active(t)
	if _, err := tn.RequestChange(ChangeReactivate, "why not", "operator", now); !isTransition(err) {
		t.Fatalf("reactivating an ACTIVE tenant: %v", err)
	}
	var ve *ValidationError
	if _, err := tn.RequestChange(ChangeSuspend, "  ", "operator", now); !errors.As(err, &ve) {
		t.Fatalf("a suspension without a reason: %v", err)
	}
	if _, err := tn.RequestChange(ChangeSuspend, "unpaid invoice", "billing", now); err != nil {
		t.Fatal(err)
	}
	if _, err := tn.RequestChange(ChangeSuspend, "again", "operator", now); !errors.Is(err, ErrChangeRunning) {
		t.Fatalf("a second change while one runs: %v", err)
	}
	if _, err := tn.RequestDeprovisioning("bye"); !errors.Is(err, ErrChangeRunning) {
		t.Fatalf("deprovisioning while a change runs: %v", err)
	}
	firstKey := tn.DoKey(StepSignInOff)
	if next, _ := tn.NextStep(); next != StepSignInOff || tn.Status() != StatusActive {
		t.Fatalf("next %q, status %s", next, tn.Status())
	}
	record(t, tn, StepSignInOff, OutcomeCompleted)
	evs := record(t, tn, StepAppSuspend, OutcomeCompleted)
	if len(evs) != 2 || evs[1].EventType() != TypeChangeCompleted || tn.Status() != StatusSuspended {
		t.Fatalf("the last step: %v, status %s", evs, tn.Status())
	}
	if _, ok := tn.NextStep(); ok {
		t.Error("a step is due on a SUSPENDED tenant")
	}
	if _, err := tn.RequestChange(ChangeReactivate, "paid", "operator", now); err != nil {
		t.Fatal(err)
	}
	if next, _ := tn.NextStep(); next != StepAppResume {
		t.Fatalf("reactivation starts with %q", next)
	}
	record(t, tn, StepAppResume, OutcomeCompleted)
	record(t, tn, StepSignInOn, OutcomeSkipped)
	if tn.Status() != StatusActive {
		t.Fatalf("after reactivation: %s", tn.Status())
	}
	if v, _ := tn.LastChange(); v.Change != ChangeReactivate || v.Round != 2 || v.State != "completed" {
		t.Errorf("last change %+v", v)
	}
	if _, err := tn.RequestChange(ChangeSuspend, "again", "operator", now); err != nil {
		t.Fatal(err)
	}
	if tn.DoKey(StepSignInOff) == firstKey {
		t.Error("a second suspension's step has the first one's key: it would be taken for a duplicate")
	}
	// Provisioning's own record is untouched by the changes.
	for _, s := range tn.StepStates() {
		if isChangeStep(s.Step) {
			t.Errorf("the tenant's steps list a change's step %s", s.Step)
		}
	}
}

// A change's failed step undoes what the change did, newest first (the
// failed step too: it may have done part of its work), then the tenant is
// where it was, saying why.
func TestFailedSuspensionRollsBack(t *testing.T) {
	tn := active(t)
	if _, err := tn.RequestChange(ChangeSuspend, "unpaid", "operator", now); err != nil {
		t.Fatal(err)
	}
	record(t, tn, StepSignInOff, OutcomeCompleted)
	record(t, tn, StepAppSuspend, OutcomeFailed)
	key, due := tn.FailureDue()
	if !due || key == "" {
		t.Fatal("no failure due after a change's step failed")
	}
	evs, err := tn.Fail()
	if err != nil || len(evs) != 1 || evs[0].EventType() != TypeChangeFailed || !tn.Undoing() {
		t.Fatalf("fail: %v %v", evs, err)
	}
	if _, again := tn.FailureDue(); again {
		t.Error("the failure is due twice")
	}
	for _, want := range []string{StepAppSuspend, StepSignInOff} {
		next, ok := tn.NextUndo()
		if !ok || next != want {
			t.Fatalf("undo %q, want %s", next, want)
		}
		if _, err := tn.RecordUndo(StepOutcome{Step: want, Outcome: OutcomeCompensated}); err != nil {
			t.Fatal(err)
		}
	}
	if _, pending := tn.NextUndo(); pending {
		t.Fatal("an undo is still due")
	}
	key = tn.FinishUndoKey()
	evs, err = tn.FinishUndo()
	if err != nil || len(evs) != 1 || evs[0].EventType() != TypeChangeRolledBack {
		t.Fatalf("finish: %v %v", evs, err)
	}
	if tn.Status() != StatusActive || tn.Undoing() || tn.LastFailure() == "" || key == "" {
		t.Fatalf("after the rollback: %s, undoing %v, failure %q", tn.Status(), tn.Undoing(), tn.LastFailure())
	}
	if v, _ := tn.LastChange(); v.State != "rolled_back" || v.FailedStep != StepAppSuspend {
		t.Errorf("last change %+v", v)
	}
	// The provisioning record kept its resources: nothing of it was undone.
	if len(tn.Resources()) == 0 || len(tn.Orphans()) != 0 {
		t.Errorf("resources %v, orphans %v", tn.Resources(), tn.Orphans())
	}
}

// A SUSPENDED tenant is offboarded like an ACTIVE one: every provisioning
// step's undo, none of the changes'.
func TestDeprovisioningASuspendedTenant(t *testing.T) {
	tn := active(t)
	if _, err := tn.RequestChange(ChangeSuspend, "unpaid", "operator", now); err != nil {
		t.Fatal(err)
	}
	record(t, tn, StepSignInOff, OutcomeCompleted)
	record(t, tn, StepAppSuspend, OutcomeCompleted)
	if _, err := tn.RequestDeprovisioning("bye"); err != nil {
		t.Fatal(err)
	}
	for s, ok := tn.NextUndo(); ok; s, ok = tn.NextUndo() {
		if isChangeStep(s) {
			t.Fatalf("deprovisioning undoes the change's step %s", s)
		}
		if _, err := tn.RecordUndo(StepOutcome{Step: s, Outcome: OutcomeCompensated}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tn.FinishUndo(); err != nil || tn.Status() != StatusInactive {
		t.Fatalf("finish: %v, %s", err, tn.Status())
	}
}

// billedActive is an ACTIVE, welcomed tenant whose billing step made
// customer cus_1 and subscription sub_1.
func billedActive(t *testing.T) *Tenant {
	t.Helper()
	tn := provisioning(t)
	completeSteps(t, tn, StepActivate)
	if _, err := tn.Activate(); err != nil {
		t.Fatal(err)
	}
	if _, err := tn.RecordStep(StepOutcome{Step: StepBilling, Outcome: OutcomeCompleted, Resources: []Resource{
		{Kind: ResourceBillingCustomer, ID: "cus_1"}, {Kind: ResourceBillingSubscription, ID: "sub_1"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := tn.RecordNotification(StepOutcome{Step: StepNotify, Outcome: OutcomeCompleted}); err != nil {
		t.Fatal(err)
	}
	return tn
}

// finishChange completes every step of the running change.
func finishChange(t *testing.T, tn *Tenant) {
	t.Helper()
	for step, ok := tn.NextStep(); ok; step, ok = tn.NextStep() {
		record(t, tn, step, OutcomeCompleted)
	}
}

// The billing provider's "unpaid" suspends the tenant its subscription was
// made for, once however often it is delivered; "paid" lifts only the
// suspension billing asked for; a notice about another subscription asks
// nothing.
func TestActOnBilling(t *testing.T) {
	tn := billedActive(t)
	unpaid := BillingNotice{EventID: "evt_1", SubscriptionID: "sub_1", TenantID: tn.ID(), Standing: BillingUnpaid}
	paid := unpaid
	paid.EventID, paid.Standing = "evt_2", BillingPaid

	if evs, err := tn.ActOnBilling(BillingNotice{SubscriptionID: "sub_other", Standing: BillingUnpaid}, now); err != nil || len(evs) != 0 {
		t.Fatalf("another subscription's notice: %v %v", evs, err)
	}
	if evs, err := tn.ActOnBilling(paid, now); err != nil || len(evs) != 0 {
		t.Fatalf("paid for an ACTIVE tenant: %v %v", evs, err)
	}
	evs, err := tn.ActOnBilling(unpaid, now)
	if err != nil || len(evs) != 1 {
		t.Fatalf("unpaid: %v %v", evs, err)
	}
	if r := evs[0].(ChangeRequested); r.Change != ChangeSuspend || r.Source != SourceBilling {
		t.Fatalf("unpaid asked %+v", r)
	}
	if evs, err := tn.ActOnBilling(unpaid, now); err != nil || len(evs) != 0 {
		t.Fatalf("unpaid delivered again while suspending: %v %v", evs, err)
	}
	if _, err := tn.ActOnBilling(paid, now); !errors.Is(err, ErrChangeRunning) {
		t.Fatalf("paid while the suspension runs: %v, want ErrChangeRunning (delivered again later)", err)
	}
	finishChange(t, tn)
	if tn.Status() != StatusSuspended {
		t.Fatalf("status %s after the suspension", tn.Status())
	}
	if evs, err := tn.ActOnBilling(unpaid, now); err != nil || len(evs) != 0 {
		t.Fatalf("unpaid for a SUSPENDED tenant: %v %v", evs, err)
	}
	evs, err = tn.ActOnBilling(paid, now)
	if err != nil || len(evs) != 1 || evs[0].(ChangeRequested).Change != ChangeReactivate {
		t.Fatalf("paid after billing's suspension: %v %v", evs, err)
	}
	finishChange(t, tn)
	if tn.Status() != StatusActive {
		t.Fatalf("status %s after the reactivation", tn.Status())
	}

	if _, err := tn.RequestChange(ChangeSuspend, "abuse", SourceOperator, now); err != nil {
		t.Fatal(err)
	}
	finishChange(t, tn)
	if evs, err := tn.ActOnBilling(paid, now); err != nil || len(evs) != 0 {
		t.Fatalf("paid lifted an operator's suspension: %v %v", evs, err)
	}
}
