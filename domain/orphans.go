package domain

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// TypeOrphanForgotten is the type of OrphanForgotten.
const TypeOrphanForgotten = "tenant.orphan.forgotten"

// OrphanForgotten records an operator's decision that an orphan needs no
// more attention (removed by hand, or judged harmless): it leaves the
// tenant's orphans. Who decided is the event's actor (its metadata).
type OrphanForgotten struct {
	Step   string    `json:"step"`
	Kind   string    `json:"kind"`
	ID     string    `json:"id"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

func (OrphanForgotten) EventType() string { return TypeOrphanForgotten }

// maxForgetReason bounds the reason an operator gives.
const maxForgetReason = 500

// ForgetOrphan takes the orphan step/kind/id off the tenant's list, with
// the operator's reason (required). An orphan the tenant does not have is
// ErrNotFound: nothing is recorded.
func (t *Tenant) ForgetOrphan(step, kind, id, reason string, at time.Time) ([]Event, error) {
	reason = strings.TrimSpace(reason)
	switch {
	case reason == "":
		return nil, &ValidationError{Fields: map[string]string{"reason": "is required: say why the orphan needs no more attention"}}
	case utf8.RuneCountInString(reason) > maxForgetReason:
		return nil, &ValidationError{Fields: map[string]string{"reason": fmt.Sprintf("must be at most %d characters", maxForgetReason)}}
	}
	o := Resource{Step: step, Kind: kind, ID: id}
	if !slices.ContainsFunc(t.orphans, o.same) {
		return nil, fmt.Errorf("%w: tenant %s has no orphan %s/%s/%s", ErrNotFound, t.id, step, kind, id)
	}
	e := OrphanForgotten{Step: step, Kind: kind, ID: id, Reason: reason, At: at.UTC()}
	t.apply(e)
	return []Event{e}, nil
}
