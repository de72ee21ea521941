package domain

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Changes of a live tenant: each is a short choreography of its own steps
// (rows of Flow with Change set), run once its request is recorded, with
// compensation when a step fails — the steps it completed are undone,
// newest first, and the tenant stays where it was. A tenant runs one change
// at a time; each is a numbered round, so its events never collide with an
// earlier one's.
const (
	// ChangeSuspend: nobody signs in, sessions end, the application plane
	// is told; DNS keeps the name. ACTIVE → SUSPENDED.
	ChangeSuspend = "suspend"
	// ChangeReactivate undoes a suspension. SUSPENDED → ACTIVE.
	ChangeReactivate = "reactivate"
)

// Steps of the changes; their names are durable, like the provisioning
// steps' (tenant.<step>.<outcome>).
const (
	StepSignInOff  = "signin_off"
	StepAppSuspend = "app_suspend"
	StepAppResume  = "app_resume"
	StepSignInOn   = "signin_on"
)

// Where each change leaves the tenant, and where it may start.
var changeMoves = map[string]struct{ from, to Status }{
	ChangeSuspend:    {StatusActive, StatusSuspended},
	ChangeReactivate: {StatusSuspended, StatusActive},
	ChangePlan:       {StatusActive, StatusActive},
}

// Who asks for a change (ChangeRequested.Source).
const (
	SourceOperator = "operator"
	SourceBilling  = "billing"
)

// Change event types.
const (
	TypeChangeRequested  = "tenant.change.requested"
	TypeChangeCompleted  = "tenant.change.completed"
	TypeChangeFailed     = "tenant.change.failed"
	TypeChangeRolledBack = "tenant.change.rolled_back"
)

// ChangeRequested starts round Round of a change. Source says who asked:
// an operator (SourceOperator), the billing provider (SourceBilling),
// expiry, an offboarding or a restore. Plan is a plan change's new plan.
type ChangeRequested struct {
	Change string    `json:"change"`
	Round  int       `json:"round"`
	Reason string    `json:"reason"`
	Source string    `json:"source"`
	At     time.Time `json:"at"`
	Plan   *Plan     `json:"plan,omitempty"`
}

// ChangeCompleted records that every step of the change completed (or was
// skipped): the tenant moves (SUSPENDED, or ACTIVE again).
type ChangeCompleted struct {
	Change string    `json:"change"`
	Round  int       `json:"round"`
	At     time.Time `json:"at"`
}

// ChangeFailed records that a step of the change failed: what it completed
// is undone, newest first.
type ChangeFailed struct {
	Change     string `json:"change"`
	Round      int    `json:"round"`
	FailedStep string `json:"failedStep"`
	Error      string `json:"error"`
}

// ChangeRolledBack ends a failed change once every undo ran: the tenant is
// where it was before the change.
type ChangeRolledBack struct {
	Change     string `json:"change"`
	Round      int    `json:"round"`
	FailedStep string `json:"failedStep"`
	Error      string `json:"error"`
}

func (ChangeRequested) EventType() string  { return TypeChangeRequested }
func (ChangeCompleted) EventType() string  { return TypeChangeCompleted }
func (ChangeFailed) EventType() string     { return TypeChangeFailed }
func (ChangeRolledBack) EventType() string { return TypeChangeRolledBack }

// ErrChangeRunning refuses a change, a deprovisioning or a provisioning
// request while a change of the tenant is running.
var ErrChangeRunning = errors.New("a change of the tenant (a suspension, reactivation or plan change) is running: wait until it ends")

// changeState is a change's progress.
type changeState struct {
	kind, reason, source string
	plan                 *Plan // a plan change's new plan
	round                int
	steps                map[string]*StepState
	rollingBack, over    bool
	failedStep, err      string
}

// ChangeSteps are the steps of change kind, in order.
func ChangeSteps(kind string) []string {
	return flowSteps(func(s FlowStep) bool { return s.Change == kind })
}

// isChangeStep reports whether step belongs to a change.
func isChangeStep(step string) bool {
	row, ok := FlowOf(step)
	return ok && row.Change != ""
}

// RequestChange starts a change of kind (ChangeSuspend, ChangeReactivate),
// for reason, asked by source: from the status the change starts from, and
// when no other change is running.
func (t *Tenant) RequestChange(kind, reason, source string, now time.Time) ([]Event, error) {
	move, known := changeMoves[kind]
	if !known {
		return nil, fmt.Errorf("unknown change %q", kind) // a programming error
	}
	p := problems{}
	reason = checkText(p, "reason", reason, maxDescription, false)
	if err := p.err(); err != nil {
		return nil, err
	}
	if t.changeRunning() {
		return nil, ErrChangeRunning
	}
	if t.status != move.from || t.retryingUndos {
		return nil, &TransitionError{TenantID: t.id, From: t.status, To: move.to}
	}
	round := 1
	if t.change != nil {
		round = t.change.round + 1
	}
	e := ChangeRequested{Change: kind, Round: round, Reason: reason, Source: source, At: now.UTC()}
	t.apply(e)
	return []Event{e}, nil
}

// changeRunning reports whether a change has started and not ended.
func (t *Tenant) changeRunning() bool { return t.change != nil && !t.change.over }

func (t *Tenant) applyChange(e Event) {
	switch e := deref(e).(type) {
	case ChangeRequested:
		t.change = &changeState{kind: e.Change, round: e.Round, reason: e.Reason, source: e.Source, plan: e.Plan, steps: map[string]*StepState{}}
	case ChangeCompleted:
		t.change.over = true
		t.status = changeMoves[e.Change].to
		if t.change.plan != nil && t.subscription != nil {
			t.subscription.Plan, t.subscription.PlanID = *t.change.plan, t.change.plan.ID
		}
	case ChangeFailed:
		t.change.rollingBack, t.change.failedStep, t.change.err = true, e.FailedStep, e.Error
		t.lastFailure = e.Change + ": " + e.FailedStep + ": " + e.Error
	case ChangeRolledBack:
		t.change.rollingBack, t.change.over = false, true
	}
}

// nextChangeStep is the running change's next step, when it is not
// rolling back: the first without an outcome after steps that completed or
// were skipped.
func (t *Tenant) nextChangeStep() (string, bool) {
	c := t.change
	if !t.changeRunning() || c.rollingBack {
		return "", false
	}
	return firstDue(ChangeSteps(c.kind), c.state)
}

func (c *changeState) state(step string) string {
	if s := c.steps[step]; s != nil {
		return s.State
	}
	return ""
}

// changeCompletes is the completion the change's outcome e brings: when e
// completes (or skips) its last step.
func (t *Tenant) changeCompletes(e StepOutcome) []Event {
	c := t.change
	steps := ChangeSteps(c.kind)
	if e.Step != steps[len(steps)-1] || e.Outcome == OutcomeFailed {
		return nil
	}
	done := ChangeCompleted{Change: c.kind, Round: c.round, At: e.At}
	t.apply(done)
	return []Event{done}
}

// changeFailure is the running change's failed step, when it is not
// rolling back yet.
func (t *Tenant) changeFailure() (step, reason string, ok bool) {
	c := t.change
	if !t.changeRunning() || c.rollingBack {
		return "", "", false
	}
	for _, s := range ChangeSteps(c.kind) {
		if st := c.steps[s]; st != nil && st.State == OutcomeFailed {
			return s, st.Error, true
		}
	}
	return "", "", false
}

// nextChangeUndo is the undo due in a change that is rolling back: its
// steps in reverse order, the latest that completed or failed and is not
// undone yet.
func (t *Tenant) nextChangeUndo() (string, bool) {
	c := t.change
	if c == nil || !c.rollingBack {
		return "", false
	}
	steps := ChangeSteps(c.kind)
	for i := len(steps) - 1; i >= 0; i-- {
		st := c.steps[steps[i]]
		if st != nil && st.Undo == "" && (st.State == OutcomeCompleted || st.State == OutcomeFailed) {
			if row, _ := FlowOf(steps[i]); row.Undo {
				return steps[i], true
			}
		}
	}
	return "", false
}

// ChangeView is a change as the API shows it.
type ChangeView struct {
	Change     string      `json:"change"`
	Round      int         `json:"round"`
	Reason     string      `json:"reason"`
	Source     string      `json:"source"`
	State      string      `json:"state"` // running, rolling_back, completed, rolled_back
	FailedStep string      `json:"failedStep,omitempty"`
	Error      string      `json:"error,omitempty"`
	Steps      []StepState `json:"steps"`
}

// LastChange is the tenant's latest change, if it had one.
func (t *Tenant) LastChange() (ChangeView, bool) {
	c := t.change
	if c == nil {
		return ChangeView{}, false
	}
	v := ChangeView{Change: c.kind, Round: c.round, Reason: c.reason, Source: c.source, FailedStep: c.failedStep, Error: c.err}
	switch {
	case c.rollingBack:
		v.State = "rolling_back"
	case !c.over:
		v.State = "running"
	case c.failedStep != "":
		v.State = "rolled_back"
	default:
		v.State = "completed"
	}
	for _, s := range ChangeSteps(c.kind) {
		st := StepState{Step: s}
		if cur := c.steps[s]; cur != nil {
			st = *cur
			st.Resources = slices.Clone(cur.Resources)
		}
		v.Steps = append(v.Steps, st)
	}
	return v, true
}

// changeKey is the id key prefix of the running change's events:
// tenant/change/round.
func (t *Tenant) changeKey() string {
	return fmt.Sprintf("%s/change/%d", t.id, t.change.round)
}
