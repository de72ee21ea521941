// Package idp is the idp step's back end: the tenant's Keycloak realm and
// client, or its organization and client in the shared realm, with its undo
// and its probe. The admin user is the next step's (package adminuser).
package idp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/Nerzal/gocloak/v13"
	"github.com/tenantflow/tenantflow/adapters/keycloak"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/handlers/step"
)

// Identity provisions a tenant's Keycloak realm, or its organization in the
// shared realm (the tenant's identity model: organization.go). Realms and
// organizations carry the tenant's id as attribute tenantId: one that
// exists with this id is ours and counts as done; one with another (or
// none) belongs to someone else and is never touched (keycloak.Tenants).
type Identity struct {
	Admin *keycloak.Admin
	// RealmMail is the realm's SMTP server, through which Keycloak mails the
	// admin the set-password link (the admin_user step): tenantflow's own
	// SMTP settings, or its mail bridge when Keycloak cannot mail (no SMTP,
	// Novu only). Empty Host: Keycloak cannot mail at all.
	RealmMail RealmMail
	// PlatformZone is the zone the dns step names tenants in
	// (TENANTFLOW_DNS_ZONE): the client accepts <key>.<zone> besides the
	// tenant's own domains, so a tenant with none still has a usable client.
	PlatformZone string
	// SharedRealm is the realm of the tenants whose identity model is
	// organization (TENANTFLOW_KEYCLOAK_ORGANIZATIONS_REALM); see
	// organization.go.
	SharedRealm string

	sharedMu    sync.Mutex
	sharedReady bool // the shared realm exists and is ours
}

// appHosts are the hosts the tenant's application answers on: its platform
// name, then its own domains (inside the zone or not).
func (id *Identity) appHosts(t *domain.Tenant) []string {
	var hosts []string
	if id.PlatformZone != "" {
		hosts = append(hosts, domain.PlatformHost(t.Key(), id.PlatformZone))
	}
	for _, d := range t.Domains() {
		if !slices.Contains(hosts, d) {
			hosts = append(hosts, d)
		}
	}
	return hosts
}

// redirects are the client's redirect URIs and web origins: one each per
// application host.
func (id *Identity) redirects(t *domain.Tenant) (redirects, origins []string) {
	redirects, origins = []string{}, []string{}
	for _, d := range id.appHosts(t) {
		redirects = append(redirects, "https://"+d+"/*")
		origins = append(origins, "https://"+d)
	}
	return redirects, origins
}

// RealmMail is a realm's SMTP settings, as Keycloak's realm representation
// names them.
type RealmMail struct {
	Host, Port, From string
	StartTLS, SSL    bool
	// PasswordFor, when set, is the password of each realm's own SMTP
	// credentials (user: the realm's name) at tenantflow's mail bridge;
	// nil: no authentication. A realm never gets tenantflow's own SMTP
	// password: a tenant's administrator holds realm-admin there and can
	// read what the realm is configured with.
	PasswordFor func(realm string) string
}

// settings is the realm representation's smtpServer map for realm.
func (m RealmMail) settings(realm, displayName string) map[string]string {
	out := map[string]string{"host": m.Host, "port": m.Port, "from": m.From, "fromDisplayName": displayName,
		"auth": strconv.FormatBool(m.PasswordFor != nil), "starttls": strconv.FormatBool(m.StartTLS), "ssl": strconv.FormatBool(m.SSL)}
	if m.PasswordFor != nil {
		out["user"], out["password"] = realm, m.PasswordFor(realm)
	}
	return out
}

// RealmStep is the idp step: realm tenant-<key> and client <key>-app.
func (id *Identity) RealmStep() step.Action { return realmStep{id} }

// kc finds what was made for a tenant in Keycloak.
func (id *Identity) kc() keycloak.Tenants {
	return keycloak.Tenants{Admin: id.Admin, SharedRealm: id.SharedRealm}
}

type realmStep struct{ *Identity }

func (r realmStep) Do(ctx context.Context, t *domain.Tenant) (step.Result, error) {
	token, err := r.Admin.Token(ctx)
	if err != nil {
		return step.Result{}, err
	}
	if keycloak.Organizations(t) {
		return r.doOrganization(ctx, token, t)
	}
	kc := r.Admin.Client()
	realm, err := r.kc().Realm(ctx, token, t)
	if err != nil {
		return step.Result{}, err
	}
	if realm == nil {
		rep := gocloak.RealmRepresentation{
			Realm:       gocloak.StringP(t.RealmName()),
			DisplayName: gocloak.StringP(t.Name()),
			Enabled:     gocloak.BoolP(true),
			Attributes:  &map[string]string{"tenantId": t.ID()},
			// tenantd's service account may not grant realm-management's
			// realm-admin itself (Keycloak lets only holders of an admin role
			// map it), but it defines the realm it creates: a realm role
			// bundling realm-admin, which the admin_user step grants.
			Roles: &gocloak.RolesRepresentation{Realm: &[]gocloak.Role{{
				Name: gocloak.StringP(keycloak.TenantAdminRole), Composite: gocloak.BoolP(true),
				Description: gocloak.StringP("the tenant's administrators: realm-management's realm-admin"),
				Composites:  &gocloak.CompositesRepresentation{Client: &map[string][]string{"realm-management": {"realm-admin"}}},
			}}},
		}
		if r.RealmMail.Host != "" {
			rep.SMTPServer = new(r.RealmMail.settings(t.RealmName(), t.Name()))
		}
		if _, err := kc.CreateRealm(ctx, token, rep); err != nil {
			var api *gocloak.APIError
			if !errors.As(err, &api) || api.Code != http.StatusConflict {
				return step.Result{}, keycloak.Classify("create realm "+t.RealmName(), err)
			}
			if _, err := r.kc().Realm(ctx, token, t); err != nil { // created meanwhile: by us?
				return step.Result{}, err
			}
		}
	}
	if err := r.allowAttributes(ctx, token, t.RealmName()); err != nil {
		return step.Result{}, err
	}
	clients, err := kc.GetClients(ctx, token, t.RealmName(), gocloak.GetClientsParams{ClientID: gocloak.StringP(t.ClientName())})
	if err != nil {
		return step.Result{}, keycloak.Classify("read clients", err)
	}
	if len(clients) == 0 {
		if _, err := kc.CreateClient(ctx, token, t.RealmName(), r.appClient(t)); err != nil {
			return step.Result{}, keycloak.Classify("create client "+t.ClientName(), err)
		}
	}
	return step.Result{Resources: []domain.Resource{
		{Step: domain.StepIdentity, Kind: "keycloak-realm", ID: t.RealmName(), Location: r.Admin.BaseURL()},
		{Step: domain.StepIdentity, Kind: "keycloak-client", ID: t.RealmName() + "/" + t.ClientName(), Location: r.Admin.BaseURL()},
	}}, nil
}

// Reconcile follows a domain change of an ACTIVE tenant: the client's
// redirect URIs and web origins become the current application hosts'.
func (r realmStep) Reconcile(ctx context.Context, t *domain.Tenant, _ []string) (step.Result, error) {
	token, err := r.Admin.Token(ctx)
	if err != nil {
		return step.Result{}, err
	}
	if keycloak.Organizations(t) {
		return r.reconcileOrganization(ctx, token, t)
	}
	kc := r.Admin.Client()
	if realm, err := r.kc().Realm(ctx, token, t); err != nil || realm == nil {
		return step.Result{}, step.Permanent(fmt.Errorf("realm %s is not this tenant's (anymore): %v", t.RealmName(), err))
	}
	clients, err := kc.GetClients(ctx, token, t.RealmName(), gocloak.GetClientsParams{ClientID: gocloak.StringP(t.ClientName())})
	if err != nil {
		return step.Result{}, keycloak.Classify("read clients", err)
	}
	if len(clients) == 0 {
		return step.Result{}, step.Permanent(fmt.Errorf("client %s of realm %s is gone", t.ClientName(), t.RealmName()))
	}
	client := *clients[0]
	redirects, origins := r.redirects(t)
	client.RedirectURIs, client.WebOrigins = &redirects, &origins
	if err := kc.UpdateClient(ctx, token, t.RealmName(), client); err != nil {
		return step.Result{}, keycloak.Classify("update client "+t.ClientName(), err)
	}
	return step.Result{}, nil
}

func (r realmStep) Undo(ctx context.Context, t *domain.Tenant) error {
	token, err := r.Admin.Token(ctx)
	if err != nil {
		return err
	}
	if keycloak.Organizations(t) {
		return r.undoOrganization(ctx, token, t)
	}
	realm, err := r.kc().Realm(ctx, token, t)
	if err != nil || realm == nil {
		return step.UndoneUnlessOurs(err) // someone else's (nothing of ours), or already gone
	}
	if err := r.Admin.Client().DeleteRealm(ctx, token, t.RealmName()); err != nil && !keycloak.IsNotFound(err) {
		return keycloak.Classify("delete realm "+t.RealmName(), err)
	}
	return nil
}

// allowAttributes lets users of the realm carry attributes the realm's user
// profile does not declare (tenantId, role). Since Keycloak 24 undeclared
// attributes are dropped unless the profile's unmanagedAttributePolicy
// allows them; gocloak has no call for the profile, so this one is raw REST.
func (id *Identity) allowAttributes(ctx context.Context, token, realm string) error {
	endpoint := "/admin/realms/" + url.PathEscape(realm) + "/users/profile"
	var profile map[string]any
	if _, err := id.Admin.Call(ctx, token, http.MethodGet, endpoint, nil, &profile); err != nil {
		return keycloak.Classify("read the user profile of "+realm, err)
	}
	if profile["unmanagedAttributePolicy"] == "ENABLED" {
		return nil
	}
	profile["unmanagedAttributePolicy"] = "ENABLED"
	_, err := id.Admin.Call(ctx, token, http.MethodPut, endpoint, profile, nil)
	return keycloak.Classify("update the user profile of "+realm, err)
}

// appClient is the tenant's application client <key>-app: public,
// standard flow with PKCE S256, a redirect URI and web origin per
// application host.
func (id *Identity) appClient(t *domain.Tenant) gocloak.Client {
	redirects, origins := id.redirects(t)
	return gocloak.Client{
		ClientID: gocloak.StringP(t.ClientName()), Protocol: gocloak.StringP("openid-connect"),
		PublicClient: gocloak.BoolP(true), StandardFlowEnabled: gocloak.BoolP(true),
		DirectAccessGrantsEnabled: gocloak.BoolP(false),
		RedirectURIs:              &redirects, WebOrigins: &origins,
		Attributes: &map[string]string{"pkce.code.challenge.method": "S256"},
	}
}

func clientParams(clientID string) gocloak.GetClientsParams {
	return gocloak.GetClientsParams{ClientID: gocloak.StringP(clientID)}
}

// RecipientOrganizations names the organizations (tenant keys) the user
// recipient is a member of in realm: whom a set-password mail of the shared
// realm may be for (app.SetPasswordLinks.OrganizationsOf).
func (id *Identity) RecipientOrganizations(ctx context.Context, realm, recipient string) ([]string, error) {
	token, err := id.Admin.Token(ctx)
	if err != nil {
		return nil, err
	}
	users, err := id.Admin.Client().GetUsers(ctx, token, realm, gocloak.GetUsersParams{
		Username: gocloak.StringP(strings.TrimSpace(recipient)), Exact: gocloak.BoolP(true)})
	if err != nil {
		return nil, fmt.Errorf("find the recipient in realm %s: %w", realm, err)
	}
	if len(users) == 0 {
		return nil, fmt.Errorf("the recipient is no tenant's admin in realm %s", realm)
	}
	orgs, err := id.Admin.MemberOrganizations(ctx, token, realm, *users[0].ID)
	if err != nil {
		return nil, fmt.Errorf("the recipient's organizations in realm %s: %w", realm, err)
	}
	keys := make([]string, 0, len(orgs))
	for _, o := range orgs {
		keys = append(keys, o.Name)
	}
	return keys, nil
}

func (r realmStep) Probe(ctx context.Context, t *domain.Tenant) ([]domain.Resource, error) {
	token, err := r.Admin.Token(ctx)
	if err != nil {
		return nil, err
	}
	if keycloak.Organizations(t) {
		return r.probeOrganization(ctx, token, t)
	}
	realm, err := r.kc().Realm(ctx, token, t)
	if err != nil || realm == nil {
		return nil, step.IgnoreForeign(err)
	}
	out := []domain.Resource{{Step: domain.StepIdentity, Kind: "keycloak-realm", ID: t.RealmName()}}
	clients, err := r.Admin.Client().GetClients(ctx, token, t.RealmName(), clientParams(t.ClientName()))
	if err != nil {
		return nil, err
	}
	if len(clients) > 0 {
		out = append(out, domain.Resource{Step: domain.StepIdentity, Kind: "keycloak-client", ID: t.RealmName() + "/" + t.ClientName()})
	}
	return out, nil
}
