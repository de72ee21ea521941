package handlers_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/miekg/dns"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/handlers"
	"github.com/tenantflow/tenantflow/internal/testenv"
)

func devDNS(t *testing.T) handlers.DNS {
	env := testenv.Require(t, "TENANTFLOW_DNS_SERVER", "TENANTFLOW_DNS_ZONE", "TENANTFLOW_DNS_TSIG_NAME", "TENANTFLOW_DNS_TSIG_SECRET")
	return handlers.DNS{Server: env["TENANTFLOW_DNS_SERVER"], Zone: env["TENANTFLOW_DNS_ZONE"], TSIGName: env["TENANTFLOW_DNS_TSIG_NAME"],
		TSIGSecret: env["TENANTFLOW_DNS_TSIG_SECRET"], Target: "lb.tenants.test"}
}

// lookup asks the real server, as any resolver would.
func lookup(t *testing.T, server, name string, qtype uint16) []string {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	in, err := dns.Exchange(m, server)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, rr := range in.Answer {
		switch v := rr.(type) {
		case *dns.CNAME:
			out = append(out, v.Target)
		case *dns.TXT:
			out = append(out, strings.Join(v.Txt, ""))
		}
	}
	return out
}

func TestDNSRecordsOnRealBIND(t *testing.T) {
	d := devDNS(t)
	ctx := context.Background()
	key := uniqueKey("n")
	tn, _, err := domain.NewTenant(uuid.NewString(), "", domain.TenantInput{Key: key, Name: "N",
		Contact: domain.Contact{Email: "n@example.com", FirstName: "N", LastName: "N"},
		Domains: []string{key + "." + d.Zone, "www." + key + "." + d.Zone}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Undo(context.Background(), tn) })
	for range 2 { // the second run converges to the same records
		res, err := d.Do(ctx, tn)
		if err != nil || len(res.Resources) != 2 {
			t.Fatalf("do: %+v %v", res, err)
		}
	}
	for _, name := range tn.Domains() {
		if got := lookup(t, d.Server, name, dns.TypeCNAME); len(got) != 1 || got[0] != "lb.tenants.test." {
			t.Fatalf("%s CNAME: %v", name, got)
		}
		if got := lookup(t, d.Server, "_tenantflow."+name, dns.TypeTXT); len(got) != 1 || got[0] != "tenant="+tn.ID() {
			t.Fatalf("%s owner TXT: %v", name, got)
		}
	}
	// Another tenant claiming the same domain is refused, permanently.
	other, _, _ := domain.NewTenant(uuid.NewString(), "", domain.TenantInput{Key: "o" + key[1:], Name: "O",
		Contact: domain.Contact{Email: "o@example.com", FirstName: "O", LastName: "O"}, Domains: []string{key + "." + d.Zone}})
	if _, err := d.Do(ctx, other); !handlers.IsPermanent(err) {
		t.Fatalf("a foreign domain: %v, want a permanent error", err)
	}
	if err := d.Undo(ctx, other); err != nil { // not its records: left alone
		t.Fatal(err)
	}
	if got := lookup(t, d.Server, key+"."+d.Zone, dns.TypeCNAME); len(got) != 1 {
		t.Fatal("another tenant's undo removed this tenant's record")
	}
	if err := d.Undo(ctx, tn); err != nil {
		t.Fatal(err)
	}
	for _, name := range tn.Domains() {
		if got := lookup(t, d.Server, name, dns.TypeCNAME); len(got) != 0 {
			t.Fatalf("%s still answers %v after undo", name, got)
		}
	}
	// A domain outside the zone is a permanent failure.
	outside, _, _ := domain.NewTenant(uuid.NewString(), "", domain.TenantInput{Key: "z" + key[1:], Name: "Z",
		Contact: domain.Contact{Email: "z@example.com", FirstName: "Z", LastName: "Z"}, Domains: []string{"app.example.org"}})
	if _, err := d.Do(ctx, outside); !handlers.IsPermanent(err) {
		t.Fatalf("outside the zone: %v", err)
	}
}
