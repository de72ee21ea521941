package auth

import (
	"errors"
	"strings"
	"testing"
	"time"

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
	v, err := NewVerifier(t.Context(), h, "", "")
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
