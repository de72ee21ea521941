package keycloak

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Nerzal/gocloak/v13"
	"github.com/google/uuid"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
)

func devAdmin(t *testing.T) *Admin {
	env := testenv.Require(t, "TENANTFLOW_KEYCLOAK_URL", "TENANTFLOW_KEYCLOAK_ADMIN_USER", "TENANTFLOW_KEYCLOAK_ADMIN_PASSWORD")
	return NewAdmin(env["TENANTFLOW_KEYCLOAK_URL"], "master", env["TENANTFLOW_KEYCLOAK_ADMIN_USER"], env["TENANTFLOW_KEYCLOAK_ADMIN_PASSWORD"])
}

// TestRealmLifecycleOnRealKeycloak proves the dev stack's Keycloak is real:
// a realm created through gocloak can be read back, then deleted for good.
func TestRealmLifecycleOnRealKeycloak(t *testing.T) {
	a := devAdmin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := a.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	token, err := a.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	name := "smoke-" + uuid.NewString()[:8]
	if _, err := a.Client().CreateRealm(ctx, token, gocloak.RealmRepresentation{
		Realm:   gocloak.StringP(name),
		Enabled: gocloak.BoolP(true),
	}); err != nil {
		t.Fatalf("create realm %s: %v", name, err)
	}
	deleted := false
	t.Cleanup(func() {
		if !deleted {
			_ = a.Client().DeleteRealm(context.Background(), token, name)
		}
	})

	got, err := a.Client().GetRealm(ctx, token, name)
	if err != nil || gocloak.PString(got.Realm) != name || !gocloak.PBool(got.Enabled) {
		t.Fatalf("read back realm %s: %+v, %v", name, got, err)
	}
	// Its public OpenID metadata is served: the realm exists for clients too.
	if _, err := a.Client().GetIssuer(ctx, name); err != nil {
		t.Fatalf("issuer of new realm: %v", err)
	}

	if err := a.Client().DeleteRealm(ctx, token, name); err != nil {
		t.Fatalf("delete realm: %v", err)
	}
	deleted = true
	_, err = a.Client().GetRealm(ctx, token, name)
	var apiErr *gocloak.APIError
	if !errors.As(err, &apiErr) || apiErr.Code != http.StatusNotFound {
		t.Fatalf("deleted realm still readable, or unexpected error: %v", err)
	}
}

func TestWrongPasswordIsRejectedWithoutEchoingIt(t *testing.T) {
	env := testenv.Require(t, "TENANTFLOW_KEYCLOAK_URL")
	const secret = "definitely-wrong-password-7f3a"
	a := NewAdmin(env["TENANTFLOW_KEYCLOAK_URL"], "master", "admin", secret)
	_, err := a.Token(context.Background())
	if err == nil {
		t.Fatal("login with a wrong password succeeded")
	}
	if s := fmt.Sprint(err); strings.Contains(s, secret) {
		t.Fatalf("error leaks the password: %v", err)
	}
}

func TestPingFailsForAnAbsentRealm(t *testing.T) {
	env := testenv.Require(t, "TENANTFLOW_KEYCLOAK_URL")
	a := NewAdmin(env["TENANTFLOW_KEYCLOAK_URL"], "no-such-realm-"+uuid.NewString()[:8], "admin", "x")
	if err := a.Ping(context.Background()); err == nil {
		t.Fatal("Ping succeeded for a realm that does not exist")
	}
}
