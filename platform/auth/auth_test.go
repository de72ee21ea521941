package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
)

const secret = "0123456789abcdef0123456789abcdef"

func TestMintAndVerify(t *testing.T) {
	h, err := NewHS256(secret, "tenantflow")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tok, err := h.Mint("ops", []string{ProvisionTenant, ViewTenant}, "", time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	c, err := h.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Has(ProvisionTenant) || !c.Has(ViewTenant) || c.Has(CreateTenant) || c.Subject != "ops" {
		t.Fatalf("claims %+v", c)
	}
}

func TestVerifyRejects(t *testing.T) {
	h, _ := NewHS256(secret, "tenantflow")
	other, _ := NewHS256(strings.Repeat("x", 32), "tenantflow")
	otherIssuer, _ := NewHS256(secret, "someone-else")
	now := time.Now()
	good, _ := h.Mint("ops", []string{ViewTenant}, "", time.Hour, now)
	expired, _ := h.Mint("ops", []string{ViewTenant}, "", time.Minute, now.Add(-time.Hour))
	wrongKey, _ := other.Mint("ops", []string{ViewTenant}, "", time.Hour, now)
	wrongIssuer, _ := otherIssuer.Mint("ops", []string{ViewTenant}, "", time.Hour, now)
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"iss": "tenantflow", "exp": now.Add(time.Hour).Unix()}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	noExpiry, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": "tenantflow"}).SignedString([]byte(secret))
	cases := map[string]string{
		"expired":      expired,
		"wrong key":    wrongKey,
		"wrong issuer": wrongIssuer,
		"alg none":     none,
		"no expiry":    noExpiry,
		"garbage":      "not.a.jwt",
		"empty":        "",
		"tampered":     good[:len(good)-2] + "xx",
	}
	for name, tok := range cases {
		if _, err := h.Verify(tok); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: got %v", name, err)
		}
	}
	if _, err := h.Verify(good); err != nil {
		t.Fatalf("the good token was refused: %v", err)
	}
}

func TestSecretTooShort(t *testing.T) {
	if _, err := NewHS256("short", "tenantflow"); err == nil {
		t.Fatal("a short secret was accepted")
	}
}

// The replaced system's admin tokens (jsonwebtoken's HS256 with claims id,
// userTenantId and permissions, issuer "arc-saas", no sub) are accepted
// when secret and issuer match, and refused when either does not.
func TestReplacedSystemTokens(t *testing.T) {
	mint := func(key, issuer string) string {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
			"id": "admin-user-id", "userTenantId": "admin-user-id", "permissions": []string{ProvisionTenant},
			"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(), "iss": issuer,
		}).SignedString([]byte(key))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	h, err := NewHS256(secret, "arc-saas")
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(t.Context(), h, JWKS{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Verify(mint(secret, "arc-saas"))
	if err != nil {
		t.Fatalf("the replaced system's token refused: %v", err)
	}
	if c.Who() != "admin-user-id" || c.UserTenantID != "admin-user-id" || !c.Has(ProvisionTenant) || c.Has(CreateTenant) {
		t.Fatalf("claims %+v", c)
	}
	for name, tok := range map[string]string{
		"another issuer": mint(secret, "someone-else"),
		"another secret": mint(strings.Repeat("x", 32), "arc-saas"),
	} {
		if _, err := v.Verify(tok); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: accepted (%v)", name, err)
		}
	}
	// The replaced system's example secret is 24 bytes: too short here.
	if _, err := NewHS256("your-jwt-secret-key-here", "arc-saas"); err == nil {
		t.Error("a 24-byte secret was accepted")
	}
}

// With a key set: its tokens need its issuer and, when configured, the
// audience (aud or azp); HS256 tokens that grant permissions are refused
// unless allowed for development, while lead tokens (no permissions) stay
// valid. The key set here is a static one built in the test: the verifier's
// rules are under test; tokens from the real Keycloak are in jwks_test.go.
func TestKeySetPolicy(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	set, _ := json.Marshal(map[string]any{"keys": []map[string]string{{"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
		"n": base64.RawURLEncoding.EncodeToString(key.N.Bytes()), "e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes())}}})
	kf, err := keyfunc.NewJWKSetJSON(set)
	if err != nil {
		t.Fatal(err)
	}
	rs := func(claims jwt.MapClaims) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
		tok.Header["kid"] = "k1"
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	exp := time.Now().Add(time.Hour).Unix()
	hs, _ := NewHS256(secret, "tenantflow")
	operator, _ := hs.Mint("ops", []string{ViewTenant}, "", time.Hour, time.Now())
	lead, _ := hs.Mint("lead", nil, "lead-1", time.Hour, time.Now())
	v := &Verifier{hs: hs, jwks: kf, set: JWKS{Issuer: "https://id/realms/ops", Audience: "tenantflow-api"}}

	for name, c := range map[string]struct {
		token string
		ok    bool
	}{
		"key set, audience in aud":  {rs(jwt.MapClaims{"iss": "https://id/realms/ops", "aud": []string{"account", "tenantflow-api"}, "exp": exp}), true},
		"key set, audience as azp":  {rs(jwt.MapClaims{"iss": "https://id/realms/ops", "azp": "tenantflow-api", "exp": exp}), true},
		"key set, another audience": {rs(jwt.MapClaims{"iss": "https://id/realms/ops", "aud": "account", "azp": "tenantctl", "exp": exp}), false},
		"key set, another issuer":   {rs(jwt.MapClaims{"iss": "tenantflow", "aud": "tenantflow-api", "exp": exp}), false},
		"HS256 operator":            {operator, false},
		"HS256 lead":                {lead, true},
	} {
		if _, err := v.Verify(c.token); (err == nil) != c.ok {
			t.Errorf("%s: accepted %v (%v), want %v", name, err == nil, err, c.ok)
		}
	}
	v.set.HS256Operators = true
	if _, err := v.Verify(operator); err != nil {
		t.Errorf("an HS256 operator's token with HS256Operators: %v", err)
	}
}

// A verified token is remembered until it expires: the claims a caller
// gets and changes do not change what the next request gets, a token past
// its expiry is checked again (and refused), and a different token is
// never taken for a remembered one.
func TestVerifiedTokensRemembered(t *testing.T) {
	hs, _ := NewHS256(secret, "tenantflow")
	v, err := NewVerifier(t.Context(), hs, JWKS{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tok, _ := hs.Mint("ops", []string{ViewTenant}, "", time.Hour, now)
	first, err := v.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	first.Tenants = append(first.Tenants, "someone-elses")
	first.Permissions[0] = DeleteTenant
	again, err := v.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Tenants) != 0 || again.Who() != "ops" || !again.Has(ViewTenant) || again.Has(DeleteTenant) {
		t.Errorf("remembered claims changed by a caller: %+v", again)
	}
	if _, ok := v.passed.get(tok, now.Add(2*time.Hour)); ok {
		t.Error("a token past its expiry was served from memory")
	}
	forged := tok[:len(tok)-2] + "AA"
	if _, err := v.Verify(forged); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("a token differing from a remembered one in its signature: %v", err)
	}
	old, _ := hs.Mint("ops", []string{ViewTenant}, "", time.Minute, now.Add(-3*time.Minute))
	if _, err := v.Verify(old); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("an expired token: %v", err)
	}
}
