package domain

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Lead errors, matched with errors.Is / errors.As by the API.
var (
	// ErrTokenInvalid means the verification token is wrong, or already spent.
	ErrTokenInvalid = errors.New("verification token is invalid or already used")
	// ErrLeadNotVerified means the lead has not confirmed its email address yet.
	ErrLeadNotVerified = errors.New("lead has not verified its email address")
	// ErrNotFound means no such lead or tenant (its stream has no events).
	ErrNotFound = errors.New("not found")
)

// LeadHasTenantError reports that the lead already has its (one) tenant.
type LeadHasTenantError struct {
	LeadID, TenantID string
}

func (e *LeadHasTenantError) Error() string {
	return fmt.Sprintf("lead %s already has tenant %s", e.LeadID, e.TenantID)
}

// LeadInput is a sign-up as a client sends it: ARC's lead body, whose
// address is an object, or tenantflow's first form, whose address is the
// street line alone (AddressInput takes both).
type LeadInput struct {
	FirstName          string       `json:"firstName"`
	LastName           string       `json:"lastName"`
	Email              string       `json:"email"`
	CommunicationEmail string       `json:"communicationEmail,omitempty"`
	CompanyName        string       `json:"companyName"`
	Address            AddressInput `json:"address,omitempty"`
}

// AddressInput is an Address sent as ARC's object or as a single string
// (the street line, as tenantflow's leads took it first). The object is
// read as strictly as the body around it: an unknown member is an error.
type AddressInput Address

func (a *AddressInput) UnmarshalJSON(b []byte) error {
	var line string
	if json.Unmarshal(b, &line) == nil {
		*a = AddressInput{Address: line}
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var v Address
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("address must be a string or an object of address, city, state, zip and country: %w", err)
	}
	*a = AddressInput(v)
	return nil
}

// Lead is a sign-up on its way to becoming a tenant. Its state is the fold
// of its events: whether it has a tenant is known, not guessed from a join.
type Lead struct {
	id          string
	contact     Contact
	companyName string
	address     Address
	tokenHash   string
	verified    bool
	tenantID    string
	version     int64
}

// NewLead validates a sign-up and returns the lead with its first event.
// tokenHash is the hash of the one-time verification token (never the token).
func NewLead(id string, in LeadInput, tokenHash string, now time.Time) (*Lead, []Event, error) {
	p := problems{}
	c := checkContact(p, "", Contact{FirstName: in.FirstName, LastName: in.LastName, Email: in.Email, CommunicationEmail: in.CommunicationEmail})
	company := checkText(p, "companyName", in.CompanyName, maxCompany, false)
	address := checkAddress(p, "address.", Address(in.Address))
	if err := p.err(); err != nil {
		return nil, nil, err
	}
	if id == "" || tokenHash == "" {
		return nil, nil, errors.New("new lead: id and token hash are required") // a programming error
	}
	e := LeadCreated{LeadID: id, Contact: c, CompanyName: company, Address: address.orNil(), TokenHash: tokenHash, At: now.UTC()}
	l := &Lead{}
	l.apply(e)
	return l, []Event{e}, nil
}

// RehydrateLead folds a lead's history; ErrNotFound when there is none.
func RehydrateLead(history []Event) (*Lead, error) {
	if len(history) == 0 {
		return nil, ErrNotFound
	}
	l := &Lead{}
	for _, e := range history {
		if err := l.apply(e); err != nil {
			return nil, err
		}
	}
	return l, nil
}

func (l *Lead) apply(e Event) error {
	switch e := deref(e).(type) {
	case LeadCreated:
		l.id, l.contact, l.companyName, l.tokenHash = e.LeadID, e.Contact, e.CompanyName, e.TokenHash
		if e.Address != nil {
			l.address = *e.Address
		}
	case LeadVerified:
		l.verified = true
	case LeadTenantAssigned:
		l.tenantID = e.TenantID
	default:
		return fmt.Errorf("lead %s: unexpected event %s", l.id, e.EventType())
	}
	l.version++
	return nil
}

// Verify spends the one-time token. tokenHash is the hash of what the
// client presented; it is compared in constant time.
func (l *Lead) Verify(tokenHash string, now time.Time) ([]Event, error) {
	if l.verified || subtle.ConstantTimeCompare([]byte(tokenHash), []byte(l.tokenHash)) != 1 {
		return nil, ErrTokenInvalid
	}
	e := LeadVerified{At: now.UTC()}
	l.apply(e)
	return []Event{e}, nil
}

func (l *Lead) ID() string       { return l.id }
func (l *Lead) Contact() Contact { return l.contact }

// Address is the lead's address (its personal fields sealed, as the log
// keeps them).
func (l *Lead) Address() Address { return l.address }

// WithPerson is a copy of l with contact c and address a: the same person
// with the personal fields opened (the log keeps them sealed,
// platform/pii), so that a tenant made from the lead validates and records
// them.
func (l *Lead) WithPerson(c Contact, a Address) *Lead {
	cp := *l
	cp.contact, cp.address = c, a
	return &cp
}
func (l *Lead) CompanyName() string { return l.companyName }
func (l *Lead) Verified() bool      { return l.verified }
func (l *Lead) TenantID() string    { return l.tenantID }
func (l *Lead) Version() int64      { return l.version }

// LeadTenantInput is what a verified lead sends to create its tenant (ARC's
// onboarding body without its contact); the contact comes from the lead,
// the name defaults to its company name and the address to the lead's.
type LeadTenantInput struct {
	Key     string   `json:"key"`
	Name    string   `json:"name,omitempty"`
	Domains []string `json:"domains,omitempty"`
	Address
	Source string `json:"source,omitempty"`
}

// CreateTenant creates the lead's one tenant: it returns the tenant with its
// first events and the lead's own events (the assignment), which must be
// appended together. The lead's state is checked before the input, so a lead
// that already has a tenant hears so whatever it sent.
func (l *Lead) CreateTenant(tenantID string, in LeadTenantInput) (*Tenant, []Event, []Event, error) {
	if !l.verified {
		return nil, nil, nil, ErrLeadNotVerified
	}
	if l.tenantID != "" {
		return nil, nil, nil, &LeadHasTenantError{LeadID: l.id, TenantID: l.tenantID}
	}
	name := in.Name
	if name == "" {
		name = l.companyName
	}
	address := in.Address
	if address == (Address{}) {
		address = l.address
	}
	t, tenantEvents, err := NewTenant(tenantID, l.id, TenantInput{Key: in.Key, Name: name, Contact: l.contact, Domains: in.Domains,
		Address: address, Source: in.Source})
	if err != nil {
		return nil, nil, nil, err
	}
	assigned := LeadTenantAssigned{TenantID: tenantID}
	l.apply(assigned)
	return t, tenantEvents, []Event{assigned}, nil
}
