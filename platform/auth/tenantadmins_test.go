package auth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Tenant administrators' tokens against a key set served the way Keycloak
// serves each realm's (the real Keycloak's tokens are checked end to end in
// cmd/tenantd's identity test): what each token may read, and what is
// refused without fetching anything.
func TestTenantAdminsReadTheirOwnTenantsOnly(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	var fetches atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/protocol/openid-connect/certs") {
			http.NotFound(w, r)
			return
		}
		fetches.Add(1)
		b64 := base64.RawURLEncoding.EncodeToString
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
			"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes())}}})
	}))
	t.Cleanup(srv.Close)
	tenants := map[string][2]string{"acme": {"id-acme", "realm"}, "shop": {"id-shop", "organization"}, "mall": {"id-mall", "organization"}}
	v := NewTenantAdmins(t.Context(), srv.URL, "tenants", func(_ context.Context, k string) (string, string) {
		return tenants[k][0], tenants[k][1]
	})
	mint := func(realm string, claims jwt.MapClaims) string {
		claims["iss"], claims["exp"] = srv.URL+"/realms/"+realm, time.Now().Add(time.Minute).Unix()
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
		tok.Header["kid"] = "k1"
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	admin := map[string]any{"roles": []string{TenantAdminRole}}
	for _, c := range []struct {
		name  string
		token string
		want  []string // nil: refused
	}{
		{"a realm tenant's admin", mint("tenant-acme", jwt.MapClaims{"realm_access": admin}), []string{"id-acme"}},
		{"an organization's admin", mint("tenants", jwt.MapClaims{"realm_access": admin, "organization": []string{"shop"}}), []string{"id-shop"}},
		{"an admin of two organizations", mint("tenants", jwt.MapClaims{"realm_access": admin, "organization": []string{"shop", "mall"}}), []string{"id-shop", "id-mall"}},
		{"the organization claim with ids", mint("tenants", jwt.MapClaims{"realm_access": admin, "organization": map[string]any{"shop": map[string]any{"id": "x"}}}), []string{"id-shop"}},
		{"a member who is no admin", mint("tenants", jwt.MapClaims{"organization": []string{"shop"}}), nil},
		{"an organization alias of a realm tenant", mint("tenants", jwt.MapClaims{"realm_access": admin, "organization": []string{"acme"}}), nil},
		{"the realm tenant-<key> of an organization tenant", mint("tenant-shop", jwt.MapClaims{"realm_access": admin}), nil},
		{"a realm that is no tenant's", mint("tenant-ghost", jwt.MapClaims{"realm_access": admin}), nil},
		{"another realm", mint("master", jwt.MapClaims{"realm_access": admin}), nil},
		{"an HS256 token", func() string {
			s, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": srv.URL + "/realms/tenant-acme", "exp": time.Now().Add(time.Minute).Unix(),
				"realm_access": admin}).SignedString([]byte("a-secret-a-secret-a-secret-a-secret"))
			return s
		}(), nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := v.Verify(c.token)
			switch {
			case c.want == nil && err == nil:
				t.Fatalf("accepted, administering %v", got.Tenants)
			case c.want != nil && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want != nil && !slices.Equal(got.Tenants, c.want) && !slices.Equal(slices.Sorted(slices.Values(got.Tenants)), slices.Sorted(slices.Values(c.want))):
				t.Fatalf("administers %v, want %v", got.Tenants, c.want)
			}
		})
	}
	// A permissions claim a realm tenant's admin could add with a mapper of
	// its own realm grants nothing.
	got, err := v.Verify(mint("tenant-acme", jwt.MapClaims{"realm_access": admin, "permissions": []string{ViewTenant, DeleteTenant}}))
	if err != nil || len(got.Permissions) != 0 {
		t.Fatalf("permissions %v (%v), want none", got, err)
	}
	before := fetches.Load()
	if _, err := v.Verify(mint("tenant-nobody", jwt.MapClaims{"realm_access": admin})); err == nil || fetches.Load() != before {
		t.Errorf("a made-up realm: %v, %d key set fetches, want a refusal without a fetch", err, fetches.Load()-before)
	}
}
