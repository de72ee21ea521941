package domain

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Tenant management after creation (the replaced system's UpdateTenant,
// 10205): the name, the contacts (several, exactly one primary) and the
// domains. A domain change on an ACTIVE tenant is choreographed: the
// update is recorded, and the steps whose work depends on the domains (the
// realm client's redirects, the DNS records) reconcile and record
// tenant.domains.reconciled; nothing else runs again.
const (
	TypeTenantUpdated     = "tenant.updated"
	TypeDomainsReconciled = "tenant.domains.reconciled"
)

// TenantContact is one of a tenant's contacts; exactly one is primary (the
// one the tenant's mails go to).
type TenantContact struct {
	Contact
	Primary bool `json:"primary"`
}

// TenantUpdate is a PATCH: nil fields stay as they are.
type TenantUpdate struct {
	Name     *string          `json:"name,omitempty"`
	Contacts *[]TenantContact `json:"contacts,omitempty"`
	Domains  *[]string        `json:"domains,omitempty"`
}

// TenantUpdated records what an update changed: only the changed fields
// are set. PreviousDomains is set with Domains, for the reconciliation.
type TenantUpdated struct {
	Name            string          `json:"name,omitempty"`
	Contacts        []TenantContact `json:"contacts,omitempty"`
	DomainsChanged  bool            `json:"domainsChanged,omitempty"`
	Domains         []string        `json:"domains,omitempty"`
	PreviousDomains []string        `json:"previousDomains,omitempty"`
	At              time.Time       `json:"at"`
}

// Reconciled is one step's part of a domain reconciliation.
type Reconciled struct {
	Step          string         `json:"step"`
	Error         string         `json:"error,omitempty"` // empty: done
	Resources     []Resource     `json:"resources,omitempty"`
	PlatformHost  string         `json:"platformHost,omitempty"`
	CustomDomains []CustomDomain `json:"customDomains,omitempty"`
}

// DomainsReconciled records that the steps depending on the domains
// followed the update recorded at stream version Update.
type DomainsReconciled struct {
	Update int64        `json:"update"`
	Steps  []Reconciled `json:"steps"`
	At     time.Time    `json:"at"`
}

func (TenantUpdated) EventType() string     { return TypeTenantUpdated }
func (DomainsReconciled) EventType() string { return TypeDomainsReconciled }

const maxContacts = 10

// ErrNotUpdatable refuses an update the tenant's status does not allow.
var ErrNotUpdatable = errors.New("not updatable now")

// Contacts lists the tenant's contacts, the primary first.
func (t *Tenant) Contacts() []TenantContact { return slices.Clone(t.contacts) }

// Update applies a PATCH: validated whole, refused (TransitionError) once
// the tenant is being or has been deprovisioned, and for the domains also
// while it is being provisioned (its steps are using them). No change, no
// event.
func (t *Tenant) Update(in TenantUpdate, at time.Time) ([]Event, error) {
	p := problems{}
	e := TenantUpdated{At: at.UTC()}
	if in.Name != nil {
		if name := checkText(p, "name", *in.Name, maxCompany, false); name != t.name {
			e.Name = name
		}
	}
	if in.Contacts != nil {
		contacts := checkContacts(p, *in.Contacts)
		if !slices.Equal(contacts, t.contacts) {
			e.Contacts = contacts
		}
	}
	if in.Domains != nil {
		domains := checkDomains(p, "domains", *in.Domains)
		if !slices.Equal(domains, t.domains) {
			e.DomainsChanged, e.Domains, e.PreviousDomains = true, domains, slices.Clone(t.domains)
		}
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	if t.status == StatusDeprovisioning || t.status == StatusInactive {
		return nil, fmt.Errorf("%w: tenant %s is %s", ErrNotUpdatable, t.id, t.status)
	}
	if e.DomainsChanged && t.status == StatusProvisioning {
		return nil, fmt.Errorf("%w: the domains of tenant %s cannot change while it is being provisioned (its steps use them); name and contacts can", ErrNotUpdatable, t.id)
	}
	if e.Name == "" && e.Contacts == nil && !e.DomainsChanged {
		return nil, nil
	}
	t.apply(e)
	return []Event{e}, nil
}

func checkContacts(p problems, in []TenantContact) []TenantContact {
	if len(in) == 0 || len(in) > maxContacts {
		p.add("contacts", "must list 1 to %d contacts", maxContacts)
		return nil
	}
	out := make([]TenantContact, 0, len(in))
	primaries, seen := 0, map[string]bool{}
	for i, c := range in {
		f := fmt.Sprintf("contacts[%d].", i)
		tc := TenantContact{Primary: c.Primary, Contact: checkContact(p, f, c.Contact)}
		if seen[strings.ToLower(tc.Email)] {
			p.add(f+"email", "is listed twice")
		}
		seen[strings.ToLower(tc.Email)] = true
		if c.Primary {
			primaries++
		}
		out = append(out, tc)
	}
	if primaries != 1 {
		p.add("contacts", "exactly one contact must be primary (%d are)", primaries)
	}
	// The primary first, the others in the order given.
	slices.SortStableFunc(out, func(a, b TenantContact) int {
		switch {
		case a.Primary == b.Primary:
			return 0
		case a.Primary:
			return -1
		}
		return 1
	})
	return out
}

// DomainsReconcileDue returns the stream version of the update whose
// domain change an ACTIVE tenant's steps have not followed yet, and the
// domains before it.
func (t *Tenant) DomainsReconcileDue() (update int64, previous []string, due bool) {
	if t.status != StatusActive || t.pendingDomains == nil {
		return 0, nil, false
	}
	return t.pendingDomains.version, slices.Clone(t.pendingDomains.previous), true
}

// UnfollowedDomains are the domains before a change the steps never
// followed (the tenant left ACTIVE first): an undo looks for its records
// under those names too. Nil when every change was followed.
func (t *Tenant) UnfollowedDomains() []string {
	if t.pendingDomains == nil {
		return nil
	}
	return slices.Clone(t.pendingDomains.previous)
}

// RecordReconciled records the reconciliation of update.
func (t *Tenant) RecordReconciled(update int64, steps []Reconciled, at time.Time) ([]Event, error) {
	if u, _, due := t.DomainsReconcileDue(); !due || u != update {
		return nil, ErrNotYourTurn
	}
	steps = slices.Clone(steps)
	for i := range steps {
		steps[i].Error = StepOutcome{Error: steps[i].Error}.bounded().Error // a back end's text, as in outcomes
	}
	e := DomainsReconciled{Update: update, Steps: steps, At: at.UTC()}
	t.apply(e)
	return []Event{e}, nil
}

// pendingDomains is a domain change an ACTIVE tenant's steps must follow.
type pendingDomains struct {
	version  int64
	previous []string
}

func (t *Tenant) applyUpdated(e TenantUpdated) {
	if e.Name != "" {
		t.name = e.Name
	}
	if e.Contacts != nil {
		t.contacts = slices.Clone(e.Contacts)
		t.contact = e.Contacts[0].Contact
	}
	if e.DomainsChanged {
		previous := slices.Clone(e.PreviousDomains)
		if t.pendingDomains != nil { // not followed yet: the steps still have the older ones
			previous = t.pendingDomains.previous
		}
		t.domains = slices.Clone(e.Domains)
		if t.status == StatusActive {
			t.pendingDomains = &pendingDomains{version: t.version + 1, previous: previous}
		}
	}
}

func (t *Tenant) applyReconciled(e DomainsReconciled) {
	t.pendingDomains = nil
	for _, r := range e.Steps {
		s := t.steps[r.Step]
		if s == nil || r.Error != "" {
			continue
		}
		if r.Resources != nil {
			s.Resources = slices.Clone(r.Resources)
			for i := range s.Resources {
				if s.Resources[i].CreatedAt.IsZero() {
					s.Resources[i].CreatedAt = e.At // made (again) now
				}
			}
			made := t.stepResources(s) // made again: the tenant's own, no longer left over
			t.orphans = slices.DeleteFunc(t.orphans, func(o Resource) bool { return slices.ContainsFunc(made, o.same) })
		}
		if r.Step == StepDNS {
			s.PlatformHost, s.CustomDomains = r.PlatformHost, slices.Clone(r.CustomDomains)
		}
	}
}
