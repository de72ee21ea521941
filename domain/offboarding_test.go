package domain

import (
	"errors"
	"testing"
	"time"
)

// DELETE of an ACTIVE tenant with a retention period suspends it and keeps
// it; the purge is due when the period ends, not before; a DELETE sent
// again changes nothing; with no retention period, DELETE deprovisions at
// once, as it always did.
func TestOffboardingKeepsThenPurges(t *testing.T) {
	month := 30 * 24 * time.Hour
	tn := active(t)
	evs, err := tn.RequestOffboarding("customer left", month, now)
	if err != nil || len(evs) != 2 {
		t.Fatalf("offboarding: %v %v", evs, err)
	}
	if o, ok := tn.Offboarding(); !ok || !o.PurgeAt.Equal(now.Add(month)) {
		t.Fatalf("pending offboarding %+v %v", o, ok)
	}
	if c, _ := tn.LastChange(); c.Change != ChangeSuspend || c.Source != SourceOffboarding {
		t.Fatalf("the suspension: %+v", c)
	}
	if evs, err := tn.RequestOffboarding("again", month, now); err != nil || len(evs) != 0 {
		t.Fatalf("DELETE again: %v %v", evs, err)
	}
	if tn.PurgeDue(now.Add(2 * month)) {
		t.Fatal("purge due while the suspension runs")
	}
	finishChange(t, tn)
	if tn.Status() != StatusSuspended || tn.PurgeDue(now.Add(month-time.Second)) || !tn.PurgeDue(now.Add(month)) {
		t.Fatalf("status %s; purge due before the period ends, or not when it does", tn.Status())
	}
	if _, err := tn.ExpiryDue(now.AddDate(5, 0, 0), policy); err {
		t.Fatal("expiry acts on a tenant being offboarded")
	}
	if evs, err := tn.Purge(now.Add(month)); err != nil || len(evs) != 1 || tn.Status() != StatusDeprovisioning {
		t.Fatalf("purge: %v %v, status %s", evs, err, tn.Status())
	}
	if _, err := tn.Restore("too late", now.Add(month)); !isTransition(err) {
		t.Fatalf("a restore once the purge began: %v", err)
	}

	at0 := active(t)
	if evs, err := at0.RequestOffboarding("bye", 0, now); err != nil || len(evs) != 1 || at0.Status() != StatusDeprovisioning {
		t.Fatalf("no retention period: %v %v, status %s", evs, err, at0.Status())
	}
}

// A restore inside the period reactivates what the offboarding suspended
// and cancels the purge; a tenant nobody deleted has nothing to restore.
func TestRestoreInsideTheRetentionPeriod(t *testing.T) {
	tn := active(t)
	if _, err := tn.Restore("", now); !errors.Is(err, ErrNotOffboarding) {
		t.Fatalf("restoring a tenant nobody deleted: %v", err)
	}
	if _, err := tn.RequestOffboarding("customer left", time.Hour, now); err != nil {
		t.Fatal(err)
	}
	if _, err := tn.Restore("", now); !errors.Is(err, ErrChangeRunning) {
		t.Fatalf("restoring while the suspension runs: %v", err)
	}
	finishChange(t, tn)
	evs, err := tn.Restore("came back", now.Add(time.Minute))
	if err != nil || len(evs) != 2 {
		t.Fatalf("restore: %v %v", evs, err)
	}
	if c, _ := tn.LastChange(); c.Change != ChangeReactivate || c.Source != SourceRestore {
		t.Fatalf("the reactivation: %+v", c)
	}
	finishChange(t, tn)
	if _, ok := tn.Offboarding(); ok || tn.Status() != StatusActive || tn.PurgeDue(now.Add(24*time.Hour)) {
		t.Fatalf("after the restore: status %s, purge due %v", tn.Status(), tn.PurgeDue(now.Add(24*time.Hour)))
	}

	// A tenant an operator had suspended is kept suspended by a restore.
	op := active(t)
	if _, err := op.RequestChange(ChangeSuspend, "abuse", SourceOperator, now); err != nil {
		t.Fatal(err)
	}
	finishChange(t, op)
	if evs, err := op.RequestOffboarding("customer left", time.Hour, now); err != nil || len(evs) != 1 {
		t.Fatalf("offboarding a SUSPENDED tenant: %v %v", evs, err)
	}
	if evs, err := op.Restore("", now); err != nil || len(evs) != 1 || op.Status() != StatusSuspended {
		t.Fatalf("restoring it: %v %v, status %s", evs, err, op.Status())
	}
}
