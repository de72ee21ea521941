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

// Admin talks to Keycloak as the configured admin user.
type Admin struct {
	baseURL  string
	client   *gocloak.GoCloak
	realm    string
	user     string
	password string
}

// NewAdmin returns an adapter for the Keycloak at baseURL; it does not connect yet.
func NewAdmin(baseURL, adminRealm, user, password string) *Admin {
	c := gocloak.NewClient(baseURL)
	// A hung Keycloak must not hang a provisioning step or a readiness probe.
	c.RestyClient().SetTimeout(30 * time.Second)
	return &Admin{baseURL: strings.TrimRight(baseURL, "/"), client: c, realm: adminRealm, user: user, password: password}
}

// Ping succeeds when Keycloak serves the admin realm's public metadata
// (GET /realms/<admin realm>); it needs no credentials.
func (a *Admin) Ping(ctx context.Context) error {
	if _, err := a.client.GetIssuer(ctx, a.realm); err != nil {
		return fmt.Errorf("keycloak realm %q metadata: %w", a.realm, err)
	}
	return nil
}

// Token logs in as the admin user and returns an access token. The password
// never appears in the returned error.
func (a *Admin) Token(ctx context.Context) (string, error) {
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
