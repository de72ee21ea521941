// Package auth mints and verifies tenantflow's bearer tokens: JWTs carrying
// a "permissions" claim of permission codes. Development uses HS256 with a
// shared secret (TENANTFLOW_JWT_SECRET), so `tenantctl token` can mint a
// token instead of anyone writing one by hand.
package auth

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Permission codes, kept from the system tenantflow replaces.
const (
	CreateLead      = "10200"
	ViewLead        = "10203"
	CreateTenant    = "10204"
	UpdateTenant    = "10205"
	DeleteTenant    = "10206"
	ViewTenant      = "10207"
	ProvisionTenant = "10216"
)

// Known lists every permission code, for validating what tenantctl mints.
var Known = []string{CreateLead, ViewLead, CreateTenant, UpdateTenant, DeleteTenant, ViewTenant, ProvisionTenant}

// MinSecretLength is the shortest HS256 secret accepted (256 bits).
const MinSecretLength = 32

// Claims are a verified token's contents.
type Claims struct {
	Permissions []string `json:"permissions"`
	// LeadID scopes a lead's token: it may only create that lead's tenant.
	LeadID string `json:"leadId,omitempty"`
	jwt.RegisteredClaims
}

// Has reports whether the token grants permission p.
func (c *Claims) Has(p string) bool { return slices.Contains(c.Permissions, p) }

// ErrInvalidToken covers every way a token can be unacceptable; the reason
// is wrapped for logs, never shown to the client in detail.
var ErrInvalidToken = errors.New("invalid token")

// HS256 mints and verifies tokens signed with a shared secret.
type HS256 struct {
	secret []byte
	issuer string
}

// NewHS256 returns a signer/verifier; the secret must be at least 32 bytes.
func NewHS256(secret, issuer string) (*HS256, error) {
	if len(secret) < MinSecretLength {
		return nil, fmt.Errorf("JWT secret must be at least %d bytes", MinSecretLength)
	}
	if issuer == "" {
		return nil, errors.New("JWT issuer must not be empty")
	}
	return &HS256{secret: []byte(secret), issuer: issuer}, nil
}

// Mint returns a token for subject with the given permissions, valid for ttl.
func (h *HS256) Mint(subject string, permissions []string, leadID string, ttl time.Duration, now time.Time) (string, error) {
	if ttl <= 0 {
		return "", errors.New("token lifetime must be positive")
	}
	c := Claims{
		Permissions: permissions,
		LeadID:      leadID,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    h.issuer,
			Subject:   subject,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(h.secret)
}

// Verify checks signature (HS256 only), issuer, expiry and not-before.
func (h *HS256) Verify(token string) (*Claims, error) {
	var c Claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return h.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(h.issuer),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(30*time.Second),
	)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	return &c, nil
}
