package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"github.com/tenantflow/tenantflow/domain"
	"golang.org/x/time/rate"
)

// TenantAdminRole is the realm role a tenant's administrator holds: in the
// tenant's own realm, or in the shared realm of the organization model,
// where it is scoped by the user's organizations.
const TenantAdminRole = "tenant-admin"

// TenantAdmins verifies the tokens Keycloak issues to tenants'
// administrators, from either identity model:
//
//   - realm model: issuer <Keycloak>/realms/tenant-<key>, realm role
//     tenant-admin: administers tenant <key>;
//   - organization model: issuer <Keycloak>/realms/<SharedRealm>, realm role
//     tenant-admin and the organization claim ("organization": ["<key>", ...]):
//     administers the tenants of those organizations.
//
// Each key must name a tenant of that identity model (Resolve), so a token
// from a realm or organization that is no tenant's, or a tenant of the
// other model, grants nothing. Such a token carries no permission code: it
// only opens routes that check its tenants (Claims.Tenants).
type TenantAdmins struct {
	// KeycloakURL is Keycloak's base URL as its tokens' issuers spell it.
	KeycloakURL string
	SharedRealm string
	// Resolve names the tenant holding key and its identity model
	// (domain.IdentityRealm or domain.IdentityOrganization); "" when none.
	Resolve func(ctx context.Context, key string) (tenantID, identity string)

	ctx  context.Context
	mu   sync.Mutex
	sets map[string]keyfunc.Keyfunc // realm → its key set, fetched on first use
}

// NewTenantAdmins returns a verifier whose key sets refresh until ctx ends.
func NewTenantAdmins(ctx context.Context, keycloakURL, sharedRealm string, resolve func(ctx context.Context, key string) (string, string)) *TenantAdmins {
	return &TenantAdmins{KeycloakURL: strings.TrimRight(keycloakURL, "/"), SharedRealm: sharedRealm, Resolve: resolve,
		ctx: ctx, sets: map[string]keyfunc.Keyfunc{}}
}

// tenantClaims are the Keycloak claims a tenant admin's token is read by.
type tenantClaims struct {
	RealmAccess struct {
		Roles []string `json:"roles"`
	} `json:"realm_access"`
	// Organization is Keycloak's organization claim: a list of aliases, or
	// (with "add organization id") an object keyed by alias.
	Organization json.RawMessage `json:"organization"`
	Claims
}

func (c tenantClaims) organizations() []string {
	var list []string
	if json.Unmarshal(c.Organization, &list) == nil {
		return list
	}
	var byAlias map[string]json.RawMessage
	if json.Unmarshal(c.Organization, &byAlias) == nil {
		for alias := range byAlias {
			list = append(list, alias)
		}
	}
	return list
}

// Verify checks a tenant admin's token: its issuer is one of Keycloak's
// tenant realms or the shared realm, its signature by that realm's key,
// expiry, the role, and the tenants it names. The answer's Tenants are
// the tenant ids it administers.
func (v *TenantAdmins) Verify(token string) (*Claims, error) {
	var peek jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &peek); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	realm, ok := strings.CutPrefix(peek.Issuer, v.KeycloakURL+"/realms/")
	key, tenantRealm := strings.CutPrefix(realm, domain.RealmPrefix)
	want := "realm"
	switch {
	case !ok:
		return nil, fmt.Errorf("%w: issuer %q is not Keycloak's", ErrInvalidToken, peek.Issuer)
	case realm == v.SharedRealm && v.SharedRealm != "":
		want = "organization"
	case !tenantRealm:
		return nil, fmt.Errorf("%w: realm %q is neither a tenant's nor the shared realm", ErrInvalidToken, realm)
	}
	// A realm's key set is fetched only for a realm that is a tenant's, so
	// tokens naming made-up realms cost no fetch and no memory.
	var realmTenant string
	if tenantRealm {
		id, identity := v.Resolve(v.ctx, key)
		if id == "" || identity != want {
			return nil, fmt.Errorf("%w: realm %q is no realm tenant's", ErrInvalidToken, realm)
		}
		realmTenant = id
	}
	set, err := v.keySet(realm, peek.Issuer)
	if err != nil {
		return nil, err
	}
	var c tenantClaims
	_, err = jwt.ParseWithClaims(token, &c, set.Keyfunc, jwt.WithValidMethods([]string{jwt.SigningMethodRS256.Alg()}),
		jwt.WithIssuer(peek.Issuer), jwt.WithExpirationRequired(), jwt.WithLeeway(30*time.Second))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if !slices.Contains(c.RealmAccess.Roles, TenantAdminRole) {
		return nil, fmt.Errorf("%w: the token lacks realm role %s", ErrInvalidToken, TenantAdminRole)
	}
	out := c.Claims
	out.Permissions = nil // a tenant admin's token grants no operator permission, whatever it carries
	if realmTenant != "" {
		out.Tenants = []string{realmTenant} // resolved above, before the key set was fetched
	} else {
		for _, k := range c.organizations() {
			if id, identity := v.Resolve(v.ctx, k); id != "" && identity == want {
				out.Tenants = append(out.Tenants, id)
			}
		}
	}
	if len(out.Tenants) == 0 {
		return nil, fmt.Errorf("%w: the token names no tenant of the %s model", ErrInvalidToken, want)
	}
	return &out, nil
}

// maxKeySets bounds the realms whose key sets are kept (each refreshes in
// the background).
const maxKeySets = 5000

func (v *TenantAdmins) keySet(realm, issuer string) (keyfunc.Keyfunc, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if set, ok := v.sets[realm]; ok {
		return set, nil
	}
	if len(v.sets) >= maxKeySets {
		return nil, errors.New("too many tenant realms' key sets held")
	}
	set, err := keyfunc.NewDefaultOverrideCtx(v.ctx, []string{issuer + "/protocol/openid-connect/certs"}, keyfunc.Override{
		HTTPTimeout: 5 * time.Second, RateLimitWaitMax: time.Second, RefreshUnknownKID: rate.NewLimiter(rate.Every(30*time.Second), 1),
	})
	if err != nil {
		return nil, fmt.Errorf("key set of realm %s: %w", realm, err)
	}
	v.sets[realm] = set
	return set, nil
}
