package domain

import (
	"errors"
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

// Types of the events of a retry of failed undos.
const (
	TypeUndoRetryRequested = "tenant.undo.retry_requested"
	TypeUndoRetryFinished  = "tenant.undo.retry_finished"
)

// UndoRetryRequested asks the undos that failed (the tenant's orphans) to
// run again, as in a rollback: each listed step's undo handler reacts in
// reverse order and records compensated or compensation_failed again.
// Round numbers the retries of a tenant's undos (their outcomes' ids).
type UndoRetryRequested struct {
	Round int       `json:"round"`
	Steps []string  `json:"steps"`
	At    time.Time `json:"at"`
}

func (UndoRetryRequested) EventType() string { return TypeUndoRetryRequested }

// UndoRetryFinished records that every retried undo has its outcome again.
type UndoRetryFinished struct {
	Round int `json:"round"`
}

func (UndoRetryFinished) EventType() string { return TypeUndoRetryFinished }

// ErrNoFailedUndo means there is no failed undo to retry.
var ErrNoFailedUndo = errors.New("no failed undo to retry")

// ErrUndoRunning refuses a change of status while a tenant's failed undos
// are being retried: try again once they have finished.
var ErrUndoRunning = errors.New("failed undos are being retried; try again when they have finished")

// failedUndos are the steps whose undo failed, in this attempt or an
// earlier one (the steps of the tenant's orphans), in flow order.
func (t *Tenant) failedUndos() []string {
	var out []string
	for _, s := range UndoableSteps {
		if st := t.steps[s]; (st != nil && st.Undo == OutcomeCompensationFailed) || t.hasOrphans(s) {
			out = append(out, s)
		}
	}
	return out
}

// hasOrphans reports whether an undo of step, in any attempt, left
// something behind that is still listed.
func (t *Tenant) hasOrphans(step string) bool {
	return slices.ContainsFunc(t.orphans, func(o Resource) bool { return o.Step == step })
}

// MayHoldResources reports whether step may have made something the tenant
// still holds: it completed in this attempt, or it failed after trying (a
// cancelled step never ran), or an earlier undo of it left orphans. An undo
// of such a step that cannot run must not be recorded as compensated.
func (t *Tenant) MayHoldResources(step string) bool {
	st := t.steps[step]
	return t.hasOrphans(step) || (st != nil && (st.State == OutcomeCompleted || (st.State == OutcomeFailed && st.Tries > 0)))
}

// UndoRound numbers the current round of retried undos (0: none yet).
func (t *Tenant) UndoRound() int { return t.undoRound }

// RetryUndos runs the failed undos of a rolled-back (PROVISION_FAILED) or
// deprovisioned (INACTIVE) tenant again. The status stays; the tenant's
// orphans go as their undos now succeed.
func (t *Tenant) RetryUndos(at time.Time) ([]Event, error) {
	if t.Undoing() || (t.status != StatusProvisionFailed && t.status != StatusInactive) {
		return nil, fmt.Errorf("%w: tenant %s is %s: undos are retried once it is PROVISION_FAILED or INACTIVE", ErrNotYourTurn, t.id, t.status)
	}
	steps := t.failedUndos()
	if len(steps) == 0 {
		return nil, fmt.Errorf("%w: tenant %s", ErrNoFailedUndo, t.id)
	}
	e := UndoRetryRequested{Round: t.undoRound + 1, Steps: steps, At: at.UTC()}
	t.apply(e)
	return []Event{e}, nil
}

// resetUndos makes the undos of steps due again, for round.
func (t *Tenant) resetUndos(steps []string, round int) {
	for _, s := range steps {
		if st := t.steps[s]; st != nil {
			st.Undo, st.UndoError = "", ""
		}
	}
	t.undoRound = max(t.undoRound, round)
}

// StepKey is the id key of step's outcome in a tenant's attempt. Whoever
// records that outcome (the step's handler, the API taking the application
// plane's report, the deadline watcher) derives the same event ids from it,
// so only one of them can record it.
func StepKey(tenantID string, attempt int, step string) string {
	return fmt.Sprintf("%s/%d/%s/do", tenantID, attempt, step)
}

// DoKey is the id key of step's outcome in t's current attempt, or in its
// running change for a change's step.
func (t *Tenant) DoKey(step string) string {
	if isChangeStep(step) && t.change != nil {
		return t.changeKey() + "/" + step + "/do"
	}
	return StepKey(t.id, t.attempt, step)
}

// FinishUndoKey is the id key of the event that ends t's undo chain: rolled
// back, deactivated, or either after a round of retried undos.
func (t *Tenant) FinishUndoKey() string {
	if t.change != nil && t.change.rollingBack {
		return t.changeKey() + "/rolled-back"
	}
	phase := "rolled-back"
	switch {
	case t.undoRound > 0 && t.Status() != StatusProvisioning:
		phase = fmt.Sprintf("undos-retried/r%d", t.undoRound) // or deactivated after them
		if t.Status() == StatusDeprovisioning {
			phase += "/deactivated"
		}
	case t.Status() == StatusDeprovisioning:
		phase = "deactivated"
	}
	return fmt.Sprintf("%s/%d/%s", t.ID(), t.Attempt(), phase)
}

// UndoKey is the id key of step's undo outcome in t's current attempt: one
// per attempt, and one per round of retried undos (UndoRound) after that.
func (t *Tenant) UndoKey(step string) string {
	if isChangeStep(step) && t.change != nil {
		return t.changeKey() + "/" + step + "/undo"
	}
	key := fmt.Sprintf("%s/%d/%s/undo", t.ID(), t.Attempt(), step)
	if t.undoRound > 0 {
		key += fmt.Sprintf("/r%d", t.undoRound)
	}
	return key
}
