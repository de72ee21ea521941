package domain

import (
	"errors"
	"time"
)

// Offboarding with a retention period: DELETE of a live tenant suspends it
// (nobody signs in, its data stays) and keeps it until PurgeAt; then the
// purge is the deprovisioning every DELETE was before. A restore before
// then reactivates it. A retention period of 0 keeps DELETE as it was: the
// deprovisioning at once.

// Offboarding event types.
const (
	TypeOffboardingRequested = "tenant.offboarding.requested"
	TypeOffboardingCancelled = "tenant.offboarding.cancelled"
)

// Who asks for the changes of an offboarding (ChangeRequested.Source): its
// suspension, and a restore's reactivation.
const (
	SourceOffboarding = "offboarding"
	SourceRestore     = "restore"
)

// OffboardingRequested records a DELETE of a live tenant kept for a
// retention period: it is purged at PurgeAt unless restored.
type OffboardingRequested struct {
	Reason  string    `json:"reason"`
	PurgeAt time.Time `json:"purgeAt"`
	At      time.Time `json:"at"`
}

// OffboardingCancelled records a restore inside the retention period.
type OffboardingCancelled struct {
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
}

func (OffboardingRequested) EventType() string { return TypeOffboardingRequested }
func (OffboardingCancelled) EventType() string { return TypeOffboardingCancelled }

// ErrNotOffboarding refuses a restore of a tenant nobody deleted.
var ErrNotOffboarding = errors.New("the tenant is not being offboarded: there is nothing to restore")

// RequestOffboarding is DELETE: a live tenant (ACTIVE or SUSPENDED) is
// suspended and kept for retention, a tenant being offboarded already
// stays as it is (a DELETE sent again); any other tenant — or any tenant
// when retention is 0 — is deprovisioned at once.
func (t *Tenant) RequestOffboarding(reason string, retention time.Duration, now time.Time) ([]Event, error) {
	live := t.status == StatusActive || t.status == StatusSuspended
	if retention <= 0 || !live {
		return t.RequestDeprovisioning(reason)
	}
	if t.offboarding != nil {
		return nil, nil
	}
	if t.changeRunning() {
		return nil, ErrChangeRunning
	}
	e := OffboardingRequested{Reason: reason, PurgeAt: now.Add(retention).UTC(), At: now.UTC()}
	if t.status == StatusSuspended {
		t.apply(e)
		return []Event{e}, nil
	}
	t.apply(e)
	suspend, err := t.RequestChange(ChangeSuspend, "offboarding: "+reason, SourceOffboarding, now)
	if err != nil {
		return nil, err
	}
	return append([]Event{e}, suspend...), nil
}

// Offboarding is the pending offboarding, if the tenant has one.
func (t *Tenant) Offboarding() (OffboardingRequested, bool) {
	if t.offboarding == nil {
		return OffboardingRequested{}, false
	}
	return *t.offboarding, true
}

// Restore cancels the pending offboarding; a tenant its offboarding
// suspended is reactivated. Refused when nobody deleted the tenant
// (ErrNotOffboarding), while a change runs, and once the purge has begun
// (the tenant is DEPROVISIONING: its data is going).
func (t *Tenant) Restore(reason string, now time.Time) ([]Event, error) {
	p := problems{}
	reason = checkText(p, "reason", reason, maxDescription, true)
	if err := p.err(); err != nil {
		return nil, err
	}
	if t.status != StatusActive && t.status != StatusSuspended {
		return nil, &TransitionError{TenantID: t.id, From: t.status, To: StatusActive}
	}
	if t.offboarding == nil {
		return nil, ErrNotOffboarding
	}
	if t.changeRunning() {
		return nil, ErrChangeRunning
	}
	var out []Event
	if t.status == StatusSuspended && t.change != nil && t.change.source == SourceOffboarding {
		why := "restored"
		if reason != "" {
			why += ": " + reason
		}
		evs, err := t.RequestChange(ChangeReactivate, why, SourceRestore, now)
		if err != nil {
			return nil, err
		}
		out = evs
	}
	e := OffboardingCancelled{Reason: reason, At: now.UTC()}
	t.apply(e)
	return append([]Event{e}, out...), nil
}

// PurgeDue reports whether the pending offboarding's retention period is
// over at now, with no change running: the deprovisioning is due.
func (t *Tenant) PurgeDue(now time.Time) bool {
	return t.offboarding != nil && !now.Before(t.offboarding.PurgeAt) && !t.changeRunning() &&
		(t.status == StatusActive || t.status == StatusSuspended)
}

// Purge deprovisions a tenant whose retention period is over (PurgeDue);
// nothing otherwise.
func (t *Tenant) Purge(now time.Time) ([]Event, error) {
	if !t.PurgeDue(now) {
		return nil, nil
	}
	return t.RequestDeprovisioning("offboarded: " + t.offboarding.Reason + "; the retention period ended " +
		t.offboarding.PurgeAt.Format(time.RFC3339))
}

func (t *Tenant) applyOffboarding(e Event) {
	switch e := deref(e).(type) {
	case OffboardingRequested:
		t.offboarding = &e
	case OffboardingCancelled, ProvisioningRequested, DeprovisioningRequested:
		t.offboarding = nil
	}
}
