package domain

import (
	"time"
)

// Expiry: a subscription's endDate passes; after a grace period the tenant
// is suspended (its data kept), after a retention period it is offboarded,
// and its contact is warned before each. Every step of it is an event in
// the tenant's stream, and each deadline is computed from the log and the
// operator's policy, so a watcher that restarts (or another replica) picks
// up where the last one stopped.

// ExpiryPolicy is the operator's: how long a tenant keeps running after its
// subscription's endDate (Grace), how long it then stays suspended with its
// data before it is offboarded (Retention), and how long before each of the
// two its contact is warned (Warning).
type ExpiryPolicy struct {
	Grace, Retention, Warning time.Duration
}

// The stages of expiry a warning announces.
const (
	ExpirySuspension  = "suspension"
	ExpiryOffboarding = "offboarding"
)

// SourceExpiry asks for the suspension of an expired subscription's tenant
// (ChangeRequested.Source).
const SourceExpiry = "expiry"

// TypeExpiryWarned records that the tenant's contact was warned of a stage
// of expiry.
const TypeExpiryWarned = "tenant.expiry.warned"

// ExpiryWarned records a warning sent to the tenant's contact: Stage
// (ExpirySuspension, ExpiryOffboarding) is due at DueAt because the
// subscription ended at EndDate.
type ExpiryWarned struct {
	Stage   string    `json:"stage"`
	EndDate time.Time `json:"endDate"`
	DueAt   time.Time `json:"dueAt"`
	At      time.Time `json:"at"`
}

func (ExpiryWarned) EventType() string { return TypeExpiryWarned }

// What expiry asks of a tenant next (ExpiryAction.Do).
const (
	ExpiryWarn     = "warn"
	ExpirySuspend  = "suspend"
	ExpiryOffboard = "offboard"
)

// ExpiryAction is what expiry asks of the tenant now: Do (ExpiryWarn,
// ExpirySuspend, ExpiryOffboard) for Stage, due at DueAt.
type ExpiryAction struct {
	Do, Stage      string
	EndDate, DueAt time.Time
}

// expiryState is the current attempt's expiry: the stages warned of, and
// when expiry asked for the suspension (zero: not yet).
type expiryState struct {
	warned      map[string]bool
	suspendedAt time.Time
}

// ExpiryDue is what expiry asks of the tenant at now under p, if anything:
//   - an ACTIVE tenant whose subscription ended more than p.Grace ago is
//     suspended (source SourceExpiry), and warned p.Warning before;
//   - a tenant expiry suspended is offboarded p.Retention after that
//     suspension was asked for, and warned p.Warning before.
//
// Nothing while a change runs or a DELETE is kept for its retention
// period (the offboarding's own deadline rules), and nothing more once an operator has
// reactivated a tenant expiry suspended: the operator decided otherwise for
// this subscription. A suspension of expiry's that was rolled back is
// asked for again.
func (t *Tenant) ExpiryDue(now time.Time, p ExpiryPolicy) (ExpiryAction, bool) {
	sub, ok := t.Subscription()
	if !ok || sub.EndDate.IsZero() || t.changeRunning() || t.retryingUndos || t.offboarding != nil {
		return ExpiryAction{}, false
	}
	a := ExpiryAction{EndDate: sub.EndDate}
	switch {
	case t.status == StatusActive && (t.expiry.suspendedAt.IsZero() || t.expiryRolledBack()):
		a.Stage, a.DueAt = ExpirySuspension, sub.EndDate.Add(p.Grace)
		a.Do = ExpirySuspend
	case t.status == StatusSuspended && !t.expiry.suspendedAt.IsZero() && t.change.source == SourceExpiry:
		a.Stage, a.DueAt = ExpiryOffboarding, t.expiry.suspendedAt.Add(p.Retention)
		a.Do = ExpiryOffboard
	default:
		return ExpiryAction{}, false
	}
	switch {
	case !now.Before(a.DueAt):
		return a, true
	case !now.Before(a.DueAt.Add(-p.Warning)) && !t.expiry.warned[a.Stage]:
		a.Do = ExpiryWarn
		return a, true
	}
	return ExpiryAction{}, false
}

// ActOnExpiry records what expiry asked (a from ExpiryDue, at now): the
// warning sent, the suspension or the offboarding requested.
func (t *Tenant) ActOnExpiry(a ExpiryAction, now time.Time) ([]Event, error) {
	switch a.Do {
	case ExpiryWarn:
		e := ExpiryWarned{Stage: a.Stage, EndDate: a.EndDate.UTC(), DueAt: a.DueAt.UTC(), At: now.UTC()}
		t.apply(e)
		return []Event{e}, nil
	case ExpirySuspend:
		return t.RequestChange(ChangeSuspend, "the subscription ended on "+a.EndDate.UTC().Format(time.DateOnly)+
			" and its grace period is over", SourceExpiry, now)
	default:
		return t.RequestDeprovisioning("the subscription ended on " + a.EndDate.UTC().Format(time.DateOnly) +
			" and its retention period is over")
	}
}

// expiryRolledBack reports whether the latest change is expiry's
// suspension, rolled back: expiry asks for it again.
func (t *Tenant) expiryRolledBack() bool {
	c := t.change
	return c != nil && c.over && c.failedStep != "" && c.kind == ChangeSuspend && c.source == SourceExpiry
}

func (t *Tenant) applyExpiry(e Event) {
	switch e := deref(e).(type) {
	case ProvisioningRequested:
		t.expiry = expiryState{}
	case ExpiryWarned:
		if t.expiry.warned == nil {
			t.expiry.warned = map[string]bool{}
		}
		t.expiry.warned[e.Stage] = true
	case ChangeRequested:
		if e.Source == SourceExpiry && e.Change == ChangeSuspend {
			t.expiry.suspendedAt = e.At
		}
	}
}
