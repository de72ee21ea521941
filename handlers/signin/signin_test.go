package signin_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/tenantflow/tenantflow/adapters/keycloak"
	"github.com/tenantflow/tenantflow/handlers/signin"
	"github.com/tenantflow/tenantflow/internal/testkit/devsteps"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
)

// organizationsOf reads the organization claim of an access token.
func organizationsOf(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	_ = json.Unmarshal(raw, &claims)
	b, _ := json.Marshal(claims["organization"])
	return string(b)
}

// A suspension's sign-in step refuses the tenant's admin at Keycloak and
// ends its session; the reactivation's lets it in again. Both steps are
// idempotent, and each undoes the other. Realm tenants: the realm is
// disabled. Organization tenants: the organization is disabled, and the
// admin's token no longer names it.
func TestSignInOffAndOn(t *testing.T) {
	id, admin := devsteps.Identity(t)
	for _, tier := range []string{"pooled", "basic"} {
		t.Run(tier, func(t *testing.T) {
			ctx := context.Background()
			key := testenv.UniqueKey("s")
			tn := testenv.NewTenantOnTier(t, key, tier)
			if _, err := id.RealmStep().Do(ctx, tn); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = id.RealmStep().Undo(context.Background(), tn) })
			if _, err := devsteps.AdminUser(id).Do(ctx, tn); err != nil {
				t.Fatal(err)
			}
			kt := keycloak.Tenants{Admin: admin, SharedRealm: id.SharedRealm}
			orgs := keycloak.Organizations(tn)
			signIn := devsteps.SignIn(t, admin, kt.RealmOf(tn), key+"@example.com", orgs)
			admitted := func() bool {
				token, err := signIn()
				if err != nil {
					return false
				}
				return !orgs || strings.Contains(organizationsOf(t, token), key)
			}
			if !admitted() {
				t.Fatal("the admin is refused before any suspension")
			}
			off, on := signin.Off{Keycloak: kt}, signin.On{Keycloak: kt}
			for range 2 {
				if _, err := off.Do(ctx, tn); err != nil {
					t.Fatal(err)
				}
			}
			if admitted() {
				t.Fatal("the admin of a suspended tenant signs in")
			}
			if _, err := on.Do(ctx, tn); err != nil {
				t.Fatal(err)
			}
			if !admitted() {
				t.Fatal("the admin is refused after the reactivation")
			}
			if err := on.Undo(ctx, tn); err != nil || admitted() {
				t.Fatalf("the reactivation's undo: %v, admitted %v", err, admitted())
			}
			if err := off.Undo(ctx, tn); err != nil || !admitted() {
				t.Fatalf("the suspension's undo: %v, admitted %v", err, admitted())
			}
		})
	}
}
