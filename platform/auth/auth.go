// Package auth mints and verifies tenantflow's bearer tokens: JWTs carrying
// a "permissions" claim of permission codes. Development uses HS256 with a
// shared secret (TENANTFLOW_JWT_SECRET), so `tenantctl token` can mint a
// token instead of anyone writing one by hand; production verifies RS256
// tokens against Keycloak's key set (TENANTFLOW_JWT_JWKS_URL).
package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"golang.org/x/time/rate"
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

	CreateTenantConfig = "10220"
	ViewTenantConfig   = "10221"
	UpdateTenantConfig = "10222"
	DeleteTenantConfig = "10223"

	// ARC's subscription service's: the plan catalogue and a tenant's
	// subscription. Deleting a plan archives it; updating a subscription is
	// a plan change (POST /tenants/{id}/plan).
	UpdateSubscription = "7002"
	ViewSubscription   = "7004"
	CreatePlan         = "7005"
	UpdatePlan         = "7006"
	DeletePlan         = "7007"
	ViewPlan           = "7008"

	// ARC's invoices of a tenant.
	CreateInvoice = "10212"
	ViewInvoice   = "10215"

	// tenantflow's own (the replaced system had no orphans to manage).
	ViewOrphans   = "10240" // GET /orphans
	ManageOrphans = "10241" // POST /tenants/{id}/orphans/retry and /forget
	SuspendTenant = "10242" // POST /tenants/{id}/suspend and /reactivate
)

// Known lists every permission code, for validating what tenantctl mints.
var Known = []string{CreateLead, ViewLead, CreateTenant, UpdateTenant, DeleteTenant, ViewTenant, ProvisionTenant,
	CreateTenantConfig, ViewTenantConfig, UpdateTenantConfig, DeleteTenantConfig, ViewOrphans, ManageOrphans, SuspendTenant,
	ViewSubscription, UpdateSubscription, CreatePlan, UpdatePlan, DeletePlan, ViewPlan, CreateInvoice, ViewInvoice}

// MinSecretLength is the shortest HS256 secret accepted (256 bits).
const MinSecretLength = 32

// Claims are a verified token's contents. Besides tenantflow's own shape
// (sub, permissions), the replaced system's HS256 tokens are read as they
// are: no sub, the user in "id" and "userTenantId".
type Claims struct {
	Permissions []string `json:"permissions"`
	// LeadID scopes a lead's token: it may only create that lead's tenant.
	LeadID string `json:"leadId,omitempty"`
	// AuthorizedParty is the OAuth client the token was issued to (azp).
	AuthorizedParty string `json:"azp,omitempty"`
	// UserID and UserTenantID are the replaced system's claims "id" and
	// "userTenantId".
	UserID       string `json:"id,omitempty"`
	UserTenantID string `json:"userTenantId,omitempty"`
	// Tenants are the tenant ids a tenant administrator's token administers
	// (TenantAdmins), or the replaced system's userTenantId; never read
	// from a claim of tenantflow's own.
	Tenants []string `json:"-"`
	jwt.RegisteredClaims
}

// Who names the token's holder for the log's actor and idempotency scopes:
// the subject, or the replaced system's "id" when there is none.
func (c *Claims) Who() string {
	if c.Subject != "" {
		return c.Subject
	}
	return c.UserID
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
	return parse(token, h.issuer, []string{jwt.SigningMethodHS256.Alg()}, func(*jwt.Token) (any, error) { return h.secret, nil })
}

// Verifier accepts HS256 tokens signed with the shared secret (development,
// the lead tokens tenantd mints itself, the replaced system's tokens) with
// the HS256 issuer, and, when a key set is configured, RS256 tokens signed
// by a key of that set (Keycloak's operators' realm) with that realm's
// issuer. With a key set, operators' tokens come from it: an HS256 token
// granting permissions is refused unless JWKS.HS256Operators allows it
// (development); lead tokens (no permissions) stay HS256.
type Verifier struct {
	hs     *HS256
	jwks   keyfunc.Keyfunc
	set    JWKS
	passed passed
}

// passed remembers tokens Verify accepted, with their claims, until they
// expire: a client sends the same token with every request until it
// renews it, and checking an RS256 signature again each time was most of
// the CPU a GET /tenants/{id} cost. A key removed from the key set keeps
// its tokens valid until they expire — as it already did until the next
// hourly refresh of the set. At maxPassed tokens the memory starts over.
type passed struct {
	mu sync.Mutex
	m  map[string]*Claims
}

const maxPassed = 10_000

func (p *passed) get(token string, now time.Time) (*Claims, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.m[token]
	if ok && !now.Before(c.ExpiresAt.Time) {
		delete(p.m, token)
		return nil, false
	}
	return c, ok
}

func (p *passed) put(token string, c *Claims) {
	if c.ExpiresAt == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil || len(p.m) >= maxPassed {
		p.m = map[string]*Claims{}
	}
	p.m[token] = c
}

// JWKS configures the RS256 tokens of a key set.
type JWKS struct {
	URL, Issuer string
	// Audience, when set, must be one of a key-set token's aud, or its azp.
	Audience string
	// HS256Operators keeps HS256 tokens that grant permissions valid beside
	// the key set (development only).
	HS256Operators bool
}

// NewVerifier builds a verifier from whatever is configured: hs may be nil,
// set.URL may be empty, but not both. The key set is fetched in the
// background until ctx ends: hourly, and at once (at most every 30 s) when a
// token names a key id the cache does not hold, so a rotated Keycloak key is
// picked up without a restart.
func NewVerifier(ctx context.Context, hs *HS256, set JWKS) (*Verifier, error) {
	if hs == nil && set.URL == "" {
		return nil, errors.New("no way to verify tokens: neither a JWT secret nor a JWKS URL is configured")
	}
	v := &Verifier{hs: hs, set: set}
	if set.URL != "" {
		if set.Issuer == "" {
			return nil, errors.New("the JWKS tokens' issuer must not be empty")
		}
		k, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{set.URL}, keyfunc.Override{
			HTTPTimeout:       5 * time.Second,
			RateLimitWaitMax:  time.Second,
			RefreshUnknownKID: rate.NewLimiter(rate.Every(30*time.Second), 1),
		})
		if err != nil {
			return nil, fmt.Errorf("JWKS %s: %w", set.URL, err)
		}
		v.jwks = k
	}
	return v, nil
}

// Verify checks the signature with the key for the token's algorithm, the
// issuer that goes with that key, expiry and not-before, and then what the
// key set's configuration asks: its audience, and HS256 for leads only.
func (v *Verifier) Verify(token string) (*Claims, error) {
	if c, ok := v.passed.get(token, time.Now()); ok {
		return c.clone(), nil // callers may change their claims (Tenants); the remembered ones stay as verified
	}
	c, err := v.verify(token)
	if err != nil {
		return nil, err
	}
	v.passed.put(token, c.clone())
	return c, nil
}

func (c *Claims) clone() *Claims {
	out := *c
	out.Permissions, out.Tenants, out.Audience = slices.Clone(c.Permissions), slices.Clone(c.Tenants), slices.Clone(c.Audience)
	return &out
}

func (v *Verifier) verify(token string) (*Claims, error) {
	var methods []string
	if v.hs != nil {
		methods = append(methods, jwt.SigningMethodHS256.Alg())
	}
	if v.jwks != nil {
		methods = append(methods, jwt.SigningMethodRS256.Alg())
	}
	hs256 := false
	c, err := parse(token, "", methods, func(t *jwt.Token) (any, error) {
		if t.Method.Alg() == jwt.SigningMethodHS256.Alg() {
			hs256 = true
			return v.hs.secret, nil
		}
		return v.jwks.Keyfunc(t)
	})
	if err != nil {
		return nil, err
	}
	switch {
	case hs256 && c.Issuer != v.hs.issuer:
		return nil, fmt.Errorf("%w: issuer %q is not %q", ErrInvalidToken, c.Issuer, v.hs.issuer)
	case hs256 && v.jwks != nil && len(c.Permissions) > 0 && !v.set.HS256Operators:
		return nil, fmt.Errorf("%w: operators' tokens come from the key set; an HS256 token may only be a lead's", ErrInvalidToken)
	case !hs256 && c.Issuer != v.set.Issuer:
		return nil, fmt.Errorf("%w: issuer %q is not %q", ErrInvalidToken, c.Issuer, v.set.Issuer)
	case !hs256 && v.set.Audience != "" && !slices.Contains(c.Audience, v.set.Audience) && c.AuthorizedParty != v.set.Audience:
		return nil, fmt.Errorf("%w: audience %v (azp %q) does not name %q", ErrInvalidToken, c.Audience, c.AuthorizedParty, v.set.Audience)
	}
	return c, nil
}

// parse verifies token's signature, expiry and not-before, and its issuer
// unless issuer is "" (the caller checks it).
func parse(token, issuer string, methods []string, key jwt.Keyfunc) (*Claims, error) {
	var c Claims
	opts := []jwt.ParserOption{jwt.WithValidMethods(methods), jwt.WithExpirationRequired(), jwt.WithLeeway(30 * time.Second)}
	if issuer != "" {
		opts = append(opts, jwt.WithIssuer(issuer))
	}
	_, err := jwt.ParseWithClaims(token, &c, key, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	// The replaced system's userTenantId names the tenant its user belongs
	// to: honoured as a tenant administrator's is (that tenant only).
	if id, err := uuid.Parse(c.UserTenantID); err == nil {
		c.Tenants = []string{id.String()}
	}
	return &c, nil
}
