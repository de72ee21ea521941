package domain

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func TestStatusNumbersAndNames(t *testing.T) {
	want := map[Status]string{0: "ACTIVE", 1: "PENDING_PROVISION", 2: "PROVISIONING", 3: "PROVISION_FAILED", 4: "DEPROVISIONING", 5: "INACTIVE"}
	for s, name := range want {
		if s.String() != name {
			t.Errorf("%d.String() = %s, want %s", int(s), s, name)
		}
		if got, err := ParseStatus(name); err != nil || got != s {
			t.Errorf("ParseStatus(%s) = %v, %v", name, got, err)
		}
	}
	if _, err := ParseStatus("RUNNING"); err == nil {
		t.Error("unknown status accepted")
	}
}

func TestStatusMachineAllowsOnlyListedTransitions(t *testing.T) {
	allowed := map[[2]Status]bool{
		{StatusPendingProvision, StatusProvisioning}:   true,
		{StatusPendingProvision, StatusDeprovisioning}: true,
		{StatusProvisioning, StatusActive}:             true,
		{StatusProvisioning, StatusProvisionFailed}:    true,
		{StatusProvisionFailed, StatusProvisioning}:    true,
		{StatusProvisionFailed, StatusDeprovisioning}:  true,
		{StatusActive, StatusDeprovisioning}:           true,
		{StatusDeprovisioning, StatusInactive}:         true,
	}
	for from := StatusActive; from <= StatusInactive; from++ {
		for to := StatusActive; to <= StatusInactive; to++ {
			if got := CanMove(from, to); got != allowed[[2]Status{from, to}] {
				t.Errorf("CanMove(%s, %s) = %v", from, to, got)
			}
		}
	}
}

func validTenant() TenantInput {
	return TenantInput{Key: "acme1", Name: "Acme Ltd", Contact: Contact{Email: "Ops@Example.COM", FirstName: "Ada", LastName: "Lovelace"},
		Domains: []string{"App.Acme.io", "acme.example.com"}}
}

func validSubscription() Subscription {
	return Subscription{ID: "sub-1", SubscriberID: "s-1", PlanID: "plan-1", StartDate: now, EndDate: now.AddDate(1, 0, 0),
		Plan: Plan{ID: "plan-1", Name: "Standard", Price: 10, CurrencyID: "EUR", Tier: "pooled", BillingCycleID: "monthly"}}
}

func TestNewTenantValidation(t *testing.T) {
	tests := []struct {
		name   string
		change func(*TenantInput)
		fields []string
	}{
		{"valid", func(*TenantInput) {}, nil},
		{"key upper case", func(in *TenantInput) { in.Key = "Acme" }, []string{"key"}},
		{"key starts with a digit, as ARC allows", func(in *TenantInput) { in.Key = "1acme" }, nil},
		{"key all digits", func(in *TenantInput) { in.Key = "0123456789" }, nil},
		{"ARC's owner address and source", func(in *TenantInput) {
			in.Address = Address{Address: "1 Main St", City: "Springfield", State: "IL", Zip: "62701", Country: "US"}
			in.Source = "AWS Marketplace"
		}, nil},
		{"address over two lines", func(in *TenantInput) { in.Address.Address = "1 Main St\nFlat 2" }, []string{"address"}},
		{"zip too long", func(in *TenantInput) { in.Zip = strings.Repeat("9", 21) }, []string{"zip"}},
		{"contact with ARC's communication email and type", func(in *TenantInput) {
			in.Contact.CommunicationEmail, in.Contact.Type = "billing@acme.example", "billing"
		}, nil},
		{"communication email not an address", func(in *TenantInput) { in.Contact.CommunicationEmail = "nope" }, []string{"contact.communicationEmail"}},
		{"key too long", func(in *TenantInput) { in.Key = "abcdefghijk" }, []string{"key"}},
		{"key with dash", func(in *TenantInput) { in.Key = "ac-me" }, []string{"key"}},
		{"key empty", func(in *TenantInput) { in.Key = "" }, []string{"key"}},
		{"key of 10", func(in *TenantInput) { in.Key = "a123456789" }, nil},
		{"key hostile", func(in *TenantInput) { in.Key = `a"; drop` }, []string{"key"}},
		{"no name", func(in *TenantInput) { in.Name = "  " }, []string{"name"}},
		{"name too long", func(in *TenantInput) { in.Name = strings.Repeat("x", 201) }, []string{"name"}},
		{"name two lines", func(in *TenantInput) { in.Name = "a\nb" }, []string{"name"}},
		{"bad email", func(in *TenantInput) { in.Contact.Email = "not-an-email" }, []string{"contact.email"}},
		{"email with display name", func(in *TenantInput) { in.Contact.Email = "Ada <ada@example.com>" }, []string{"contact.email"}},
		{"email without dot domain", func(in *TenantInput) { in.Contact.Email = "ada@localhost" }, []string{"contact.email"}},
		{"bad domain", func(in *TenantInput) { in.Domains = []string{"-bad-.com"} }, []string{"domains[0]"}},
		{"single-label domain", func(in *TenantInput) { in.Domains = []string{"intranet"} }, []string{"domains[0]"}},
		{"domain with path", func(in *TenantInput) { in.Domains = []string{"a.com/x"} }, []string{"domains[0]"}},
		{"repeated domain", func(in *TenantInput) { in.Domains = []string{"a.com", "A.com"} }, []string{"domains[1]"}},
		{"numeric tld", func(in *TenantInput) { in.Domains = []string{"10.0.0.1"} }, []string{"domains[0]"}},
		{"everything wrong at once", func(in *TenantInput) {
			in.Key, in.Name, in.Contact = "", "", Contact{}
		}, []string{"key", "name", "contact.email", "contact.firstName", "contact.lastName"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := validTenant()
			tt.change(&in)
			tn, evs, err := NewTenant("t-1", "", in)
			if tt.fields == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if len(evs) != 1 || tn.Status() != StatusPendingProvision {
					t.Fatalf("events %v, status %s", evs, tn.Status())
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("want a ValidationError, got %v", err)
			}
			if tn != nil || evs != nil {
				t.Fatal("an invalid request produced a tenant or events")
			}
			for _, f := range tt.fields {
				if ve.Fields[f] == "" {
					t.Errorf("field %s not reported: %v", f, ve.Fields)
				}
			}
			if len(ve.Fields) != len(tt.fields) {
				t.Errorf("reported %v, want exactly %v", ve.Fields, tt.fields)
			}
		})
	}
}

func TestNewTenantNormalises(t *testing.T) {
	tn, _, err := NewTenant("t-1", "lead-1", validTenant())
	if err != nil {
		t.Fatal(err)
	}
	if tn.Contact().Email != "Ops@example.com" {
		t.Errorf("email = %s: the domain part is case-insensitive and stored lower-case", tn.Contact().Email)
	}
	if d := tn.Domains(); len(d) != 2 || d[0] != "app.acme.io" {
		t.Errorf("domains = %v", d)
	}
	if tn.LeadID() != "lead-1" || tn.Key() != "acme1" || tn.Version() != 1 {
		t.Errorf("tenant = %+v", tn)
	}
}

func TestTenantLifecycle(t *testing.T) {
	tn, _, err := NewTenant("t-1", "", validTenant())
	if err != nil {
		t.Fatal(err)
	}
	step := func(name string, evs []Event, err error, want Status) {
		t.Helper()
		if err != nil || len(evs) != 1 || tn.Status() != want {
			t.Fatalf("%s: %v, %v, status %s (want %s)", name, evs, err, tn.Status(), want)
		}
	}
	// not yet provisioning: cannot activate or fail
	if _, err := tn.Activate(); !isTransition(err) {
		t.Fatalf("activate a pending tenant: %v", err)
	}
	evs, err := tn.RequestProvisioning(validSubscription(), DefaultTiers)
	step("provision", evs, err, StatusProvisioning)
	if _, err := tn.RequestProvisioning(validSubscription(), DefaultTiers); !isTransition(err) {
		t.Fatalf("provisioning twice: %v", err)
	}
	completeSteps(t, tn, StepDatabase)
	evs, err = tn.RecordStep(StepOutcome{Step: StepDatabase, Outcome: OutcomeFailed, Error: "schema exists and is not ours"})
	step("database fails", evs, err, StatusProvisioning)
	evs, err = tn.FailProvisioning()
	step("compensation starts", evs, err, StatusProvisioning)
	undoAll(t, tn)
	evs, err = tn.FinishUndo()
	step("rolled back", evs, err, StatusProvisionFailed)
	if tn.LastFailure() != "database: schema exists and is not ours" {
		t.Errorf("failure reason %q not kept", tn.LastFailure())
	}
	evs, err = tn.RequestProvisioning(validSubscription(), DefaultTiers)
	step("retry", evs, err, StatusProvisioning)
	if tn.Attempt() != 2 || tn.state(StepIdentity) != "" {
		t.Errorf("attempt = %d, want 2 with a clean slate", tn.Attempt())
	}
	completeSteps(t, tn, StepActivate)
	if _, err := tn.Activate(); err != nil {
		t.Fatal(err)
	}
	if tn.Status() != StatusActive || len(tn.Resources()) != len(UndoableSteps)-len(ActiveSteps) {
		t.Fatalf("after every step: %s with %d resources", tn.Status(), len(tn.Resources()))
	}
	if _, err := tn.RequestProvisioning(validSubscription(), DefaultTiers); !isTransition(err) {
		t.Fatalf("provisioning an active tenant: %v", err)
	}
	evs, err = tn.RequestDeprovisioning("customer left")
	step("deprovision", evs, err, StatusDeprovisioning)
	if _, err := tn.FinishUndo(); !errors.Is(err, ErrNotYourTurn) {
		t.Fatalf("deactivated with resources left: %v", err)
	}
	if order := strings.Join(undoAll(t, tn), ","); order != "dns,deploy,infrastructure,storage,database,admin_user,idp" {
		t.Fatalf("undo order %s", order)
	}
	evs, err = tn.FinishUndo()
	step("deactivate", evs, err, StatusInactive)
	if _, err := tn.RequestProvisioning(validSubscription(), DefaultTiers); !isTransition(err) {
		t.Fatalf("provisioning an inactive tenant: %v", err)
	}
	if len(tn.Resources()) != 0 || tn.Key() != "acme1" {
		t.Errorf("resources %v key %s", tn.Resources(), tn.Key())
	}
}

func isTransition(err error) bool {
	var te *TransitionError
	return errors.As(err, &te)
}

func TestProvisioningRequestValidation(t *testing.T) {
	tests := map[string]struct {
		change func(*Subscription)
		field  string
	}{
		"no id":            {func(s *Subscription) { s.ID = "" }, "id"},
		"no start":         {func(s *Subscription) { s.StartDate = time.Time{} }, "startDate"},
		"end before start": {func(s *Subscription) { s.EndDate = s.StartDate.Add(-time.Hour) }, "endDate"},
		"unknown tier":     {func(s *Subscription) { s.Plan.Tier = "gold" }, "plan.tier"},
		"negative price":   {func(s *Subscription) { s.Plan.Price = -1 }, "plan.price"},
		"plan id mismatch": {func(s *Subscription) { s.Plan.ID = "other" }, "plan.id"},
		"no plan name":     {func(s *Subscription) { s.Plan.Name = "" }, "plan.name"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			tn, _, _ := NewTenant("t-1", "", validTenant())
			sub := validSubscription()
			tt.change(&sub)
			_, err := tn.RequestProvisioning(sub, DefaultTiers)
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Fields[tt.field] == "" {
				t.Fatalf("want a problem with %s, got %v", tt.field, err)
			}
			if tn.Status() != StatusPendingProvision || tn.Version() != 1 {
				t.Fatal("a rejected request changed the tenant")
			}
		})
	}
}

func TestLeadToTenant(t *testing.T) {
	in := LeadInput{FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.com", CompanyName: "Acme"}
	l, evs, err := NewLead("lead-1", in, "hash-of-token", now)
	if err != nil || len(evs) != 1 {
		t.Fatal(err)
	}
	key := LeadTenantInput{Key: "acme"}
	if _, _, _, err := l.CreateTenant("t-1", key); !errors.Is(err, ErrLeadNotVerified) {
		t.Fatalf("unverified lead got a tenant: %v", err)
	}
	if _, err := l.Verify("wrong", now); !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("wrong token accepted: %v", err)
	}
	if _, err := l.Verify("hash-of-token", now); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Verify("hash-of-token", now); !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("a spent token was accepted again: %v", err)
	}
	if _, _, _, err := l.CreateTenant("t-1", LeadTenantInput{Key: "Bad Key"}); err == nil || l.TenantID() != "" {
		t.Fatalf("invalid input: %v, lead's tenant %q; want a validation error and no change", err, l.TenantID())
	}
	tn, tenantEvents, leadEvents, err := l.CreateTenant("t-1", key)
	if err != nil {
		t.Fatalf("verified lead without a tenant was refused: %v", err)
	}
	if tn.Name() != "Acme" || tn.Contact() != l.Contact() || tn.LeadID() != "lead-1" || len(tenantEvents) != 1 || len(leadEvents) != 1 {
		t.Fatalf("tenant %+v from lead: name/contact/lead not taken from the lead", tn)
	}
	_, _, _, err = l.CreateTenant("t-2", LeadTenantInput{Key: "other"})
	var has *LeadHasTenantError
	if !errors.As(err, &has) || has.TenantID != "t-1" {
		t.Fatalf("second tenant: %v, want LeadHasTenantError naming t-1", err)
	}
}

func TestNewLeadValidation(t *testing.T) {
	_, evs, err := NewLead("lead-1", LeadInput{Email: "x"}, "h", now)
	var ve *ValidationError
	if !errors.As(err, &ve) || evs != nil {
		t.Fatalf("got %v", err)
	}
	for _, f := range []string{"firstName", "lastName", "email", "companyName"} {
		if ve.Fields[f] == "" {
			t.Errorf("%s not reported", f)
		}
	}
	if _, ok := ve.Fields["address"]; ok {
		t.Error("address is optional")
	}
}

// TestRehydrateFromStoredJSON: aggregates folded from their stored (JSON)
// events equal the ones that decided them.
func TestRehydrateFromStoredJSON(t *testing.T) {
	tn, history, _ := NewTenant("t-1", "lead-1", validTenant())
	for _, cmd := range []func() ([]Event, error){
		func() ([]Event, error) { return tn.RequestProvisioning(validSubscription(), DefaultTiers) },
		func() ([]Event, error) {
			return tn.RecordStep(StepOutcome{Step: StepIdentity, Outcome: OutcomeFailed, Error: "zone missing", Tries: 3})
		},
		func() ([]Event, error) { return tn.FailProvisioning() },
		func() ([]Event, error) {
			return tn.RecordUndo(StepOutcome{Step: StepIdentity, Outcome: OutcomeCompensated})
		},
		func() ([]Event, error) { return tn.FinishUndo() },
	} {
		evs, err := cmd()
		if err != nil {
			t.Fatal(err)
		}
		history = append(history, evs...)
	}
	var stored []Event
	for _, e := range history {
		raw, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Decode(e.EventType(), raw)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, back)
	}
	again, err := RehydrateTenant(stored)
	if err != nil {
		t.Fatal(err)
	}
	if again.Status() != StatusProvisionFailed || again.Version() != 6 || again.Attempt() != 1 ||
		again.LastFailure() != "idp: zone missing" || again.StepStates()[0].Tries != 3 || again.Key() != "acme1" || len(again.Domains()) != 2 {
		t.Fatalf("rehydrated %+v", again)
	}
	if sub, ok := again.Subscription(); !ok || sub.Plan.Tier != "pooled" {
		t.Fatalf("subscription %+v", sub)
	}
	if _, err := RehydrateTenant(nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("empty history: %v", err)
	}
	if _, err := Decode("tenant.unknown", []byte(`{}`)); err == nil {
		t.Fatal("unknown type decoded")
	}
	if _, err := RehydrateLead(stored); err == nil {
		t.Fatal("a lead folded from tenant events")
	}
}

// FuzzTenantInput: no input makes validation panic; whatever is accepted
// satisfies the documented rules.
func FuzzTenantInput(f *testing.F) {
	f.Add("acme1", "Acme", "ops@example.com", "Ada", "L", "app.acme.io")
	f.Add("", "", "", "", "", "")
	f.Add("a", "\x00", "a@b.c", "\xff", "x", "-.-")
	f.Fuzz(func(t *testing.T, key, name, email, first, last, domain string) {
		tn, _, err := NewTenant("t-1", "", TenantInput{Key: key, Name: name, Contact: Contact{Email: email, FirstName: first, LastName: last}, Domains: []string{domain}})
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Fields) == 0 {
				t.Fatalf("non-validation error: %v", err)
			}
			return
		}
		if !keyPattern.MatchString(tn.Key()) || !isHostname(tn.Domains()[0]) || tn.Name() == "" {
			t.Fatalf("accepted an invalid tenant: %+v", tn)
		}
	})
}

// completeSteps completes every step before until.
func completeSteps(t *testing.T, tn *Tenant, until string) {
	t.Helper()
	for _, s := range Steps {
		if s == until {
			return
		}
		if _, err := tn.RecordStep(StepOutcome{Step: s, Outcome: OutcomeCompleted, Resources: []Resource{{Step: s, Kind: "thing", ID: s}}}); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// undoAll runs every due undo, checking the reverse order.
func undoAll(t *testing.T, tn *Tenant) []string {
	t.Helper()
	var order []string
	for {
		s, ok := tn.NextUndo()
		if !ok {
			return order
		}
		order = append(order, s)
		if _, err := tn.RecordUndo(StepOutcome{Step: s, Outcome: OutcomeCompensated}); err != nil {
			t.Fatal(err)
		}
	}
}

// Inside the platform's zone another tenant's name (a key's) is reserved;
// the tenant's own and names that are no key's are not.
func TestReservedIn(t *testing.T) {
	for _, c := range []struct {
		name string
		want bool
	}{
		{"acme.tenants.test", false}, {"shop.acme.tenants.test", false}, {"ACME.tenants.test.", false},
		{"beta.tenants.test", true}, {"x.beta.tenants.test", true}, {"tenants.test", true},
		{"app-beta.tenants.test", false}, {"x.app-beta.tenants.test", false},
		{"acme.example.com", false}, {"acmetenants.test", false},
	} {
		if got := ReservedIn(c.name, "acme", "tenants.test."); got != c.want {
			t.Errorf("%s: reserved %v, want %v", c.name, got, c.want)
		}
	}
	if ReservedIn("beta.tenants.test", "acme", "") {
		t.Error("without a platform zone nothing is reserved")
	}
}
