package domain

import (
	"testing"
	"time"
)

var policy = ExpiryPolicy{Grace: 7 * 24 * time.Hour, Retention: 30 * 24 * time.Hour, Warning: 3 * 24 * time.Hour}

// expire runs what expiry asks at at, and returns what it asked.
func expire(t *testing.T, tn *Tenant, at time.Time) string {
	t.Helper()
	a, ok := tn.ExpiryDue(at, policy)
	if !ok {
		return ""
	}
	if _, err := tn.ActOnExpiry(a, at); err != nil {
		t.Fatalf("%s %s at %s: %v", a.Do, a.Stage, at, err)
	}
	return a.Do + " " + a.Stage
}

// A subscription's end is followed, on the clock, by a warning, the
// suspension after the grace period, a warning and the offboarding after
// the retention period: each once, whatever the clock says in between.
func TestExpiryThroughGraceAndRetention(t *testing.T) {
	tn := active(t)
	end := validSubscription().EndDate
	day := 24 * time.Hour
	for _, step := range []struct {
		at   time.Time
		want string
	}{
		{end.Add(-day), ""},
		{end.Add(3 * day), ""},
		{end.Add(4 * day), "warn suspension"},
		{end.Add(5 * day), ""}, // warned once
		{end.Add(7 * day), "suspend suspension"},
		{end.Add(7*day + time.Hour), ""}, // the suspension runs
	} {
		if got := expire(t, tn, step.at); got != step.want {
			t.Fatalf("at end%+v: %q, want %q", step.at.Sub(end), got, step.want)
		}
	}
	if c, _ := tn.LastChange(); c.Source != SourceExpiry || c.Change != ChangeSuspend {
		t.Fatalf("the suspension: %+v", c)
	}
	finishChange(t, tn)
	suspendedAt := end.Add(7 * day)
	for _, step := range []struct {
		at   time.Time
		want string
	}{
		{suspendedAt.Add(26 * day), ""},
		{suspendedAt.Add(27 * day), "warn offboarding"},
		{suspendedAt.Add(28 * day), ""},
		{suspendedAt.Add(30 * day), "offboard offboarding"},
	} {
		if got := expire(t, tn, step.at); got != step.want {
			t.Fatalf("at suspension%+v: %q, want %q", step.at.Sub(suspendedAt), got, step.want)
		}
	}
	if tn.Status() != StatusDeprovisioning {
		t.Fatalf("status %s after the retention period", tn.Status())
	}
	if got := expire(t, tn, suspendedAt.Add(60*day)); got != "" {
		t.Fatalf("a deprovisioning tenant: %q", got)
	}
}

// A watcher that was down asks for what is due now, not for the warning it
// missed; an operator's reactivation ends expiry for this subscription; a
// suspension that rolled back is asked for again; a subscription without an
// end never expires.
func TestExpiryEdges(t *testing.T) {
	end := validSubscription().EndDate
	late := active(t)
	if got := expire(t, late, end.Add(100*24*time.Hour)); got != "suspend suspension" {
		t.Fatalf("long after the grace period: %q", got)
	}
	finishChange(t, late)
	if _, err := late.RequestChange(ChangeReactivate, "renewed by phone", SourceOperator, now); err != nil {
		t.Fatal(err)
	}
	finishChange(t, late)
	if got := expire(t, late, end.Add(1000*24*time.Hour)); got != "" {
		t.Fatalf("after an operator's reactivation: %q", got)
	}

	failed := active(t)
	expire(t, failed, end.Add(8*24*time.Hour))
	record(t, failed, StepSignInOff, OutcomeFailed)
	if _, err := failed.Fail(); err != nil {
		t.Fatal(err)
	}
	for s, ok := failed.NextUndo(); ok; s, ok = failed.NextUndo() {
		if _, err := failed.RecordUndo(StepOutcome{Step: s, Outcome: OutcomeCompensated}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := failed.FinishUndo(); err != nil {
		t.Fatal(err)
	}
	if got := expire(t, failed, end.Add(9*24*time.Hour)); got != "suspend suspension" {
		t.Fatalf("after expiry's suspension rolled back: %q (status %s)", got, failed.Status())
	}

	open := provisioning(t)
	open.subscription.EndDate = time.Time{}
	completeSteps(t, open, StepActivate)
	if _, err := open.Activate(); err != nil {
		t.Fatal(err)
	}
	if got := expire(t, open, end.Add(1000*24*time.Hour)); got != "" {
		t.Fatalf("no endDate: %q", got)
	}
}
