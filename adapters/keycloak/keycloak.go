// Package keycloak is tenantflow's adapter to Keycloak's admin REST API,
// through gocloak. The identity provisioning step builds on it.
package keycloak

import (
	"context"
	"fmt"
	"strings"
	"time"

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
}

// NewAdmin returns an adapter for the Keycloak at baseURL; it does not connect yet.
func NewAdmin(baseURL, adminRealm, user, password string) *Admin {
	c := gocloak.NewClient(baseURL)
	// A hung Keycloak must not hang a provisioning step or a readiness probe.
	c.RestyClient().SetTimeout(30 * time.Second)
	return &Admin{baseURL: strings.TrimRight(baseURL, "/"), client: c, realm: adminRealm, user: user, password: password}
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

// Token signs in and returns an access token. The password or secret never
// appears in the returned error.
func (a *Admin) Token(ctx context.Context) (string, error) {
	if a.clientID != "" {
		jwt, err := a.client.LoginClient(ctx, a.clientID, a.secret, a.realm)
		if err != nil {
			return "", fmt.Errorf("keycloak service account login as client %q in realm %q: %w", a.clientID, a.realm, err)
		}
		return jwt.AccessToken, nil
	}
	jwt, err := a.client.LoginAdmin(ctx, a.user, a.password, a.realm)
	if err != nil {
		return "", fmt.Errorf("keycloak admin login as %q in realm %q: %w", a.user, a.realm, err)
	}
	return jwt.AccessToken, nil
}

// BaseURL is Keycloak's base URL, for the few calls gocloak lacks.
func (a *Admin) BaseURL() string { return a.baseURL }

// Client exposes gocloak for the adapters built on this one.
func (a *Admin) Client() *gocloak.GoCloak { return a.client }
