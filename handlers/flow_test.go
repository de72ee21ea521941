package handlers_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/Nerzal/gocloak/v13"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/handlers"
	"github.com/tenantflow/tenantflow/internal/mailtest"
)

// The happy path ends ACTIVE, and everything exists — read back through
// Keycloak's admin API and information_schema, not through our code.
func TestProvisioningEndsActive(t *testing.T) {
	f := newFlow(t)
	tn := f.provision(t, "ok")
	tn = f.waitFor(t, tn.ID(), "ACTIVE and notified", 90*time.Second, settled)
	if tn.Status() != domain.StatusActive {
		t.Fatalf("status %s: %s", tn.Status(), describe(tn))
	}
	ctx := context.Background()
	token, err := f.admin.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kc := f.admin.Client()
	realm := "tenant-" + tn.Key()
	rep, err := kc.GetRealm(ctx, token, realm)
	if err != nil || !*rep.Enabled {
		t.Fatalf("realm %s: %v", realm, err)
	}
	clients, err := kc.GetClients(ctx, token, realm, gocloak.GetClientsParams{ClientID: gocloak.StringP(tn.Key() + "-app")})
	if err != nil || len(clients) != 1 {
		t.Fatalf("client: %v %v", clients, err)
	}
	c := clients[0]
	if (*c.Attributes)["pkce.code.challenge.method"] != "S256" || !*c.PublicClient || !*c.StandardFlowEnabled ||
		len(*c.RedirectURIs) != 1 || (*c.RedirectURIs)[0] != "https://"+tn.Key()+".example.com/*" {
		t.Fatalf("client %+v", c)
	}
	users, err := kc.GetUsers(ctx, token, realm, gocloak.GetUsersParams{Username: gocloak.StringP(tn.Contact().Email), Exact: gocloak.BoolP(true)})
	if err != nil || len(users) != 1 {
		t.Fatalf("admin user: %v %v", users, err)
	}
	u := users[0]
	if attrs := *u.Attributes; attrs["tenantId"][0] != tn.ID() || attrs["role"][0] != "admin" || !*u.Enabled {
		t.Fatalf("user attributes %v", attrs)
	}
	roles, err := kc.GetCompositeClientRolesByUserID(ctx, token, realm, *mustClient(t, kc, token, realm, "realm-management").ID, *u.ID)
	if err != nil || !hasRole(roles, "realm-admin") {
		t.Fatalf("realm-admin not granted: %v", err)
	}
	var schemas int
	if err := f.pool.QueryRow(ctx, `select count(*) from information_schema.schemata where schema_name = $1`, handlers.SchemaName(tn)).Scan(&schemas); err != nil || schemas != 1 {
		t.Fatalf("schema %s: %d %v", handlers.SchemaName(tn), schemas, err)
	}
	mailtest.WaitForSubject(t, tn.Contact().Email, "is ready", 10*time.Second)
	mailtest.WaitForSubject(t, tn.Contact().Email, "", 10*time.Second) // Keycloak's set-password mail (its subject is Keycloak's)
	if n := mailtest.Count(t, tn.Contact().Email); n != 2 {
		t.Fatalf("%d mails to the admin, want the welcome and Keycloak's set-password mail", n)
	}
	if len(tn.Resources()) != 5 {
		t.Fatalf("resources %v", tn.Resources())
	}
}

func mustClient(t *testing.T, kc *gocloak.GoCloak, token, realm, clientID string) *gocloak.Client {
	t.Helper()
	cs, err := kc.GetClients(context.Background(), token, realm, gocloak.GetClientsParams{ClientID: &clientID})
	if err != nil || len(cs) != 1 {
		t.Fatalf("client %s: %v", clientID, err)
	}
	return cs[0]
}

func hasRole(roles []*gocloak.Role, name string) bool {
	for _, r := range roles {
		if r.Name != nil && *r.Name == name {
			return true
		}
	}
	return false
}

// realmExists asks Keycloak whether the tenant's realm exists.
func (f *flow) realmExists(t *testing.T, tn *domain.Tenant) bool {
	t.Helper()
	ctx := context.Background()
	token, err := f.admin.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.admin.Client().GetRealm(ctx, token, handlers.RealmName(tn))
	return err == nil
}

func (f *flow) schemaExists(t *testing.T, tn *domain.Tenant) bool {
	t.Helper()
	var n int
	if err := f.pool.QueryRow(context.Background(), `select count(*) from information_schema.schemata where schema_name = $1`, handlers.SchemaName(tn)).Scan(&n); err != nil {
		t.Fatal(err)
	}
	var roles int
	_ = f.pool.QueryRow(context.Background(), `select count(*) from pg_roles where rolname = $1`, handlers.SchemaName(tn)).Scan(&roles)
	return n+roles > 0
}

// A permanent failure at each step in turn ends PROVISION_FAILED with
// everything made before it gone and a failure mail naming the step.
func TestFailureAtEachStepCleansUp(t *testing.T) {
	for _, step := range domain.Steps {
		t.Run(step, func(t *testing.T) {
			f := newFlow(t, withFaults(step+"=permanent"))
			tn := f.provision(t, "f")
			tn = f.waitFor(t, tn.ID(), "rolled back and notified", 90*time.Second, settled)
			if tn.Status() != domain.StatusProvisionFailed {
				t.Fatalf("status %s: %s", tn.Status(), describe(tn))
			}
			if failed, reason, _ := tn.FailedStep(); failed != step || reason == "" {
				t.Fatalf("failed step %q (%s), want %s", failed, reason, step)
			}
			if f.realmExists(t, tn) || f.schemaExists(t, tn) || len(tn.Resources()) != 0 || len(tn.Orphans()) != 0 {
				t.Fatalf("left behind: realm %v, schema %v, resources %v, orphans %v", f.realmExists(t, tn), f.schemaExists(t, tn), tn.Resources(), tn.Orphans())
			}
			mail := mailtest.WaitForSubject(t, tn.Contact().Email, "did not succeed", 10*time.Second)
			if !strings.Contains(mail.Body, "Failed step: "+step) {
				t.Fatalf("failure mail does not name %s:\n%s", step, mail.Body)
			}
		})
	}
}

// Transient failures are retried inside the handler: twice failing, then
// succeeding, ends ACTIVE with three tries recorded.
func TestTransientFailureIsRetried(t *testing.T) {
	f := newFlow(t, withFaults(domain.StepDatabase+"=transient:2"))
	tn := f.provision(t, "r")
	tn = f.waitFor(t, tn.ID(), "ACTIVE", 90*time.Second, settled)
	if tn.Status() != domain.StatusActive {
		t.Fatalf("status %s: %s", tn.Status(), describe(tn))
	}
	for _, s := range tn.StepStates() {
		if s.Step == domain.StepDatabase && (s.Tries != 3 || s.State != domain.OutcomeCompleted) {
			t.Fatalf("database step %+v, want completed after 3 tries", s)
		}
	}
}

// Every trigger delivered twice, and afterwards the whole stream published
// again out of band: no outcome is recorded twice, nothing is made twice.
func TestRedeliveryChangesNothing(t *testing.T) {
	f := newFlow(t, withDuplicates())
	tn := f.provision(t, "d")
	tn = f.waitFor(t, tn.ID(), "ACTIVE", 90*time.Second, settled)
	if tn.Status() != domain.StatusActive {
		t.Fatalf("status %s: %s", tn.Status(), describe(tn))
	}
	ctx := context.Background()
	stored, err := f.store.Load(ctx, "tenant-"+tn.ID())
	if err != nil {
		t.Fatal(err)
	}
	// Out of band: the relay's records of this stream, once more.
	relay := &eventstore.Relay{Store: f.store, Publisher: f.publisher, Topic: f.topic}
	if err := relay.Republish(ctx, stored); err != nil {
		t.Fatal(err)
	}
	f.waitIdle(t) // every group has consumed (and committed) past the duplicates

	again, err := f.store.Load(ctx, "tenant-"+tn.ID())
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != len(stored) {
		t.Fatalf("%d events after redelivery, %d before", len(again), len(stored))
	}
	seen := map[string]bool{}
	for _, e := range again {
		if seen[e.Type] {
			t.Fatalf("outcome %s recorded twice", e.Type)
		}
		seen[e.Type] = true
	}
	token, _ := f.admin.Token(ctx)
	users, err := f.admin.Client().GetUsers(ctx, token, handlers.RealmName(tn), gocloak.GetUsersParams{})
	if err != nil || len(users) != 1 {
		t.Fatalf("users in the realm: %d %v", len(users), err)
	}
	if n := mailtest.Count(t, tn.Contact().Email); n != 2 {
		t.Fatalf("%d mails, want one welcome and one set-password mail", n)
	}
}
