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
	"github.com/tenantflow/tenantflow/adapters/keycloak"
	"github.com/tenantflow/tenantflow/adapters/postgres"
	"github.com/tenantflow/tenantflow/internal/testkit/devsteps"
	"github.com/tenantflow/tenantflow/internal/testkit/mailtest"
	"github.com/tenantflow/tenantflow/internal/testkit/wait"
	"github.com/tenantflow/tenantflow/platform/auth"
)

// sharedRealm is the dev stack's realm of the organization model.
const sharedRealm = "tenants"

// tenantAdminToken signs the tenant's admin in to realm as the admin would
// after following the set-password link: the test sets the password
// instead, and asks for the token through a direct-grant client of its own
// (the tenant's own client allows only the browser's code flow), whose
// tokens carry the realm roles and, in the shared realm, the organization.
func tenantAdminToken(t *testing.T, env map[string]string, realm, email string) string {
	t.Helper()
	admin := keycloak.NewAdmin(env["TENANTFLOW_KEYCLOAK_URL"], "master", env["TENANTFLOW_KEYCLOAK_ADMIN_USER"], env["TENANTFLOW_KEYCLOAK_ADMIN_PASSWORD"])
	token, err := devsteps.SignIn(t, admin, realm, email, realm == sharedRealm)()
	if err != nil {
		t.Fatalf("the admin cannot sign in to %s: %v", realm, err)
	}
	return token
}

// Both identity models through the real tenantd on the `make run`
// configuration: tier pooled (a realm a tenant) and tier basic (an
// organization of the shared realm). Each tenant's identity lives where its
// tier says, and so do its admin's set-password mail and welcome mail's
// login link; its admin's Keycloak token reads its own tenant and no other,
// and nothing an operator's permission opens; a failure after the identity
// steps compensates them (the organization, its client and its admin are
// gone); deprovisioning removes them, and the person can then be erased.
// (A cancel mid-flight, for both models: handlers' TestCancelMidFlight.)
func TestIdentityModels(t *testing.T) {
	env := makeRunEnv(t)
	suffix := strings.ReplaceAll(uuid.NewString(), "-", "")[:8]
	p := start(t, env)
	p.readyzUntil(t, "ready", isReady)
	signer, _ := auth.NewHS256(env["TENANTFLOW_JWT_SECRET"], "tenantflow")
	op, _ := signer.Mint("identity-test", auth.Known, "", time.Hour, time.Now())
	startAgent(t, env, p.base, t.TempDir())
	ctx := context.Background()
	kc, token := keycloakAdmin(t, env)
	admin := keycloak.NewAdmin(env["TENANTFLOW_KEYCLOAK_URL"], "master", env["TENANTFLOW_KEYCLOAK_ADMIN_USER"], env["TENANTFLOW_KEYCLOAK_ADMIN_PASSWORD"])

	type tenant struct{ key, tier, email, id, realm string }
	provision := func(tn *tenant) {
		t.Helper()
		tn.id = p.post(t, op, "/tenants", `{"key":"`+tn.key+`","name":"Identity `+tn.tier+`","contact":{"email":"`+tn.email+`","firstName":"I","lastName":"D"}}`)["id"].(string)
		p.post(t, op, "/tenants/"+tn.id+"/provision", `{"id":"s","subscriberId":"c","planId":"p","startDate":"2026-11-26T00:00:00Z","status":1,
			"plan":{"id":"p","name":"P","price":1,"currencyId":"EUR","tier":"`+tn.tier+`","billingCycleId":"monthly"}}`)
	}
	realmT := &tenant{key: "ir" + suffix, tier: "pooled", email: "ir" + suffix + "@example.com", realm: "tenant-ir" + suffix}
	orgT := &tenant{key: "io" + suffix, tier: "basic", email: "io" + suffix + "@example.com", realm: sharedRealm}
	t.Cleanup(func() { deleteRealm(t, env, realmT.realm) })
	for _, tn := range []*tenant{realmT, orgT} {
		provision(tn)
	}
	for _, tn := range []*tenant{realmT, orgT} {
		p.waitStatus(t, op, tn.id, "ACTIVE")
	}

	// Each admin's set-password link comes from the realm its users live
	// in, and the welcome mail's login link names it too.
	for _, tn := range []*tenant{realmT, orgT} {
		link := mailtest.WaitForSubject(t, tn.email, "Update Your Account", 30*time.Second)
		if !strings.Contains(link.Body, "/realms/"+tn.realm+"/login-actions/action-token") {
			t.Errorf("%s: the set-password mail links elsewhere than realm %s:\n%s", tn.tier, tn.realm, link.Body)
		}
		welcome := mailtest.WaitForSubject(t, tn.email, "is ready", 60*time.Second)
		if !strings.Contains(welcome.Body, "/realms/"+tn.realm+"/account") {
			t.Errorf("%s: the welcome mail's login link is not realm %s's:\n%s", tn.tier, tn.realm, welcome.Body)
		}
	}

	// Where each identity lives.
	if _, err := kc.GetRealm(ctx, token, realmT.realm); err != nil {
		t.Fatalf("the realm tenant's realm: %v", err)
	}
	if _, err := kc.GetRealm(ctx, token, "tenant-"+orgT.key); !keycloak.IsNotFound(err) {
		t.Fatalf("the organization tenant got a realm of its own: %v", err)
	}
	org, err := admin.OrganizationByName(ctx, token, sharedRealm, orgT.key)
	if err != nil || org == nil || !slices.Contains(org.Attributes["tenantId"], orgT.id) {
		t.Fatalf("organization %s: %+v %v", orgT.key, org, err)
	}
	members, err := admin.OrganizationMembers(ctx, token, sharedRealm, org.ID, 10)
	if err != nil || len(members) != 1 || *members[0].Username != orgT.email {
		t.Fatalf("members of %s: %v %v, want its admin", orgT.key, members, err)
	}
	clientOf(t, kc, token, sharedRealm, orgT.key+"-app")
	resources := p.tenant(t, op, orgT.id)["resources"].([]any)
	if !slices.ContainsFunc(resources, func(r any) bool {
		m := r.(map[string]any)
		return m["kind"] == "keycloak-organization" && m["id"] == sharedRealm+"/"+orgT.key
	}) {
		t.Errorf("the organization is not among the recorded resources: %v", resources)
	}

	// What each tier's flow waits on: the identity step's p50 and p99 per
	// tier, for the operator.
	for _, tier := range []string{realmT.tier, orgT.tier} {
		m := wait.Value(t, 30*time.Second, func() (map[string]any, error) {
			_, stats := p.send(t, op, http.MethodGet, "/stats/provisioning", "")
			steps, _ := stats["steps"].([]any)
			i := slices.IndexFunc(steps, func(s any) bool { m := s.(map[string]any); return m["step"] == "idp" && m["tier"] == tier })
			if i < 0 {
				return nil, fmt.Errorf("GET /stats/provisioning has no idp figures for tier %s: %v", tier, steps)
			}
			return steps[i].(map[string]any), nil
		})
		if p50, p99 := m["p50Ms"].(float64), m["p99Ms"].(float64); p50 <= 0 || p99 < p50 {
			t.Errorf("tier %s: idp p50 %v ms, p99 %v ms", tier, p50, p99)
		}
	}

	// Each admin's token reads its own tenant and nothing else.
	for _, pair := range [][2]*tenant{{realmT, orgT}, {orgT, realmT}} {
		own, other := pair[0], pair[1]
		tok := tenantAdminToken(t, env, own.realm, own.email)
		if code, body := p.send(t, tok, http.MethodGet, "/tenants/"+own.id, ""); code != http.StatusOK || body["id"] != own.id {
			t.Errorf("%s admin reads its tenant: %d %v", own.tier, code, body)
		}
		for _, path := range []string{"/tenants/" + own.id + "/events", "/tenants/" + own.id + "/config"} {
			if code, body := p.send(t, tok, http.MethodGet, path, ""); code != http.StatusOK {
				t.Errorf("%s admin GET %s: %d %v, want 200", own.tier, path, code, body)
			}
		}
		if code, body := p.send(t, tok, http.MethodPost, "/tenants/"+own.id+"/config", `{"key":"theme","value":"teal"}`); code != http.StatusCreated {
			t.Errorf("%s admin sets its tenant's configuration: %d %v", own.tier, code, body)
		}
		for _, path := range []string{"/tenants/" + other.id, "/tenants/" + other.id + "/events", "/tenants/" + other.id + "/config",
			"/tenants", "/stats/provisioning", "/orphans"} {
			if code, _ := p.send(t, tok, http.MethodGet, path, ""); code != http.StatusForbidden {
				t.Errorf("%s admin GET %s: %d, want 403", own.tier, path, code)
			}
		}
		if code, _ := p.send(t, tok, http.MethodPost, "/tenants/"+other.id+"/config", `{"key":"theme","value":"red"}`); code != http.StatusForbidden {
			t.Errorf("%s admin sets another tenant's configuration: %d, want 403", own.tier, code)
		}
		if code, _ := p.send(t, tok, http.MethodDelete, "/tenants/"+own.id, ""); code != http.StatusForbidden {
			t.Errorf("%s admin DELETE its tenant: %d, want 403", own.tier, code)
		}
	}

	// A failure after the identity steps undoes them: a schema of the
	// failing tenant's name that is someone else's stops the database step.
	failing := &tenant{key: "if" + suffix, tier: "basic", email: "if" + suffix + "@example.com", realm: sharedRealm}
	db, err := postgres.Open(ctx, env["TENANTFLOW_TENANT_DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(ctx, `create schema "tenant_`+failing.key+`"`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = db.Exec(context.Background(), `drop schema if exists "tenant_`+failing.key+`"`) })
	provision(failing)
	got := p.waitStatus(t, op, failing.id, "PROVISION_FAILED")
	if !strings.Contains(got["lastError"].(string), "database") {
		t.Errorf("the failure names %v, want the database step", got["lastError"])
	}
	if org, err := admin.OrganizationByName(ctx, token, sharedRealm, failing.key); err != nil || org != nil {
		t.Errorf("the failed tenant's organization survived its compensation: %+v %v", org, err)
	}
	if users, _ := kc.GetUsers(ctx, token, sharedRealm, gocloak.GetUsersParams{Username: &failing.email, Exact: gocloak.BoolP(true)}); len(users) != 0 {
		t.Errorf("the failed tenant's admin survived its compensation")
	}

	// Deprovisioning removes each model's identity.
	for _, tn := range []*tenant{realmT, orgT} {
		if code, body := p.send(t, op, http.MethodDelete, "/tenants/"+tn.id, ""); code != http.StatusAccepted && code != http.StatusOK {
			t.Fatalf("DELETE %s: %d %v", tn.key, code, body)
		}
	}
	for _, tn := range []*tenant{realmT, orgT} {
		p.waitStatus(t, op, tn.id, "INACTIVE")
	}
	if _, err := kc.GetRealm(ctx, token, realmT.realm); !keycloak.IsNotFound(err) {
		t.Errorf("the realm outlived its tenant: %v", err)
	}
	if org, err := admin.OrganizationByName(ctx, token, sharedRealm, orgT.key); err != nil || org != nil {
		t.Errorf("the organization outlived its tenant: %+v %v", org, err)
	}
	if cs, _ := kc.GetClients(ctx, token, sharedRealm, gocloak.GetClientsParams{ClientID: gocloak.StringP(orgT.key + "-app")}); len(cs) != 0 {
		t.Errorf("the organization's client outlived its tenant")
	}
	if users, _ := kc.GetUsers(ctx, token, sharedRealm, gocloak.GetUsersParams{Username: &orgT.email, Exact: gocloak.BoolP(true)}); len(users) != 0 {
		t.Errorf("the organization's admin outlived its tenant")
	}

	// The person behind each deprovisioned tenant erased: the same in both
	// models (the log's keys; Keycloak's users went with deprovisioning).
	for _, tn := range []*tenant{realmT, orgT} {
		p.tenantctl(t, env, "erase", "--contact", tn.email, "--reason", "identity test", "--actor", "dpo")
		if got := p.tenant(t, op, tn.id); got["contact"].(map[string]any)["email"] != "[erased]" {
			t.Errorf("%s: after the erasure the contact reads %v", tn.tier, got["contact"])
		}
	}
}
