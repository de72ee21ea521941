// Package keycloak is tenantflow's adapter to Keycloak's admin REST API,
// through gocloak. The identity provisioning step builds on it.
package keycloak

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/Nerzal/gocloak/v13"
)

// Admin talks to Keycloak's admin API as a service account (NewServiceAccount,
// the way tenantd runs) or as an admin user (NewAdmin: the dev stack's own
// set-up and tests, and installations that have not made the client yet).
type Admin struct {
	baseURL  string
	client   *gocloak.GoCloak
	realm    string
	user     string
	password string
	clientID string // set: client credentials of a service account
	secret   string

	mu      sync.Mutex
	token   string    // the last access token, reused until shortly before it expires
	expires time.Time // when token stops being reused
}

// NewAdmin returns an adapter for the Keycloak at baseURL; it does not connect yet.
func NewAdmin(baseURL, adminRealm, user, password string) *Admin {
	c := gocloak.NewClient(baseURL)
	// A hung Keycloak must not hang a provisioning step or a readiness probe.
	c.RestyClient().SetTimeout(30 * time.Second)
	a := &Admin{baseURL: strings.TrimRight(baseURL, "/"), client: c, realm: adminRealm, user: user, password: password}
	// A token Keycloak refuses (its session ended: Keycloak restarted, the
	// client's secret changed) is not reused: the next Token signs in again.
	c.RestyClient().OnAfterResponse(func(_ *resty.Client, r *resty.Response) error {
		if r.StatusCode() == http.StatusUnauthorized {
			a.mu.Lock()
			a.token = ""
			a.mu.Unlock()
		}
		return nil
	})
	return a
}

// NewServiceAccount returns an adapter that signs in with the client
// credentials of clientID in realm (see Provisioner).
func NewServiceAccount(baseURL, realm, clientID, secret string) *Admin {
	a := NewAdmin(baseURL, realm, "", "")
	a.clientID, a.secret = clientID, secret
	return a
}

// Ping succeeds when Keycloak serves the admin realm's public metadata
// (GET /realms/<admin realm>); it needs no credentials.
func (a *Admin) Ping(ctx context.Context) error {
	if _, err := a.client.GetIssuer(ctx, a.realm); err != nil {
		return fmt.Errorf("keycloak realm %q metadata: %w", a.realm, err)
	}
	return nil
}

// Token returns an access token: the last one while it has more than
// tokenMargin to live, else a new sign-in (every step's call used to sign
// in again, a token issuance Keycloak paid for on every call). The password
// or secret never appears in the returned error.
func (a *Admin) Token(ctx context.Context) (string, error) {
	a.mu.Lock()
	token, expires := a.token, a.expires
	a.mu.Unlock()
	if token != "" && time.Now().Before(expires) {
		return token, nil
	}
	// Signed in without the lock: a refused sign-in's 401 clears the token
	// under it (OnAfterResponse), and concurrent sign-ins are harmless.
	var jwt *gocloak.JWT
	var err error
	if a.clientID != "" {
		if jwt, err = a.client.LoginClient(ctx, a.clientID, a.secret, a.realm); err != nil {
			return "", fmt.Errorf("keycloak service account login as client %q in realm %q: %w", a.clientID, a.realm, err)
		}
	} else if jwt, err = a.client.LoginAdmin(ctx, a.user, a.password, a.realm); err != nil {
		return "", fmt.Errorf("keycloak admin login as %q in realm %q: %w", a.user, a.realm, err)
	}
	a.mu.Lock()
	a.token, a.expires = jwt.AccessToken, time.Now().Add(time.Duration(jwt.ExpiresIn)*time.Second-tokenMargin)
	a.mu.Unlock()
	return jwt.AccessToken, nil
}

// tokenMargin is how long before its expiry a token is no longer handed
// out: a step's slowest call must still find it valid.
const tokenMargin = 40 * time.Second

// BaseURL is Keycloak's base URL, for the few calls gocloak lacks.
func (a *Admin) BaseURL() string { return a.baseURL }

// Client exposes gocloak for the adapters built on this one.
func (a *Admin) Client() *gocloak.GoCloak { return a.client }
