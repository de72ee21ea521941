package domain

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// TenantInput is a tenant as an operator (or a verified lead) asks for it,
// with ARC's onboarding fields: the owner's address flat in the body
// (address, city, state, zip, country) and the acquisition source.
type TenantInput struct {
	Key     string   `json:"key"`
	Name    string   `json:"name"`
	Contact Contact  `json:"contact"`
	Domains []string `json:"domains,omitempty"`
	Address
	Source string `json:"source,omitempty"`
}

// KeyTakenError rejects a tenant whose key another tenant holds.
type KeyTakenError struct {
	Key, TenantID string
}

func (e *KeyTakenError) Error() string {
	return fmt.Sprintf("tenant key %q is taken by tenant %s", e.Key, e.TenantID)
}

// Tenant is a customer's tenant. Its status only moves along the status
// machine (transitions), and only through its events.
type Tenant struct {
	id           string
	key          string
	name         string
	contact      Contact
	domains      []string
	leadID       string
	address      Address
	source       string
	status       Status
	attempt      int
	subscription *Subscription
	isolation    string
	identity     string
	lastFailure  string
	version      int64

	// The current attempt's progress (reset by each provisioning request).
	steps           map[string]*StepState
	rollingBack     bool
	retryingUndos   bool // an UndoRetryRequested's undos are running
	undoRound       int  // see UndoRound
	cancelRequested bool
	orphans         []Resource
	deployment      *DeploymentRequested
	deploymentUndo  *DeploymentUndoRequested
	contacts        []TenantContact // the primary first; contact is its Contact
	pendingDomains  *pendingDomains
	invoices        []InvoiceCreated
	change          *changeState          // the latest change of the live tenant
	expiry          expiryState           // the current subscription's expiry
	offboarding     *OffboardingRequested // a DELETE kept for its retention period
}

// NewTenant validates the input and returns the tenant with its first event,
// in status PENDING_PROVISION. leadID is empty for tenants created by operators.
func NewTenant(id, leadID string, in TenantInput) (*Tenant, []Event, error) {
	p := problems{}
	checkKey(p, "key", in.Key)
	name := checkText(p, "name", in.Name, maxCompany, false)
	c := checkContact(p, "contact.", in.Contact)
	domains := checkDomains(p, "domains", in.Domains)
	address := checkAddress(p, "", in.Address)
	source := checkText(p, "source", in.Source, maxName, true)
	if err := p.err(); err != nil {
		return nil, nil, err
	}
	if id == "" {
		return nil, nil, errors.New("new tenant: id is required") // a programming error
	}
	e := TenantCreated{TenantID: id, Key: in.Key, Name: name, Contact: c, Domains: domains, LeadID: leadID,
		Address: address.orNil(), Source: source}
	t := &Tenant{steps: map[string]*StepState{}}
	t.apply(e)
	return t, []Event{e}, nil
}

// RehydrateTenant folds a tenant's history; ErrNotFound when there is none.
func RehydrateTenant(history []Event) (*Tenant, error) {
	if len(history) == 0 {
		return nil, ErrNotFound
	}
	t := &Tenant{steps: map[string]*StepState{}}
	for _, e := range history {
		if err := t.apply(e); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func (t *Tenant) apply(e Event) error {
	switch e := deref(e).(type) {
	case TenantCreated:
		t.id, t.key, t.name, t.contact, t.leadID, t.source = e.TenantID, e.Key, e.Name, e.Contact, e.LeadID, e.Source
		if e.Address != nil {
			t.address = *e.Address
		}
		t.contacts = []TenantContact{{Contact: e.Contact, Primary: true}}
		t.domains = slices.Clone(e.Domains)
		t.status = StatusPendingProvision
	case ProvisioningRequested:
		t.status, t.attempt, t.lastFailure = StatusProvisioning, e.Attempt, ""
		sub := e.Subscription
		t.subscription, t.isolation, t.identity = &sub, e.Isolation, e.Identity
		t.steps, t.rollingBack, t.cancelRequested = map[string]*StepState{}, false, false
		t.applyExpiry(e)
		t.applyOffboarding(e)
	case StepOutcome:
		t.applyStep(e)
	case TenantActivated:
		t.status = StatusActive
		t.steps[StepActivate] = &StepState{Step: StepActivate, State: OutcomeCompleted}
	case ProvisioningFailed:
		t.rollingBack, t.lastFailure = true, e.FailedStep+": "+e.Error
	case ProvisioningCancelRequested:
		t.cancelRequested = true
	case DeploymentRequested:
		d := e
		t.deployment = &d
	case DeploymentUndoRequested:
		d := e
		t.deploymentUndo = &d
	case UndoRetryRequested:
		t.resetUndos(e.Steps, e.Round)
		t.retryingUndos = true
	case UndoRetryFinished:
		t.retryingUndos = false
	case OrphanForgotten:
		o := Resource{Step: e.Step, Kind: e.Kind, ID: e.ID}
		t.orphans = slices.DeleteFunc(t.orphans, o.same)
	case ProvisioningRolledBack:
		t.status, t.rollingBack = StatusProvisionFailed, false
	case DeprovisioningRequested:
		t.status = StatusDeprovisioning
		t.applyOffboarding(e)
		if len(e.RetryUndos) > 0 {
			t.resetUndos(e.RetryUndos, e.Round)
		}
	case TenantDeactivated:
		t.status = StatusInactive
	case TenantUpdated:
		t.applyUpdated(e)
	case DomainsReconciled:
		t.applyReconciled(e)
	case InvoiceCreated:
		t.invoices = append(t.invoices, e)
	case ChangeRequested, ChangeCompleted, ChangeFailed, ChangeRolledBack:
		t.applyChange(e)
		t.applyExpiry(e)
	case ExpiryWarned:
		t.applyExpiry(e)
	case OffboardingRequested, OffboardingCancelled:
		t.applyOffboarding(e)
	case AppPlaneRequested: // told; nothing of the tenant's state changes
	default:
		return fmt.Errorf("tenant %s: unexpected event %s", t.id, e.EventType())
	}
	t.version++
	return nil
}

// move checks a transition and applies its event. No status moves while
// failed undos are being retried (their handlers act on this attempt).
func (t *Tenant) move(to Status, e Event) ([]Event, error) {
	if t.retryingUndos {
		return nil, fmt.Errorf("%w: tenant %s", ErrUndoRunning, t.id)
	}
	if !CanMove(t.status, to) {
		return nil, &TransitionError{TenantID: t.id, From: t.status, To: to}
	}
	t.apply(e)
	return []Event{e}, nil
}

// RequestProvisioning starts a provisioning attempt: from PENDING_PROVISION,
// or from PROVISION_FAILED as a new attempt. The plan's tier must be one of
// tiers; the isolation model it maps to is recorded with the request.
func (t *Tenant) RequestProvisioning(sub Subscription, tiers Tiers) ([]Event, error) {
	sub, err := validateSubscription(sub, tiers)
	if err != nil {
		return nil, err
	}
	return t.move(StatusProvisioning, ProvisioningRequested{Attempt: t.attempt + 1, Subscription: sub,
		Isolation: tiers[sub.Plan.Tier].Isolation, Identity: tiers[sub.Plan.Tier].Identity})
}

// Activate ends the attempt successfully once every step before activation
// completed or was skipped.
func (t *Tenant) Activate() ([]Event, error) {
	if next, ok := t.NextStep(); !ok || next != StepActivate || t.cancelRequested {
		if t.status != StatusProvisioning {
			return nil, &TransitionError{TenantID: t.id, From: t.status, To: StatusActive}
		}
		return nil, ErrNotYourTurn
	}
	return t.move(StatusActive, TenantActivated{Attempt: t.attempt})
}

// RequestDeprovisioning starts offboarding: the undo of every step that
// made something, in reverse order, then INACTIVE.
//
// Deprovisioning a rolled-back tenant runs its failed undos again first
// (RetryUndos, Round): offboarding should leave nothing behind, and the
// orphans are what was left.
func (t *Tenant) RequestDeprovisioning(reason string) ([]Event, error) {
	if t.changeRunning() {
		return nil, ErrChangeRunning
	}
	e := DeprovisioningRequested{Reason: reason}
	if t.status == StatusProvisionFailed && !t.Undoing() {
		if e.RetryUndos = t.failedUndos(); len(e.RetryUndos) > 0 {
			e.Round = t.undoRound + 1
		}
	}
	return t.move(StatusDeprovisioning, e)
}

// Deactivate ends offboarding (through FinishUndo). The tenant keeps its key for good.
func (t *Tenant) Deactivate() ([]Event, error) {
	if _, pending := t.NextUndo(); pending {
		return nil, ErrNotYourTurn
	}
	return t.move(StatusInactive, TenantDeactivated{})
}

// validateSubscription checks s and its plan (under "plan."), and returns
// it as it is recorded: the plan's text trimmed, null JSON absent.
func validateSubscription(s Subscription, tiers Tiers) (Subscription, error) {
	p := problems{}
	checkText(p, "id", s.ID, maxName, false)
	checkText(p, "subscriberId", s.SubscriberID, maxName, false)
	checkText(p, "planId", s.PlanID, maxName, false)
	checkText(p, "invoiceId", s.InvoiceID, maxName, true)
	if s.StartDate.IsZero() {
		p.add("startDate", "is required")
	}
	if !s.EndDate.IsZero() && !s.EndDate.After(s.StartDate) {
		p.add("endDate", "must be after startDate")
	}
	if s.Plan.ID != "" && s.PlanID != "" && s.Plan.ID != s.PlanID {
		p.add("plan.id", "must equal planId")
	}
	s.Plan = checkPlan(p, "plan.", s.Plan, tiers)
	return s, p.err()
}

func (t *Tenant) ID() string  { return t.id }
func (t *Tenant) Key() string { return t.key }

// RealmPrefix starts the name of every tenant's own Keycloak realm.
const RealmPrefix = "tenant-"

// RealmName is the tenant's own realm (the realm identity model),
// tenant-<key>, as the design fixes it.
func (t *Tenant) RealmName() string { return RealmPrefix + t.key }

// ClientName is the tenant's application client, <key>-app.
func (t *Tenant) ClientName() string { return t.key + "-app" }
func (t *Tenant) Name() string       { return t.name }
func (t *Tenant) Contact() Contact   { return t.contact }

// WithContacts is a copy of t with the primary contact and the contacts
// given: the same people with their personal fields opened (the log keeps
// them sealed, platform/pii), for the steps that mail or register them.
func (t *Tenant) WithContacts(primary Contact, all []TenantContact) *Tenant {
	c := *t
	c.contact, c.contacts = primary, all
	return &c
}
func (t *Tenant) Domains() []string { return slices.Clone(t.domains) }
func (t *Tenant) LeadID() string    { return t.leadID }

// Address is the owner's address as the tenant was created with it (its
// personal fields sealed, as the log keeps them).
func (t *Tenant) Address() Address { return t.address }

// Source is how the tenant came, in the client's words.
func (t *Tenant) Source() string      { return t.source }
func (t *Tenant) Status() Status      { return t.status }
func (t *Tenant) Attempt() int        { return t.attempt }
func (t *Tenant) LastFailure() string { return t.lastFailure }

// Isolation is the isolation model of the latest attempt's plan tier.
func (t *Tenant) Isolation() string { return t.isolation }

// Identity is the identity model of the latest attempt's plan tier
// (IdentityRealm or IdentityOrganization; a tenant never provisioned has
// none yet).
func (t *Tenant) Identity() string { return t.identity }
func (t *Tenant) Version() int64   { return t.version }

// Subscription is the subscription of the latest provisioning attempt, if any.
func (t *Tenant) Subscription() (Subscription, bool) {
	if t.subscription == nil {
		return Subscription{}, false
	}
	return *t.subscription, true
}

// nullToNil drops a JSON null, so that an absent object is recorded as absent.
func nullToNil(raw json.RawMessage) json.RawMessage {
	if v := bytes.TrimSpace(raw); len(v) == 0 || string(v) == "null" {
		return nil
	}
	return raw
}
