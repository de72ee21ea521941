package domain

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"
)

func contacts(primary int, emails ...string) *[]TenantContact {
	out := []TenantContact{}
	for i, e := range emails {
		out = append(out, TenantContact{Contact: Contact{Email: e, FirstName: "F", LastName: "L"}, Primary: i == primary})
	}
	return &out
}

// PATCH: the whole request is validated; several contacts with exactly one
// primary (mails go to it); the domains cannot change while the steps use
// them, and a change on an ACTIVE tenant is due for reconciliation until
// recorded; an unchanged request records nothing.
func TestTenantUpdate(t *testing.T) {
	tn, _, _ := NewTenant("t-1", "", validTenant())
	if got := tn.Contacts(); len(got) != 1 || !got[0].Primary || got[0].Email != tn.Contact().Email {
		t.Fatalf("a new tenant's contacts: %+v", got)
	}
	bad := []TenantUpdate{
		{Name: new("")},
		{Contacts: contacts(-1, "a@example.com")},
		{Contacts: &[]TenantContact{{Contact: Contact{Email: "a@example.com", FirstName: "A", LastName: "B"}, Primary: true},
			{Contact: Contact{Email: "b@example.com", FirstName: "A", LastName: "B"}, Primary: true}}},
		{Contacts: contacts(0, "a@example.com", "A@example.com")},
		{Contacts: contacts(0, "not-an-address")},
		{Contacts: &[]TenantContact{}},
		{Domains: &[]string{"-bad-"}},
	}
	for _, in := range bad {
		var ve *ValidationError
		if evs, err := tn.Update(in, now); !errors.As(err, &ve) || evs != nil {
			t.Errorf("%+v: %v %v, want a validation error and nothing recorded", in, evs, err)
		}
	}
	if evs, err := tn.Update(TenantUpdate{Name: new(tn.Name()), Domains: new(tn.Domains())}, now); err != nil || evs != nil {
		t.Fatalf("an update that changes nothing: %v %v", evs, err)
	}
	if _, err := tn.Update(TenantUpdate{Name: new("Acme Two"), Contacts: contacts(1, "a@example.com", "b@example.com")}, now); err != nil {
		t.Fatal(err)
	}
	if tn.Name() != "Acme Two" || tn.Contact().Email != "b@example.com" || tn.Contacts()[0].Email != "b@example.com" || len(tn.Contacts()) != 2 {
		t.Fatalf("after the update: %s, primary %s, %+v", tn.Name(), tn.Contact().Email, tn.Contacts())
	}
	if _, _, due := tn.DomainsReconcileDue(); due {
		t.Fatal("a tenant with no steps run has nothing to reconcile")
	}

	_, _ = tn.RequestProvisioning(validSubscription(), DefaultTiers)
	if _, err := tn.Update(TenantUpdate{Domains: &[]string{"new.example.com"}}, now); !errors.Is(err, ErrNotUpdatable) {
		t.Fatalf("a domain change while provisioning: %v", err)
	}
	if _, err := tn.Update(TenantUpdate{Name: new("Acme Three")}, now); err != nil {
		t.Fatalf("a name change while provisioning: %v", err)
	}
	completeSteps(t, tn, StepActivate)
	if _, err := tn.Activate(); err != nil {
		t.Fatal(err)
	}
	before := tn.Domains()
	if _, err := tn.Update(TenantUpdate{Domains: &[]string{"new.example.com"}}, now); err != nil {
		t.Fatal(err)
	}
	update, previous, due := tn.DomainsReconcileDue()
	if !due || update != tn.Version() || !slices.Equal(previous, before) {
		t.Fatalf("due %v at %d (version %d), previous %v, want %v", due, update, tn.Version(), previous, before)
	}
	// A second change before the first was followed: the steps still have
	// the first domains.
	if _, err := tn.Update(TenantUpdate{Domains: &[]string{"newer.example.com"}}, now); err != nil {
		t.Fatal(err)
	}
	update, previous, _ = tn.DomainsReconcileDue()
	if update != tn.Version() || !slices.Equal(previous, before) {
		t.Fatalf("after two changes: due at %d, previous %v", update, previous)
	}
	if _, err := tn.RecordReconciled(update-1, nil, now); !errors.Is(err, ErrNotYourTurn) {
		t.Fatalf("reconciling an older update: %v", err)
	}
	dns := []Resource{{Step: StepDNS, Kind: "dns-cname", ID: "newer.example.com -> lb"}}
	if _, err := tn.RecordReconciled(update, []Reconciled{{Step: StepDNS, Resources: dns, PlatformHost: "acme1.tenants.test"}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, _, due := tn.DomainsReconcileDue(); due {
		t.Fatal("still due after the reconciliation")
	}
	if !slices.ContainsFunc(tn.Resources(), func(r Resource) bool { return r.ID == dns[0].ID }) {
		t.Fatalf("the reconciled DNS records are not the tenant's resources: %+v", tn.Resources())
	}
	if _, err := tn.RequestDeprovisioning("bye"); err != nil {
		t.Fatal(err)
	}
	if _, err := tn.Update(TenantUpdate{Name: new("Late")}, now); !errors.Is(err, ErrNotUpdatable) {
		t.Fatalf("an update while deprovisioning: %v", err)
	}
}

// A configuration value is any JSON the log can store: U+0000 in a string
// or a key is refused (PostgreSQL's jsonb cannot hold it; schemathesis found
// the 500), an escaped backslash before "u0000" is fine.
func TestConfigValues(t *testing.T) {
	cfg, _ := RehydrateTenantConfig(nil)
	for _, bad := range []string{`"a\u0000b"`, `{"k\u0000":1}`, `[{"x":["\u0000"]}]`, `not json`, ``} {
		var ve *ValidationError
		if _, err := cfg.Set("t-1", "k", json.RawMessage(bad), true, now); !errors.As(err, &ve) {
			t.Errorf("%s: %v, want a validation error", bad, err)
		}
	}
	if _, err := cfg.Set("t-1", "k", json.RawMessage(`{"path":"C:\\\\u0000"}`), true, now); err != nil {
		t.Errorf("an escaped backslash before u0000: %v", err)
	}
}
