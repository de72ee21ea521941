package domain

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Provisioning steps, in order. The names are durable: they are part of the
// outcome event types (tenant.<step>.<outcome>) and of handler group names.
const (
	StepIdentity       = "idp"
	StepAdminUser      = "admin_user"
	StepDatabase       = "database"
	StepStorage        = "storage"
	StepInfrastructure = "infrastructure"
	StepDeploy         = "deploy"
	StepDNS            = "dns"
	StepResources      = "resources"
	StepActivate       = "activate"
	StepBilling        = "billing"
	StepNotify         = "notify"
)

// Step outcomes, the last part of an outcome event's type.
const (
	OutcomeCompleted          = "completed"
	OutcomeSkipped            = "skipped"
	OutcomeFailed             = "failed"
	OutcomeCompensated        = "compensated"
	OutcomeCompensationFailed = "compensation_failed"
)

var outcomes = []string{OutcomeCompleted, OutcomeSkipped, OutcomeFailed, OutcomeCompensated, OutcomeCompensationFailed}

// ReasonCancelled is the error of the step that saw a cancellation.
const ReasonCancelled = "cancelled"

// More event types.
const (
	TypeProvisioningRolledBack      = "tenant.provisioning.rolled_back"
	TypeProvisioningCancelRequested = "tenant.provisioning.cancel_requested"
)

// ErrForeign marks a resource that exists under the tenant's name but
// carries another owner's mark. For a step's Do it is a permanent failure
// (never touched); for an Undo it means nothing of this tenant's is there to
// remove, so the undo succeeds: reporting someone else's resource as this
// tenant's orphan would send an operator to delete what is not ours.
var ErrForeign = errors.New("exists and belongs to someone else: not touched")

// Resource is something a step created outside tenantflow.
type Resource struct {
	Step      string    `json:"step"`
	Kind      string    `json:"kind"`               // its type, e.g. keycloak-realm, postgres-schema, s3-bucket
	ID        string    `json:"id"`                 // its id in the external system
	Location  string    `json:"location,omitempty"` // the system holding it (URL, server, path)
	TenantID  string    `json:"tenantId,omitempty"`
	CreatedAt time.Time `json:"createdAt,omitzero"`
}

// StepOutcome is the one event a step handler appends for a step of an
// attempt: tenant.<step>.<outcome>. Its type is built from both fields.
type StepOutcome struct {
	Step      string     `json:"step"`
	Outcome   string     `json:"outcome"`
	Attempt   int        `json:"attempt"`  // the provisioning attempt
	Tries     int        `json:"attempts"` // how often the handler tried
	Error     string     `json:"error,omitempty"`
	Resources []Resource `json:"resources,omitempty"`
	// Outputs are values a step hands to later ones (infrastructure outputs
	// such as the load balancer's name, which DNS points at).
	Outputs map[string]string `json:"outputs,omitempty"`
	// PlatformHost and CustomDomains are the dns step's: the tenant's name
	// inside the platform's zone, and what the customer must create for each
	// of its own domains outside it.
	PlatformHost  string         `json:"platformHost,omitempty"`
	CustomDomains []CustomDomain `json:"customDomains,omitempty"`
	StartedAt     time.Time      `json:"startedAt"`
	At            time.Time      `json:"finishedAt"`
}

// PlatformHost is a tenant's name inside the platform's zone, <key>.<zone>
// (lower case, no trailing dot): the dns step makes it, the realm client
// accepts it, custom domains point at it.
func PlatformHost(key, zone string) string {
	return strings.ToLower(key + "." + strings.TrimSuffix(zone, "."))
}

// ReservedIn reports whether domainName is a name of the platform's zone
// that the tenant with key may not ask for: the zone itself, and every
// <k>.<zone> (and name under it) where k could be another tenant's key —
// each is reserved for that tenant, so no tenant (or lead) can squat it and
// make the other's dns step fail. The tenant's own <key>.<zone> and the
// names under it, and names whose first label under the zone is no key
// (app-acme.<zone>), stay available.
func ReservedIn(domainName, key, zone string) bool {
	zone = strings.ToLower(strings.TrimSuffix(zone, "."))
	name := strings.ToLower(strings.TrimSuffix(domainName, "."))
	if zone == "" || (name != zone && !strings.HasSuffix(name, "."+zone)) {
		return false
	}
	if name == zone {
		return true
	}
	labels := strings.Split(strings.TrimSuffix(name, "."+zone), ".")
	label := labels[len(labels)-1] // the one right under the zone
	return keyPattern.MatchString(label) && label != strings.ToLower(key)
}

// CheckPlatformZone refuses, as a validation error of field, the domains
// ReservedIn reserves.
func CheckPlatformZone(field string, domains []string, key, zone string) error {
	for _, d := range domains {
		if ReservedIn(d, key, zone) {
			return &ValidationError{Fields: map[string]string{field: fmt.Sprintf("%s is in the platform's zone %s, whose names are reserved for their tenants: "+
				"use %s or a name under it, or a domain of your own", d, strings.TrimSuffix(zone, "."), PlatformHost(key, zone))}}
		}
	}
	return nil
}

// CustomDomain is a customer's own domain, outside the zone the platform
// manages: the customer points it at the tenant's platform name with a CNAME
// and proves it is theirs with a TXT record. tenantflow never touches it;
// `tenantctl domains` checks it through a resolver.
type CustomDomain struct {
	Domain   string `json:"domain"`
	CNAME    string `json:"cname"` // the CNAME's target: the tenant's platform name
	TXTName  string `json:"txtName"`
	TXTValue string `json:"txtValue"`
}

func (e StepOutcome) EventType() string { return OutcomeType(e.Step, e.Outcome) }

// Limits of what a back end puts into an outcome: its error text (OpenTofu's
// stderr, an HTTP body) and its outputs are not the caller's to bound, and an
// outcome too big for the log would keep its step retrying for ever.
const (
	maxStepError   = 2000 // characters
	maxOutputs     = 50
	maxOutputValue = 1000 // characters
)

// bounded clips the error and the outputs to the limits above.
func (e StepOutcome) bounded() StepOutcome {
	e.Error = clip(redact(e.Error), maxStepError)
	if len(e.Outputs) > 0 {
		out := make(map[string]string, min(len(e.Outputs), maxOutputs))
		for _, k := range slices.Sorted(maps.Keys(e.Outputs))[:min(len(e.Outputs), maxOutputs)] {
			out[clip(k, maxName)] = clip(e.Outputs[k], maxOutputValue)
		}
		e.Outputs = out
	}
	return e
}

// Credentials a back end's error text may quote: a URL's password
// (scheme://user:password@host) and key=value or "key": "value" pairs whose
// key names a secret.
var (
	urlPassword = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*):[^@\s]*@`)
	secretPair  = regexp.MustCompile(`(?i)("?(?:password|passwd|secret|token|api[_-]?key|access[_-]?key|client[_-]?secret)"?\s*[=:]\s*"?)[^\s",;&]+`)
)

// redact replaces credentials in s with "***": an error recorded in an
// event is published on the topic and read by people and consumers.
func redact(s string) string {
	s = urlPassword.ReplaceAllString(s, "$1:***@")
	return secretPair.ReplaceAllString(s, "${1}***")
}

// clip shortens s to at most n characters, marking the cut with "…".
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// outcomeType parses tenant.<step>.<outcome>.
func outcomeType(eventType string) (step, outcome string, ok bool) {
	rest, found := strings.CutPrefix(eventType, "tenant.")
	if !found {
		return "", "", false
	}
	step, outcome, found = strings.Cut(rest, ".")
	if !found || !slices.Contains(outcomes, outcome) || !slices.Contains(AllSteps, step) {
		return "", "", false
	}
	return step, outcome, true
}

// ProvisioningRolledBack ends a failed attempt once every undo ran: the
// tenant is PROVISION_FAILED.
type ProvisioningRolledBack struct {
	Attempt    int    `json:"attempt"`
	FailedStep string `json:"failedStep"`
	Error      string `json:"error"`
}

// ProvisioningCancelRequested asks the running attempt to stop: the next
// step to run fails with reason "cancelled" and compensation follows.
type ProvisioningCancelRequested struct {
	Attempt int `json:"attempt"`
}

func (ProvisioningRolledBack) EventType() string      { return TypeProvisioningRolledBack }
func (ProvisioningCancelRequested) EventType() string { return TypeProvisioningCancelRequested }

// StepState is a step's progress in the current attempt.
type StepState struct {
	Step       string
	State      string // completed, skipped or failed; "" when the step has not run
	Undo       string // compensated or compensation_failed; "" when not undone
	UndoError  string
	Tries      int
	Error      string
	StartedAt  time.Time
	FinishedAt time.Time
	Resources  []Resource
	Outputs    map[string]string
	// The dns step's addressing (see StepOutcome).
	PlatformHost  string
	CustomDomains []CustomDomain
}

// ErrNotYourTurn means a step handler tried to record an outcome that is
// not due: another step is next, or the attempt is over. Handlers treat it
// as "nothing to do" (a late or duplicate delivery).
var ErrNotYourTurn = errors.New("this step is not due")

// applyStep folds a step outcome into the current attempt, or into the
// running change for a change's step.
func (t *Tenant) applyStep(e StepOutcome) {
	steps := t.steps
	if isChangeStep(e.Step) && t.change != nil {
		steps = t.change.steps
	}
	s := steps[e.Step]
	if s == nil {
		s = &StepState{Step: e.Step}
		steps[e.Step] = s
	}
	switch e.Outcome {
	case OutcomeCompensated:
		s.Undo, s.UndoError, s.Resources = e.Outcome, "", nil
		// The undo found and removed what the step names for this tenant:
		// whatever an earlier failed undo of it left is gone as well.
		t.orphans = slices.DeleteFunc(t.orphans, func(o Resource) bool { return o.Step == e.Step })
	case OutcomeCompensationFailed:
		s.Undo, s.UndoError = e.Outcome, e.Error
		orphaned := t.stepResources(s)
		if len(orphaned) == 0 { // the failed undo may name what may be left
			orphaned = t.stepResources(&StepState{Step: e.Step, Resources: e.Resources, FinishedAt: e.At})
		}
		if len(orphaned) == 0 && !t.hasOrphans(e.Step) { // a failed step may have made something it could not report
			orphaned = []Resource{{Step: e.Step, Kind: UnknownResource, ID: "see the step's error", TenantID: t.id, CreatedAt: e.At}}
		}
		for _, r := range orphaned {
			if !slices.ContainsFunc(t.orphans, r.same) {
				t.orphans = append(t.orphans, r)
			}
		}
	default:
		s.State, s.Tries, s.Error, s.StartedAt, s.FinishedAt = e.Outcome, e.Tries, e.Error, e.StartedAt, e.At
		s.Resources, s.Outputs = slices.Clone(e.Resources), maps.Clone(e.Outputs)
		s.PlatformHost, s.CustomDomains = e.PlatformHost, slices.Clone(e.CustomDomains)
		// A resource this attempt made again is the tenant's own again, no
		// longer left over.
		if slices.Contains(UndoableSteps, e.Step) {
			made := t.stepResources(s)
			t.orphans = slices.DeleteFunc(t.orphans, func(o Resource) bool { return slices.ContainsFunc(made, o.same) })
		}
	}
}

// UnknownResource is the kind of the orphan recorded when an undo failed
// for a step that had reported nothing: something may be left, and the
// step's error says what.
const UnknownResource = "unknown"

// same reports whether r and o name the same resource.
func (r Resource) same(o Resource) bool { return r.Step == o.Step && r.Kind == o.Kind && r.ID == o.ID }

// stepResources are what step state s reported, with its step, the
// tenant's id and the time the step finished.
func (t *Tenant) stepResources(s *StepState) []Resource {
	out := make([]Resource, 0, len(s.Resources))
	for _, r := range s.Resources {
		if r.Step == "" {
			r.Step = s.Step
		}
		if r.TenantID == "" {
			r.TenantID = t.id
		}
		if r.CreatedAt.IsZero() {
			r.CreatedAt = s.FinishedAt
		}
		out = append(out, r)
	}
	return out
}

// SortResources puts resources in one order wherever they are listed: by
// the step's place in the flow, then kind and id.
func SortResources(rs []Resource) {
	place := func(step string) int {
		if i := slices.Index(Steps, step); i >= 0 {
			return i
		}
		return len(Steps)
	}
	slices.SortStableFunc(rs, func(a, b Resource) int {
		if d := place(a.Step) - place(b.Step); d != 0 {
			return d
		}
		if a.Kind != b.Kind {
			return strings.Compare(a.Kind, b.Kind)
		}
		return strings.Compare(a.ID, b.ID)
	})
}

func (t *Tenant) state(step string) string {
	if s := t.steps[step]; s != nil {
		return s.State
	}
	return ""
}

// NextStep is the step whose turn it is: the first one without an outcome,
// when every one before it completed or was skipped and the attempt is
// neither failing nor over; once the tenant is ACTIVE, the first step that
// follows activation (ActiveSteps: billing) without an outcome.
func (t *Tenant) NextStep() (string, bool) {
	if t.changeRunning() {
		return t.nextChangeStep()
	}
	if t.status == StatusActive && t.state(StepActivate) == OutcomeCompleted {
		for _, step := range ActiveSteps {
			if t.state(step) == "" {
				return step, true
			}
		}
		return "", false
	}
	if t.status != StatusProvisioning || t.rollingBack {
		return "", false
	}
	return firstDue(Steps, t.state)
}

// firstDue is the first of steps without an outcome, when every one before
// it completed or was skipped (a failed one ends the run: none is due).
func firstDue(steps []string, state func(string) string) (string, bool) {
	for _, step := range steps {
		switch state(step) {
		case OutcomeCompleted, OutcomeSkipped:
			continue
		case "":
			return step, true
		default:
			return "", false
		}
	}
	return "", false
}

// CancelRequested reports whether the running attempt was asked to stop.
func (t *Tenant) CancelRequested() bool { return t.cancelRequested }

// RecordStep records the outcome of the step whose turn it is. Activation's
// success is not a StepOutcome: use Activate.
func (t *Tenant) RecordStep(e StepOutcome) ([]Event, error) {
	e = e.bounded()
	if next, ok := t.NextStep(); !ok || next != e.Step {
		return nil, ErrNotYourTurn
	}
	if !slices.Contains([]string{OutcomeCompleted, OutcomeSkipped, OutcomeFailed}, e.Outcome) ||
		(e.Step == StepActivate && e.Outcome != OutcomeFailed) {
		return nil, fmt.Errorf("step %s cannot end %q", e.Step, e.Outcome)
	}
	e.Attempt = t.attempt
	t.apply(e)
	if isChangeStep(e.Step) {
		return append([]Event{e}, t.changeCompletes(e)...), nil
	}
	return []Event{e}, nil
}

// FailureDue reports whether a step failed and its compensation has not
// started: a provisioning attempt's, or a change's. Key is the id key of
// the event Fail appends.
func (t *Tenant) FailureDue() (key string, due bool) {
	if _, _, failed := t.changeFailure(); failed {
		return t.changeKey() + "/failed", true
	}
	if _, _, failed := t.FailedStep(); failed && t.status == StatusProvisioning && !t.Undoing() {
		return fmt.Sprintf("%s/%d/failed", t.id, t.attempt), true
	}
	return "", false
}

// Fail starts the compensation FailureDue reports: a change's failure, or
// provisioning.failed.
func (t *Tenant) Fail() ([]Event, error) {
	if step, reason, failed := t.changeFailure(); failed {
		e := ChangeFailed{Change: t.change.kind, Round: t.change.round, FailedStep: step, Error: reason}
		t.apply(e)
		return []Event{e}, nil
	}
	return t.FailProvisioning()
}

// FailedStep is the step that failed in the current attempt, if one did.
func (t *Tenant) FailedStep() (step, reason string, ok bool) {
	for _, s := range Steps {
		if st := t.steps[s]; st != nil && st.State == OutcomeFailed {
			return s, st.Error, true
		}
	}
	return "", "", false
}

// FailProvisioning starts compensation after a step failed.
func (t *Tenant) FailProvisioning() ([]Event, error) {
	step, reason, failed := t.FailedStep()
	if t.status != StatusProvisioning || t.rollingBack || !failed {
		return nil, ErrNotYourTurn
	}
	e := ProvisioningFailed{Attempt: t.attempt, FailedStep: step, Error: reason}
	t.apply(e)
	return []Event{e}, nil
}

// Undoing reports whether the tenant is rolling back an attempt or being
// deprovisioned: the phases in which undo actions run.
func (t *Tenant) Undoing() bool {
	return (t.status == StatusProvisioning && t.rollingBack) || t.status == StatusDeprovisioning || t.retryingUndos ||
		(t.change != nil && t.change.rollingBack)
}

// NextUndo is the step whose undo is due: in reverse order, the latest step
// that completed, or that failed (it may have made part of its resources),
// or that holds orphans from an earlier attempt's failed undo (so a
// rollback, a retry and a deprovisioning cover every attempt's leftovers).
func (t *Tenant) NextUndo() (string, bool) {
	if t.change != nil && t.change.rollingBack {
		return t.nextChangeUndo()
	}
	if !t.Undoing() {
		return "", false
	}
	for i := len(UndoableSteps) - 1; i >= 0; i-- {
		s := UndoableSteps[i]
		st := t.steps[s]
		if st == nil {
			if t.hasOrphans(s) {
				return s, true
			}
			continue
		}
		if st.Undo == "" && (st.State == OutcomeCompleted || st.State == OutcomeFailed || t.hasOrphans(s)) {
			return s, true
		}
	}
	return "", false
}

// RecordUndo records the outcome of the undo whose turn it is.
func (t *Tenant) RecordUndo(e StepOutcome) ([]Event, error) {
	e = e.bounded()
	if next, ok := t.NextUndo(); !ok || next != e.Step {
		return nil, ErrNotYourTurn
	}
	if e.Outcome != OutcomeCompensated && e.Outcome != OutcomeCompensationFailed {
		return nil, fmt.Errorf("an undo cannot end %q", e.Outcome)
	}
	e.Attempt = t.attempt
	t.apply(e)
	return []Event{e}, nil
}

// FinishUndo ends the undo phase once nothing is left to undo: a rolled-back
// attempt becomes PROVISION_FAILED, a deprovisioned tenant INACTIVE.
func (t *Tenant) FinishUndo() ([]Event, error) {
	if _, pending := t.NextUndo(); pending || !t.Undoing() {
		return nil, ErrNotYourTurn
	}
	if c := t.change; c != nil && c.rollingBack {
		e := ChangeRolledBack{Change: c.kind, Round: c.round, FailedStep: c.failedStep, Error: c.err}
		t.apply(e)
		return []Event{e}, nil
	}
	if t.retryingUndos {
		e := UndoRetryFinished{Round: t.undoRound}
		t.apply(e)
		return []Event{e}, nil
	}
	if t.status == StatusDeprovisioning {
		return t.Deactivate()
	}
	step, reason, _ := t.FailedStep()
	return t.move(StatusProvisionFailed, ProvisioningRolledBack{Attempt: t.attempt, FailedStep: step, Error: reason})
}

// RequestCancel asks the running attempt to stop.
func (t *Tenant) RequestCancel() ([]Event, error) {
	if t.status != StatusProvisioning || t.rollingBack {
		return nil, &TransitionError{TenantID: t.id, From: t.status, To: StatusProvisionFailed}
	}
	if t.cancelRequested {
		return nil, nil // asked already: nothing new
	}
	e := ProvisioningCancelRequested{Attempt: t.attempt}
	t.apply(e)
	return []Event{e}, nil
}

// StepStates lists the current attempt's steps in order, notify last, each
// with its state ("" when it has not run).
func (t *Tenant) StepStates() []StepState {
	out := make([]StepState, 0, len(Steps)+1)
	for _, s := range ProvisioningSteps {
		if st := t.steps[s]; st != nil {
			c := *st
			c.Resources = slices.Clone(st.Resources)
			out = append(out, c)
			continue
		}
		out = append(out, StepState{Step: s})
	}
	return out
}

// Resources lists what the current attempt's steps created and no undo
// removed or gave up on (those are Orphans: the two lists never share a
// resource), each with the tenant's id and the time its step finished, in
// SortResources order. The projections answer with the same definition.
func (t *Tenant) Resources() []Resource {
	var out []Resource
	for _, s := range UndoableSteps {
		if st := t.steps[s]; st != nil && st.Undo != OutcomeCompensationFailed {
			out = append(out, t.stepResources(st)...)
		}
	}
	SortResources(out)
	return out
}

// Outputs are the outputs a step recorded in the current attempt.
func (t *Tenant) Outputs(step string) map[string]string {
	if s := t.steps[step]; s != nil {
		return maps.Clone(s.Outputs)
	}
	return nil
}

// Addressing is what the current attempt's dns step recorded: the tenant's
// platform name and its custom domains with the records the customer must
// create ("" and nil before the step ran, or when it is not configured).
func (t *Tenant) Addressing() (platformHost string, custom []CustomDomain) {
	if s := t.steps[StepDNS]; s != nil && s.State == OutcomeCompleted {
		return s.PlatformHost, slices.Clone(s.CustomDomains)
	}
	return "", nil
}

// Orphans lists what an undo could not remove, in any attempt, and no later
// attempt made again: an operator must. A failed undo of a step that had
// reported nothing leaves one orphan of kind UnknownResource. In
// SortResources order.
func (t *Tenant) Orphans() []Resource {
	out := slices.Clone(t.orphans)
	SortResources(out)
	return out
}

// Settled reports whether the tenant's flow has nothing running or due:
// it is not provisioning, rolling back or being deprovisioned, no step
// follows its activation or belongs to a running change, no failure waits
// for its compensation, no mail and no domains' reconciliation is due. A
// settled tenant changes only when asked to (a command, a schedule); until
// then each of its events is the next step's trigger.
func (t *Tenant) Settled() bool {
	if t.status == StatusProvisioning || t.status == StatusDeprovisioning || t.Undoing() || t.NotificationDue() {
		return false
	}
	_, step := t.NextStep()
	_, fail := t.FailureDue()
	_, _, reconcile := t.DomainsReconcileDue()
	return !step && !fail && !reconcile
}

// NotificationDue reports whether the attempt's mail (welcome after
// activation, failure notice after rollback) has not been recorded yet.
func (t *Tenant) NotificationDue() bool {
	if t.status != StatusActive && t.status != StatusProvisionFailed {
		return false
	}
	return t.state(StepNotify) == "" && t.attempt > 0
}

// NotificationReady reports whether the attempt's mail is due now: the
// welcome mail follows the steps after activation (billing), whatever
// their outcome.
func (t *Tenant) NotificationReady() bool {
	if next, ok := t.NextStep(); ok && slices.Contains(ActiveSteps, next) {
		return false
	}
	return t.NotificationDue()
}

// RecordNotification records the outcome of the attempt's mail.
func (t *Tenant) RecordNotification(e StepOutcome) ([]Event, error) {
	e = e.bounded()
	if !t.NotificationReady() || e.Step != StepNotify {
		return nil, ErrNotYourTurn
	}
	e.Attempt = t.attempt
	t.apply(e)
	return []Event{e}, nil
}
