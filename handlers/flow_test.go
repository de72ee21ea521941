package handlers_test

import (
	"context"
	"testing"
	"time"

	"github.com/Nerzal/gocloak/v13"
	"github.com/tenantflow/tenantflow/domain"
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
