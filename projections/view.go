package projections

import (
	"time"

	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/platform/pii"
)

// TenantView is a tenant as the API shows it (GET /tenants/{id}, and the
// answers of the commands that change one). It lives with the read side
// because the documents projection stores it rendered: the answer the API
// gives from the log's fold and the one it gives from the projection are
// one rendering of one fold.
type TenantView struct {
	ID         string `json:"id"`
	Key        string `json:"key"`
	Name       string `json:"name"`
	Status     string `json:"status"`
	StatusCode int    `json:"statusCode"`
	// The members that hold personal data: nil only in a rendering kept
	// without them (the documents projection's).
	*TenantPersonal
	Domains []string `json:"domains"`
	// Source is how the tenant came (ARC's onboarding field).
	Source    string            `json:"source,omitempty"`
	Plan      *domain.Plan      `json:"plan,omitempty"`
	Attempt   int               `json:"attempt"`
	LastError string            `json:"lastError,omitempty"`
	Steps     []StepView        `json:"steps"`
	Resources []domain.Resource `json:"resources"`
	// Orphans are resources an undo could not remove: an operator must.
	Orphans []domain.Resource `json:"orphans,omitempty"`
	// PlatformHost is the tenant's name in the platform's zone (set by the
	// dns step); CustomDomains are its own domains outside that zone, each
	// with the CNAME and TXT records the customer must create.
	PlatformHost  string                `json:"platformHost,omitempty"`
	CustomDomains []domain.CustomDomain `json:"customDomains,omitempty"`
	Version       int64                 `json:"version"`
}

// TenantPersonal are the members of a tenant's view that hold personal
// data, sealed in the log and the projections.
type TenantPersonal struct {
	Contact domain.Contact `json:"contact"` // the primary contact
	// Contacts are every contact, the primary first.
	Contacts []domain.TenantContact `json:"contacts"`
	// Address is the owner's (ARC's onboarding field), as the tenant was
	// created.
	Address *domain.Address `json:"address,omitempty"`
}

// Fields are the view's sealed members (pii.PersonalFields): the
// contact's, every contact's and the address's.
func (v *TenantPersonal) Fields() []*string {
	fields := pii.ContactFields(&v.Contact)
	for i := range v.Contacts {
		fields = append(fields, pii.ContactFields(&v.Contacts[i].Contact)...)
	}
	if v.Address != nil {
		fields = append(fields, pii.AddressFields(v.Address)...)
	}
	return fields
}

// StepView is one step's progress in the latest attempt: state is pending,
// completed, skipped or failed; undo is set once compensation or
// deprovisioning undid the step (compensated or compensation_failed).
type StepView struct {
	Step       string     `json:"step"`
	State      string     `json:"state"`
	Undo       string     `json:"undo,omitempty"`
	UndoError  string     `json:"undoError,omitempty"`
	StartedAt  *time.Time `json:"startedAt,omitempty"`
	FinishedAt *time.Time `json:"finishedAt,omitempty"`
	Attempts   int        `json:"attempts"`
	Error      string     `json:"error,omitempty"`
}

// ViewOf is the view of the tenant t folds to.
func ViewOf(t *domain.Tenant) TenantView {
	v := TenantView{ID: t.ID(), Key: t.Key(), Name: t.Name(), Status: t.Status().String(), StatusCode: int(t.Status()),
		TenantPersonal: &TenantPersonal{Contact: t.Contact(), Contacts: t.Contacts()}, Domains: t.Domains(), Attempt: t.Attempt(),
		LastError: t.LastFailure(), Version: t.Version(), Source: t.Source()}
	if a := t.Address(); a != (domain.Address{}) {
		v.Address = &a
	}
	if sub, ok := t.Subscription(); ok {
		v.Plan = &sub.Plan
	}
	if v.Domains == nil {
		v.Domains = []string{}
	}
	v.Steps, v.Resources, v.Orphans = StepViews(t.StepStates()), t.Resources(), t.Orphans()
	v.PlatformHost, v.CustomDomains = t.Addressing()
	if v.Resources == nil {
		v.Resources = []domain.Resource{}
	}
	return v
}

// StepViews are the views of a tenant's steps, in the order given.
func StepViews(states []domain.StepState) []StepView {
	out := []StepView{}
	for _, s := range states {
		sv := StepView{Step: s.Step, State: s.State, Undo: s.Undo, UndoError: s.UndoError, Attempts: s.Tries, Error: s.Error}
		if sv.State == "" {
			sv.State = "pending"
		}
		if !s.StartedAt.IsZero() {
			sv.StartedAt, sv.FinishedAt = &s.StartedAt, &s.FinishedAt
		}
		out = append(out, sv)
	}
	return out
}
