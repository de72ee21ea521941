package dns_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	dnsstep "github.com/tenantflow/tenantflow/handlers/dns"
	"github.com/tenantflow/tenantflow/handlers/step"

	"github.com/google/uuid"
	"github.com/miekg/dns"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/internal/testkit/devsteps"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
)

// lookup asks the real server, as any resolver would.

func TestDNSRecordsOnRealBIND(t *testing.T) {
	d := devsteps.DNS(t)
	ctx := context.Background()
	key := testenv.UniqueKey("n")
	tn, _, err := domain.NewTenant(uuid.NewString(), "", domain.TenantInput{Key: key, Name: "N",
		Contact: domain.Contact{Email: "n@example.com", FirstName: "N", LastName: "N"},
		Domains: []string{key + "." + d.Zone, "www." + key + "." + d.Zone}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Undo(context.Background(), tn) })
	for range 2 { // the second run converges to the same records
		res, err := d.Do(ctx, tn)
		if err != nil || len(res.Resources) != 2 || res.PlatformHost != key+"."+d.Zone || len(res.CustomDomains) != 0 {
			t.Fatalf("do: %+v %v", res, err) // the platform name is one of the tenant's domains here
		}
	}
	for _, name := range tn.Domains() {
		if got := devsteps.Lookup(t, d.Server, name, dns.TypeCNAME); len(got) != 1 || got[0] != "lb.tenants.test." {
			t.Fatalf("%s CNAME: %v", name, got)
		}
		if got := devsteps.Lookup(t, d.Server, "_tenantflow."+name, dns.TypeTXT); len(got) != 1 || got[0] != "tenant="+tn.ID() {
			t.Fatalf("%s owner TXT: %v", name, got)
		}
	}
	// Another tenant claiming the same domain is refused, permanently.
	other, _, _ := domain.NewTenant(uuid.NewString(), "", domain.TenantInput{Key: "o" + key[1:], Name: "O",
		Contact: domain.Contact{Email: "o@example.com", FirstName: "O", LastName: "O"}, Domains: []string{key + "." + d.Zone}})
	if _, err := d.Do(ctx, other); !step.IsPermanent(err) {
		t.Fatalf("a foreign domain: %v, want a permanent error", err)
	}
	if err := d.Undo(ctx, other); err != nil { // not its records: left alone
		t.Fatal(err)
	}
	if got := devsteps.Lookup(t, d.Server, key+"."+d.Zone, dns.TypeCNAME); len(got) != 1 {
		t.Fatal("another tenant's undo removed this tenant's record")
	}
	if err := d.Undo(ctx, tn); err != nil {
		t.Fatal(err)
	}
	for _, name := range tn.Domains() {
		if got := devsteps.Lookup(t, d.Server, name, dns.TypeCNAME); len(got) != 0 {
			t.Fatalf("%s still answers %v after undo", name, got)
		}
	}
	// A customer's own domain outside the zone is not a failure: the
	// platform name is made, the domain is left to the customer, with the
	// records to create.
	custom := key + "." + customerZone(t)
	outside, _, _ := domain.NewTenant(uuid.NewString(), "", domain.TenantInput{Key: "z" + key[1:], Name: "Z",
		Contact: domain.Contact{Email: "z@example.com", FirstName: "Z", LastName: "Z"}, Domains: []string{custom}})
	t.Cleanup(func() { _ = d.Undo(context.Background(), outside) })
	res, err := d.Do(ctx, outside)
	platform := "z" + key[1:] + "." + d.Zone
	want := domain.CustomDomain{Domain: custom, CNAME: platform, TXTName: "_tenantflow." + custom, TXTValue: "tenant=" + outside.ID()}
	if err != nil || res.PlatformHost != platform || len(res.CustomDomains) != 1 || res.CustomDomains[0] != want || len(res.Resources) != 1 {
		t.Fatalf("outside the zone: %+v %v, want the platform name made and %+v to create", res, err, want)
	}
	if got := devsteps.Lookup(t, d.Server, platform, dns.TypeCNAME); len(got) != 1 || got[0] != "lb.tenants.test." {
		t.Fatalf("platform name %s CNAME: %v", platform, got)
	}
	if got := devsteps.Lookup(t, d.Server, custom, dns.TypeCNAME); len(got) != 0 {
		t.Fatalf("the step touched the customer's domain: %v", got)
	}
	if err := d.Undo(ctx, outside); err != nil {
		t.Fatal(err)
	}
	if got := devsteps.Lookup(t, d.Server, platform, dns.TypeCNAME); len(got) != 0 {
		t.Fatalf("the platform name survived the undo: %v", got)
	}
}

// customerZone is the dev stack's stand-in for a customer's DNS provider.
func customerZone(t *testing.T) string {
	return testenv.Require(t, "TENANTFLOW_DEVSTACK_CUSTOMER_ZONE")["TENANTFLOW_DEVSTACK_CUSTOMER_ZONE"]
}

// The check of customers' own domains asks a resolver: not pointed before
// the customer creates the CNAME, pointed but unproven without the TXT,
// then OK.
func TestCustomDomainCheckThroughAResolver(t *testing.T) {
	d := devsteps.DNS(t)
	ctx := context.Background()
	key := testenv.UniqueKey("c")
	custom := "app." + key + "." + customerZone(t)
	tn, _, _ := domain.NewTenant(uuid.NewString(), "", domain.TenantInput{Key: key, Name: "C",
		Contact: domain.Contact{Email: "c@example.com", FirstName: "C", LastName: "C"}, Domains: []string{custom}})
	if _, err := tn.RequestProvisioning(domain.Subscription{ID: "s", SubscriberID: "c", PlanID: "p", StartDate: time.Now(),
		Plan: domain.Plan{ID: "p", Name: "P", Tier: "pooled"}}, domain.DefaultTiers); err != nil {
		t.Fatal(err)
	}
	for _, s := range domain.Steps[:slices.Index(domain.Steps, domain.StepDNS)] {
		if _, err := tn.RecordStep(domain.StepOutcome{Step: s, Outcome: domain.OutcomeSkipped}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := d.Do(ctx, tn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Undo(context.Background(), tn) })
	if _, err := tn.RecordStep(domain.StepOutcome{Step: domain.StepDNS, Outcome: domain.OutcomeCompleted,
		PlatformHost: res.PlatformHost, CustomDomains: res.CustomDomains}); err != nil {
		t.Fatal(err)
	}
	check := func() dnsstep.DomainCheck {
		t.Helper()
		got := dnsstep.CheckCustomDomains(ctx, d.Server, tn)
		if len(got) != 1 || got[0].Domain != custom || got[0].Error != "" {
			t.Fatalf("check: %+v", got)
		}
		return got[0]
	}
	if c := check(); c.Pointed || c.Proven || c.OK() {
		t.Fatalf("before the customer's records: %+v", c)
	}
	// The customer creates the CNAME at their provider (here: the customer zone).
	customerUpdate(t, d, fmt.Sprintf("%s 60 IN CNAME %s.", custom, res.PlatformHost))
	if c := check(); !c.Pointed || c.Proven {
		t.Fatalf("with the CNAME only: %+v", c)
	}
	customerUpdate(t, d, fmt.Sprintf(`_tenantflow.%s 60 IN TXT "tenant=%s"`, custom, tn.ID()))
	if c := check(); !c.OK() {
		t.Fatalf("with both records: %+v", c)
	}
}

// customerUpdate adds a record to the customer's zone, as the customer would
// at their DNS provider.
func customerUpdate(t *testing.T, d dnsstep.DNS, record string) {
	t.Helper()
	rr, err := dns.NewRR(record)
	if err != nil {
		t.Fatal(err)
	}
	m := new(dns.Msg)
	m.SetUpdate(dns.Fqdn(customerZone(t)))
	m.Insert([]dns.RR{rr})
	m.SetTsig(dns.Fqdn(d.TSIGName), dns.HmacSHA256, 300, time.Now().Unix())
	c := &dns.Client{TsigSecret: map[string]string{dns.Fqdn(d.TSIGName): d.TSIGSecret}}
	in, _, err := c.Exchange(m, d.Server)
	if err != nil || in.Rcode != dns.RcodeSuccess {
		t.Fatalf("update the customer zone: %v %v", in, err)
	}
	t.Cleanup(func() {
		del := new(dns.Msg)
		del.SetUpdate(dns.Fqdn(customerZone(t)))
		del.RemoveRRset([]dns.RR{rr})
		del.SetTsig(dns.Fqdn(d.TSIGName), dns.HmacSHA256, 300, time.Now().Unix())
		_, _, _ = c.Exchange(del, d.Server)
	})
}
