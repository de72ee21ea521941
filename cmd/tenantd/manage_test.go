package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Nerzal/gocloak/v13"
	"github.com/google/uuid"
	"github.com/miekg/dns"
	"github.com/tenantflow/tenantflow/adapters/keycloak"
	"github.com/tenantflow/tenantflow/internal/testkit/wait"
	"github.com/tenantflow/tenantflow/platform/auth"
)

// cname asks the dev stack's BIND for name's CNAME target ("" if none).
func cname(t *testing.T, env map[string]string, name string) string {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeCNAME)
	in, err := dns.Exchange(m, env["TENANTFLOW_DNS_SERVER"])
	if err != nil {
		t.Fatal(err)
	}
	for _, rr := range in.Answer {
		if c, ok := rr.(*dns.CNAME); ok {
			return c.Target
		}
	}
	return ""
}

// The rest of tenant management, on the `make run` configuration: PATCH
// changes the name and the contacts (several, one primary) at once; a
// domain change of an ACTIVE tenant (tier basic: an organization) is
// followed by its client's redirects, its organization's domains and the
// DNS records (read back from Keycloak and BIND) and by nothing else; bad input changes nothing; a deprovisioned tenant cannot be
// changed. Tenant configuration: create, conflict, list, update, get,
// delete, each behind its own permission. Leads: listed a page at a time.
func TestTenantManagement(t *testing.T) {
	env := makeRunEnv(t)
	p := start(t, env)
	p.readyzUntil(t, "ready", isReady)
	signer, _ := auth.NewHS256(env["TENANTFLOW_JWT_SECRET"], "tenantflow")
	op, _ := signer.Mint("manager", auth.Known, "", time.Hour, time.Now())
	viewer, _ := signer.Mint("viewer", []string{auth.ViewTenant, auth.ViewTenantConfig}, "", time.Hour, time.Now())
	startAgent(t, env, p.base, t.TempDir())
	zone := env["TENANTFLOW_DNS_ZONE"]

	key := "mg" + strings.ReplaceAll(uuid.NewString(), "-", "")[:8]
	first, second := "a-"+key+"."+zone, "b-"+key+"."+zone
	custom := "x-" + key + "." + env["TENANTFLOW_DEVSTACK_CUSTOMER_ZONE"]
	id := p.post(t, op, "/tenants", `{"key":"`+key+`","name":"Managed","contact":{"email":"owner@example.com","firstName":"O","lastName":"W"},
		"domains":["`+first+`"]}`)["id"].(string)
	p.post(t, op, "/tenants/"+id+"/provision", `{"id":"s","subscriberId":"c","planId":"p","startDate":"2026-11-26T00:00:00Z","status":1,
		"plan":{"id":"p","name":"P","price":1,"currencyId":"EUR","tier":"basic","billingCycleId":"monthly"}}`)
	p.waitStatus(t, op, id, "ACTIVE")
	waitNotified(t, p, op, id)
	if got := cname(t, env, first); got == "" {
		t.Fatalf("%s has no CNAME after provisioning", first)
	}

	// Name and contacts.
	code, tn := p.send(t, op, http.MethodPatch, "/tenants/"+id, `{"name":"Managed Two","contacts":[
		{"email":"owner@example.com","firstName":"O","lastName":"W","primary":false},
		{"email":"ops@example.com","firstName":"Op","lastName":"S","primary":true}]}`)
	if code != http.StatusOK || tn["name"] != "Managed Two" || tn["contact"].(map[string]any)["email"] != "ops@example.com" {
		t.Fatalf("PATCH name and contacts: %d %v", code, tn)
	}
	if cs := tn["contacts"].([]any); len(cs) != 2 || cs[0].(map[string]any)["email"] != "ops@example.com" || cs[0].(map[string]any)["primary"] != true {
		t.Fatalf("contacts %v, want ops@ first and primary", cs)
	}
	version := tn["version"]
	for _, bad := range []string{
		`{"contacts":[{"email":"a@example.com","firstName":"A","lastName":"B","primary":false}]}`,
		`{"contacts":[]}`, `{"name":""}`, `{"domains":["-bad-"]}`, `{"colour":"blue"}`,
	} {
		if code, body := p.send(t, op, http.MethodPatch, "/tenants/"+id, bad); code != http.StatusBadRequest {
			t.Errorf("PATCH %s: %d %v, want 400", bad, code, body)
		}
	}
	if code, _ := p.send(t, viewer, http.MethodPatch, "/tenants/"+id, `{"name":"X"}`); code != http.StatusForbidden {
		t.Errorf("PATCH without 10205: %d, want 403", code)
	}
	if now := p.tenant(t, op, id); now["version"] != version || now["name"] != "Managed Two" {
		t.Fatalf("refused updates changed the tenant: %v", now)
	}

	// Domains: the idp and dns steps follow, nothing else runs again.
	before := len(p.eventTypes(t, op, id))
	if code, body := p.send(t, op, http.MethodPatch, "/tenants/"+id, `{"domains":["`+second+`","`+custom+`"]}`); code != http.StatusOK {
		t.Fatalf("PATCH domains: %d %v", code, body)
	}
	after := wait.Value(t, 60*time.Second, func() ([]string, error) {
		after := p.eventTypes(t, op, id)[before:]
		if !slices.ContainsFunc(after, func(e string) bool { return strings.HasPrefix(e, "tenant.domains.reconciled") }) {
			return nil, fmt.Errorf("the domain change is not reconciled: %v", after)
		}
		return after, nil
	})
	if want := []string{"tenant.updated by manager", "tenant.domains.reconciled by handler:domains"}; !slices.Equal(after, want) {
		t.Fatalf("events after the domain change %v, want only %v", after, want)
	}
	if got := cname(t, env, second); got == "" {
		t.Errorf("%s has no CNAME after the change", second)
	}
	if got := cname(t, env, first); got != "" {
		t.Errorf("%s still points at %s after it was removed", first, got)
	}
	ctx := context.Background()
	kc, token := keycloakAdmin(t, env)
	// Tier basic is an organization of the shared realm: its client and
	// its organization's domains follow.
	clients, err := kc.GetClients(ctx, token, sharedRealm, gocloak.GetClientsParams{ClientID: gocloak.StringP(key + "-app")})
	if err != nil || len(clients) != 1 {
		t.Fatalf("client: %v %v", clients, err)
	}
	redirects := *clients[0].RedirectURIs
	if !slices.Contains(redirects, "https://"+second+"/*") || !slices.Contains(redirects, "https://"+custom+"/*") || slices.Contains(redirects, "https://"+first+"/*") {
		t.Errorf("the client's redirects did not follow: %v", redirects)
	}
	admin := keycloak.NewAdmin(env["TENANTFLOW_KEYCLOAK_URL"], "master", env["TENANTFLOW_KEYCLOAK_ADMIN_USER"], env["TENANTFLOW_KEYCLOAK_ADMIN_PASSWORD"])
	org, err := admin.OrganizationByName(ctx, token, sharedRealm, key)
	if err != nil || org == nil {
		t.Fatalf("organization %s: %v", key, err)
	}
	var orgDomains []string
	for _, d := range org.Domains {
		orgDomains = append(orgDomains, d.Name)
	}
	if !slices.Contains(orgDomains, second) || !slices.Contains(orgDomains, custom) || slices.Contains(orgDomains, first) {
		t.Errorf("the organization's domains did not follow: %v", orgDomains)
	}
	tn = p.tenant(t, op, id)
	if cds, _ := tn["customDomains"].([]any); len(cds) != 1 || cds[0].(map[string]any)["domain"] != custom {
		t.Errorf("customDomains after the change: %v", tn["customDomains"])
	}
	var dnsIDs []string
	for _, r := range tn["resources"].([]any) {
		if r := r.(map[string]any); r["step"] == "dns" {
			dnsIDs = append(dnsIDs, r["id"].(string))
		}
	}
	if !slices.ContainsFunc(dnsIDs, func(s string) bool { return strings.HasPrefix(s, second+" ") }) ||
		slices.ContainsFunc(dnsIDs, func(s string) bool { return strings.HasPrefix(s, first+" ") }) {
		t.Errorf("the dns step's resources did not follow: %v", dnsIDs)
	}

	// Configuration.
	cfg := "/tenants/" + id + "/config"
	if code, body := p.send(t, op, http.MethodPost, cfg, `{"key":"feature.flags","value":{"beta":true}}`); code != http.StatusCreated ||
		body["key"] != "feature.flags" {
		t.Fatalf("create: %d %v", code, body)
	}
	if code, _ := p.send(t, op, http.MethodPost, cfg, `{"key":"feature.flags","value":1}`); code != http.StatusConflict {
		t.Errorf("create again: %d, want 409", code)
	}
	for _, bad := range []string{`{"key":"-x","value":1}`, `{"key":"ok"}`, `{"key":"ok","value":` + strings.Repeat("1", 17000) + `}`} {
		if code, _ := p.send(t, op, http.MethodPost, cfg, bad); code != http.StatusBadRequest {
			t.Errorf("create %.40s: %d, want 400", bad, code)
		}
	}
	if code, _ := p.send(t, viewer, http.MethodPost, cfg, `{"key":"other","value":1}`); code != http.StatusForbidden {
		t.Errorf("create without 10220: %d, want 403", code)
	}
	if code, _ := p.send(t, op, http.MethodPut, cfg+"/missing", `{"value":1}`); code != http.StatusNotFound {
		t.Errorf("update of a missing key: %d, want 404", code)
	}
	if code, body := p.send(t, op, http.MethodPut, cfg+"/feature.flags", `{"value":{"beta":false,"seats":5}}`); code != http.StatusOK {
		t.Fatalf("update: %d %v", code, body)
	}
	if code, body := p.send(t, viewer, http.MethodGet, cfg+"/feature.flags", ""); code != http.StatusOK ||
		fmt.Sprint(body["value"]) != "map[beta:false seats:5]" {
		t.Fatalf("get after update: %d %v", code, body)
	}
	if code, body := p.send(t, viewer, http.MethodGet, cfg, ""); code != http.StatusOK || len(body["items"].([]any)) != 1 {
		t.Fatalf("list: %d %v", code, body)
	}
	if code, _ := p.send(t, viewer, http.MethodDelete, cfg+"/feature.flags", ""); code != http.StatusForbidden {
		t.Errorf("delete without 10223: %d, want 403", code)
	}
	if code, _ := p.send(t, op, http.MethodDelete, cfg+"/feature.flags", ""); code != http.StatusNoContent {
		t.Fatalf("delete: %d", code)
	}
	if code, _ := p.send(t, op, http.MethodGet, cfg+"/feature.flags", ""); code != http.StatusNotFound {
		t.Errorf("get after delete: %d, want 404", code)
	}
	if code, _ := p.send(t, op, http.MethodGet, "/tenants/"+uuid.NewString()+"/config", ""); code != http.StatusNotFound {
		t.Errorf("configuration of no tenant: %d, want 404", code)
	}
	// The projection serves the same once it has caught up.
	wait.For(t, 30*time.Second, func() error {
		if _, body := p.send(t, op, http.MethodGet, cfg, ""); len(body["items"].([]any)) != 0 {
			return fmt.Errorf("the deleted key is still listed: %v", body)
		}
		return nil
	})

	// Leads, a page at a time.
	var leads []string
	for i := range 3 {
		code, body := p.send(t, "", http.MethodPost, "/leads", fmt.Sprintf(`{"firstName":"L%d","lastName":"E","email":"lead%d-%s@example.com","companyName":"C"}`, i, i, key))
		if code != http.StatusCreated {
			t.Fatalf("lead: %d %v", code, body)
		}
		leads = append(leads, body["id"].(string))
	}
	wait.For(t, 30*time.Second, func() error {
		var listed []string
		next := "/leads?limit=2"
		for next != "" {
			if code, _ := p.send(t, viewer, http.MethodGet, next, ""); code != http.StatusForbidden {
				t.Fatalf("a token without 10203 listed leads: %d", code)
			}
			code, page := p.send(t, op, http.MethodGet, next, "")
			if code != http.StatusOK || len(page["leads"].([]any)) > 2 {
				t.Fatalf("GET %s: %d %v", next, code, page)
			}
			for _, l := range page["leads"].([]any) {
				listed = append(listed, l.(map[string]any)["id"].(string))
			}
			next, _ = page["next"].(string)
		}
		if !slices.Equal(listed, leads) {
			return fmt.Errorf("leads listed %v, want %v in order", listed, leads)
		}
		return nil
	})
	if code, _ := p.send(t, op, http.MethodGet, "/leads?cursor=bm90LWEtY3Vyc29y", ""); code != http.StatusBadRequest {
		t.Errorf("a forged cursor: %d, want 400", code)
	}

	// Deprovisioned: no more changes.
	if code, _ := p.send(t, op, http.MethodDelete, "/tenants/"+id, ""); code != http.StatusAccepted {
		t.Fatalf("delete: %d", code)
	}
	p.waitStatus(t, op, id, "INACTIVE")
	if code, _ := p.send(t, op, http.MethodPatch, "/tenants/"+id, `{"name":"Too late"}`); code != http.StatusConflict {
		t.Errorf("PATCH of an INACTIVE tenant: %d, want 409", code)
	}
	if got := cname(t, env, second); got != "" {
		t.Errorf("%s still points at %s after deprovisioning", second, got)
	}
}
