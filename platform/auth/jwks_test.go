package auth_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/Nerzal/gocloak/v13"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/tenantflow/tenantflow/adapters/keycloak"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
	"github.com/tenantflow/tenantflow/platform/auth"
)

// keycloakRealm creates a throw-away realm on the dev stack's Keycloak with a
// service-account client whose tokens carry permissions ["10207","10216"]
// (a hard-coded claim mapper, as a production realm would configure with a
// role-to-claim mapper). It returns a function that logs the client in.
func keycloakRealm(t *testing.T) (kc *gocloak.GoCloak, adminToken, realm, issuer string, login func() string) {
	env := testenv.Require(t, "TENANTFLOW_KEYCLOAK_URL", "TENANTFLOW_KEYCLOAK_ADMIN_USER", "TENANTFLOW_KEYCLOAK_ADMIN_PASSWORD")
	admin := keycloak.NewAdmin(env["TENANTFLOW_KEYCLOAK_URL"], "master", env["TENANTFLOW_KEYCLOAK_ADMIN_USER"], env["TENANTFLOW_KEYCLOAK_ADMIN_PASSWORD"])
	ctx := context.Background()
	adminToken, err := admin.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kc = admin.Client()
	realm = "jwks-" + uuid.NewString()[:8]
	if _, err := kc.CreateRealm(ctx, adminToken, gocloak.RealmRepresentation{Realm: &realm, Enabled: gocloak.BoolP(true)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if tok, err := admin.Token(context.Background()); err == nil {
			_ = kc.DeleteRealm(context.Background(), tok, realm)
		}
	})
	secret := uuid.NewString()
	_, err = kc.CreateClient(ctx, adminToken, realm, gocloak.Client{
		ClientID: gocloak.StringP("operator-cli"), Secret: &secret, PublicClient: gocloak.BoolP(false),
		ServiceAccountsEnabled: gocloak.BoolP(true), StandardFlowEnabled: gocloak.BoolP(false),
		ProtocolMappers: &[]gocloak.ProtocolMapperRepresentation{{
			Name: gocloak.StringP("permissions"), Protocol: gocloak.StringP("openid-connect"),
			ProtocolMapper: gocloak.StringP("oidc-hardcoded-claim-mapper"),
			Config: &map[string]string{"claim.name": "permissions", "claim.value": `["10207","10216"]`,
				"jsonType.label": "JSON", "access.token.claim": "true"},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	issuer = strings.TrimRight(env["TENANTFLOW_KEYCLOAK_URL"], "/") + "/realms/" + realm
	login = func() string {
		t.Helper()
		jwt, err := kc.LoginClient(context.Background(), "operator-cli", secret, realm)
		if err != nil {
			t.Fatal(err)
		}
		return jwt.AccessToken
	}
	return kc, adminToken, realm, issuer, login
}

func kidOf(t *testing.T, token string) string {
	t.Helper()
	tok, _, err := jwt.NewParser().ParseUnverified(token, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := tok.Header["kid"].(string)
	return kid
}

// Keycloak's RS256 tokens verify against its JWKS; a key added later (a
// rotation) is fetched when a token names it; tokens of another issuer and
// HS256 tokens (when no secret is configured) are refused.
func TestKeycloakTokensVerifyAgainstJWKS(t *testing.T) {
	kc, adminToken, realm, issuer, login := keycloakRealm(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v, err := auth.NewVerifier(ctx, nil, auth.JWKS{URL: issuer + "/protocol/openid-connect/certs", Issuer: issuer})
	if err != nil {
		t.Fatal(err)
	}

	first := login()
	c, err := v.Verify(first)
	if err != nil {
		t.Fatalf("Keycloak token refused: %v", err)
	}
	if !c.Has(auth.ViewTenant) || !c.Has(auth.ProvisionTenant) || c.Has(auth.CreateTenant) {
		t.Fatalf("permissions %v, want 10207 and 10216", c.Permissions)
	}

	// Rotate: a new RSA key with a higher priority signs from now on.
	realmRep, err := kc.GetRealm(ctx, adminToken, realm)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kc.CreateComponent(ctx, adminToken, realm, gocloak.Component{
		Name: gocloak.StringP("rotated"), ProviderID: gocloak.StringP("rsa-generated"),
		ProviderType: gocloak.StringP("org.keycloak.keys.KeyProvider"), ParentID: realmRep.ID,
		ComponentConfig: &map[string][]string{"priority": {"1000"}, "algorithm": {"RS256"}},
	}); err != nil {
		t.Fatal(err)
	}
	second := login()
	if kidOf(t, second) == kidOf(t, first) {
		t.Fatal("the rotation did not change the signing key")
	}
	if _, err := v.Verify(second); err != nil {
		t.Fatalf("token signed with the rotated key refused (no refresh on unknown kid?): %v", err)
	}

	other, err := auth.NewVerifier(ctx, nil, auth.JWKS{URL: issuer + "/protocol/openid-connect/certs", Issuer: "https://someone-else.example"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Verify(second); !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("token of another issuer accepted: %v", err)
	}
	hs, _ := auth.NewHS256(strings.Repeat("k", 32), issuer)
	forged, _ := hs.Mint("x", []string{auth.CreateTenant}, "", time.Minute, time.Now())
	if _, err := v.Verify(forged); !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("HS256 token accepted by a JWKS-only verifier: %v", err)
	}
}

func TestVerifierNeedsAKey(t *testing.T) {
	if _, err := auth.NewVerifier(context.Background(), nil, auth.JWKS{Issuer: "tenantflow"}); err == nil {
		t.Fatal("a verifier without secret and JWKS was built")
	}
}
