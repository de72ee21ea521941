// Package idp is the identity steps' back end: the tenant's Keycloak realm
// and client (step idp) and its admin user (step admin_user), with their
// undo and their probe, and the delivery of the admin's set-password link.
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
	"time"

	"github.com/Nerzal/gocloak/v13"
	"github.com/tenantflow/tenantflow/adapters/keycloak"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/handlers/step"
	"github.com/tenantflow/tenantflow/platform/pii"
)

// Identity provisions a tenant's Keycloak realm, or its organization in the
// shared realm (the tenant's identity model: organization.go), and its admin
// user (steps idp and admin_user). Realms, organizations and users carry the
// tenant's id as attribute tenantId: one that exists with this id is ours
// and counts as done; one with another (or none) belongs to someone else
// and is never touched.
type Identity struct {
	Admin *keycloak.Admin
	// RealmMail is the realm's SMTP server, through which Keycloak mails the
	// admin the set-password link: tenantflow's own SMTP settings, or its
	// mail bridge when Keycloak cannot mail (no SMTP, Novu only). Empty Host:
	// Keycloak cannot mail at all; the admin user gets the required action
	// UPDATE_PASSWORD and no mail. tenantflow never makes, stores or logs a
	// password.
	RealmMail RealmMail
	// Lifespan of the set-password link, in seconds (default 12 h).
	LinkLifespan int
	// Personal opens the admin's sealed email and names (nil: not sealed).
	Personal pii.Opener
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

// classify marks Keycloak's 4xx answers permanent, except 408, 429 and
// 401: the admin token of a try expires after a minute, and a try that
// Keycloak answers slowly (many realms made at once) outlives it; the next
// try logs in again.
func classify(action string, err error) error {
	if err == nil {
		return nil
	}
	err = fmt.Errorf("%s: %w", action, err)
	var api *gocloak.APIError
	if errors.As(err, &api) && api.Code >= 400 && api.Code < 500 && api.Code != http.StatusRequestTimeout &&
		api.Code != http.StatusTooManyRequests && api.Code != http.StatusUnauthorized {
		return step.Permanent(err)
	}
	return err
}

// RealmStep is the idp step: realm tenant-<key> and client <key>-app.
func (id *Identity) RealmStep() step.Action { return realmStep{id} }

// AdminUserStep is the admin_user step.
func (id *Identity) AdminUserStep() step.Action { return adminStep{id} }

type realmStep struct{ *Identity }

// ours loads the realm: (nil, nil) when it does not exist, a permanent
// error when it belongs to someone else.
//
// A realm that exists without any owner mark may be one a concurrent try
// of this tenant is still creating: Keycloak makes the realm visible before
// the attributes of its creation (the chaos suite saw a 409, then a realm
// with no tenantId, 13 ms later). So an unmarked realm is read again for a
// few seconds before it counts as someone else's.
func (id *Identity) ours(ctx context.Context, token string, t *domain.Tenant) (*gocloak.RealmRepresentation, error) {
	for wait := time.Now().Add(unmarkedWait); ; {
		realm, err := id.Admin.Client().GetRealm(ctx, token, t.RealmName())
		if keycloak.IsNotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, classify("read realm "+t.RealmName(), err)
		}
		mark := ""
		if realm.Attributes != nil {
			mark = (*realm.Attributes)["tenantId"]
		}
		switch {
		case mark == t.ID():
			return realm, nil
		case mark != "" || time.Now().After(wait):
			return nil, step.Foreign("realm " + t.RealmName())
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// unmarkedWait is how long an unmarked realm is read again (see ours).
const unmarkedWait = 3 * time.Second

func (r realmStep) Do(ctx context.Context, t *domain.Tenant) (step.Result, error) {
	token, err := r.Admin.Token(ctx)
	if err != nil {
		return step.Result{}, err
	}
	if organizations(t) {
		return r.doOrganization(ctx, token, t)
	}
	kc := r.Admin.Client()
	realm, err := r.ours(ctx, token, t)
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
				Name: gocloak.StringP(TenantAdminRole), Composite: gocloak.BoolP(true),
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
				return step.Result{}, classify("create realm "+t.RealmName(), err)
			}
			if _, err := r.ours(ctx, token, t); err != nil { // created meanwhile: by us?
				return step.Result{}, err
			}
		}
	}
	if err := r.allowAttributes(ctx, token, t.RealmName()); err != nil {
		return step.Result{}, err
	}
	clients, err := kc.GetClients(ctx, token, t.RealmName(), gocloak.GetClientsParams{ClientID: gocloak.StringP(t.ClientName())})
	if err != nil {
		return step.Result{}, classify("read clients", err)
	}
	if len(clients) == 0 {
		if _, err := kc.CreateClient(ctx, token, t.RealmName(), r.appClient(t)); err != nil {
			return step.Result{}, classify("create client "+t.ClientName(), err)
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
	if organizations(t) {
		return r.reconcileOrganization(ctx, token, t)
	}
	kc := r.Admin.Client()
	if realm, err := r.ours(ctx, token, t); err != nil || realm == nil {
		return step.Result{}, step.Permanent(fmt.Errorf("realm %s is not this tenant's (anymore): %v", t.RealmName(), err))
	}
	clients, err := kc.GetClients(ctx, token, t.RealmName(), gocloak.GetClientsParams{ClientID: gocloak.StringP(t.ClientName())})
	if err != nil {
		return step.Result{}, classify("read clients", err)
	}
	if len(clients) == 0 {
		return step.Result{}, step.Permanent(fmt.Errorf("client %s of realm %s is gone", t.ClientName(), t.RealmName()))
	}
	client := *clients[0]
	redirects, origins := r.redirects(t)
	client.RedirectURIs, client.WebOrigins = &redirects, &origins
	if err := kc.UpdateClient(ctx, token, t.RealmName(), client); err != nil {
		return step.Result{}, classify("update client "+t.ClientName(), err)
	}
	return step.Result{}, nil
}

func (r realmStep) Undo(ctx context.Context, t *domain.Tenant) error {
	token, err := r.Admin.Token(ctx)
	if err != nil {
		return err
	}
	if organizations(t) {
		return r.undoOrganization(ctx, token, t)
	}
	realm, err := r.ours(ctx, token, t)
	if err != nil || realm == nil {
		return step.UndoneUnlessOurs(err) // someone else's (nothing of ours), or already gone
	}
	if err := r.Admin.Client().DeleteRealm(ctx, token, t.RealmName()); err != nil && !keycloak.IsNotFound(err) {
		return classify("delete realm "+t.RealmName(), err)
	}
	return nil
}

type adminStep struct{ *Identity }

// home checks that the place the admin user belongs to is this tenant's:
// its realm, or its organization (returned, for the membership). A missing
// realm or organization is (nil, false, nil).
func (a adminStep) home(ctx context.Context, token string, t *domain.Tenant) (org *keycloak.Organization, ok bool, err error) {
	if organizations(t) {
		org, err = a.organization(ctx, token, t)
		return org, org != nil, err
	}
	realm, err := a.ours(ctx, token, t)
	return nil, realm != nil, err
}

// adminUser finds the tenant's admin: (nil, nil) when absent, a permanent
// error when a user with that name exists and is not this tenant's. In the
// shared realm (org, the tenant's organization, given) a user tenantflow
// made (attribute tenantId) is this tenant's when it is a member of the
// organization; one that is not yet (another tenant's admin, or one just
// made) is returned with adopt set: the membership makes it this tenant's.
// Membership, not the attribute, says which tenants a shared user
// administers: Keycloak adds and removes one membership at a time, while it
// replaces a user's attributes whole, so two tenants adopting one person at
// once could each drop the other's mark.
func (a adminStep) adminUser(ctx context.Context, token string, t *domain.Tenant, org *keycloak.Organization) (u *gocloak.User, adopt bool, err error) {
	t, err = pii.OpenTenant(ctx, a.Personal, t)
	if err != nil {
		return nil, false, err
	}
	realm := a.RealmOf(t)
	users, err := a.Admin.Client().GetUsers(ctx, token, realm, gocloak.GetUsersParams{
		Username: gocloak.StringP(t.Contact().Email), Exact: gocloak.BoolP(true)})
	if err != nil {
		return nil, false, classify("find admin user", err)
	}
	if len(users) == 0 {
		return nil, false, nil
	}
	u = users[0]
	var marks []string
	if u.Attributes != nil {
		marks = (*u.Attributes)["tenantId"]
	}
	switch {
	case organizations(t) && len(marks) > 0 && org != nil:
		member, err := a.Admin.IsOrganizationMember(ctx, token, realm, org.ID, *u.ID)
		if err != nil {
			return nil, false, classify("read the membership of user "+*u.ID, err)
		}
		return u, !member, nil
	case organizations(t) && len(marks) > 0:
		return u, true, nil // no organization (any more): nothing makes it ours
	case !organizations(t) && len(marks) > 0 && marks[0] == t.ID():
		return u, false, nil
	}
	return nil, false, step.Foreign("user " + t.Contact().Email + " in realm " + realm)
}

// createAdmin creates the tenant's admin user. A 409 means a user with that
// name or address exists already — a twin of this step won a race, or an
// earlier try got as far as creating it — so it looks again and decides by
// the user's tenantId attribute: this tenant's is done; anything else is
// someone else's, a permanent failure, and is not touched.
func (a adminStep) createAdmin(ctx context.Context, token string, t *domain.Tenant, org *keycloak.Organization) (*gocloak.User, error) {
	open, err := pii.OpenTenant(ctx, a.Personal, t)
	if err != nil {
		return nil, err
	}
	c, realm := open.Contact(), a.RealmOf(t)
	_, err = a.Admin.Client().CreateUser(ctx, token, realm, gocloak.User{
		Username: gocloak.StringP(c.Email), Email: gocloak.StringP(c.Email), EmailVerified: gocloak.BoolP(true),
		FirstName: gocloak.StringP(c.FirstName), LastName: gocloak.StringP(c.LastName), Enabled: gocloak.BoolP(true),
		Attributes: &map[string][]string{"tenantId": {t.ID()}, "role": {"admin"}},
	})
	var api *gocloak.APIError
	conflict := errors.As(err, &api) && api.Code == http.StatusConflict
	if err != nil && !conflict {
		return nil, classify("create admin user", err)
	}
	u, _, err := a.adminUser(ctx, token, t, org) // in the shared realm, not a member yet: Do makes it one
	switch {
	case err != nil:
		return nil, err
	case u == nil && conflict:
		return nil, step.Permanent(fmt.Errorf("creating user %s in realm %s conflicts with another user (the same e-mail address under another name?): not touched", c.Email, realm))
	case u == nil:
		return nil, fmt.Errorf("admin user %s not found right after creating it", c.Email)
	}
	return u, nil
}

// TenantAdminRole is the realm role of a tenant's administrators: in a
// tenant's realm it bundles realm-management's realm-admin (made with the
// realm by the idp step); in the shared realm it grants no Keycloak right
// and is scoped by the user's organizations.
const TenantAdminRole = "tenant-admin"

// grantAdmin makes the user an administrator of realm: realm role
// TenantAdminRole, or realm-admin itself in a realm made before that role
// existed (which only an admin user of Keycloak may grant).
func (a adminStep) grantAdmin(ctx context.Context, token, realm, userID string) error {
	kc := a.Admin.Client()
	role, err := kc.GetRealmRole(ctx, token, realm, TenantAdminRole)
	if err == nil {
		return classify("grant "+TenantAdminRole, kc.AddRealmRoleToUser(ctx, token, realm, userID, []gocloak.Role{*role}))
	}
	if !keycloak.IsNotFound(err) || realm == a.SharedRealm {
		return classify("read role "+TenantAdminRole, err)
	}
	mgmt, err := kc.GetClients(ctx, token, realm, gocloak.GetClientsParams{ClientID: gocloak.StringP("realm-management")})
	if err != nil || len(mgmt) == 0 {
		return fmt.Errorf("realm-management client of %s: %v", realm, err)
	}
	admin, err := kc.GetClientRole(ctx, token, realm, *mgmt[0].ID, "realm-admin")
	if err != nil {
		return classify("read role realm-admin", err)
	}
	return classify("grant realm-admin", kc.AddClientRolesToUser(ctx, token, realm, *mgmt[0].ID, userID, []gocloak.Role{*admin}))
}

func (a adminStep) Do(ctx context.Context, t *domain.Tenant) (step.Result, error) {
	token, err := a.Admin.Token(ctx)
	if err != nil {
		return step.Result{}, err
	}
	kc, realm := a.Admin.Client(), a.RealmOf(t)
	org, ok, err := a.home(ctx, token, t)
	if err != nil {
		return step.Result{}, err
	}
	if !ok {
		return step.Result{}, step.Permanent(fmt.Errorf("the tenant's realm or organization is gone (identity model %s)", t.Identity()))
	}
	u, _, err := a.adminUser(ctx, token, t, org)
	if err != nil {
		return step.Result{}, err
	}
	if u == nil {
		if u, err = a.createAdmin(ctx, token, t, org); err != nil {
			return step.Result{}, err
		}
	}
	if err := a.grantAdmin(ctx, token, realm, *u.ID); err != nil {
		return step.Result{}, err
	}
	if org != nil { // one person may administer several organizations: a membership each
		if err := a.Admin.AddOrganizationMember(ctx, token, realm, org.ID, *u.ID); err != nil {
			return step.Result{}, classify("make the admin a member of organization "+t.Key(), err)
		}
	}
	// The set-password mail goes out once: the attribute records that it did.
	// Without a way to mail, the admin must set a password before anything
	// else; an operator sends the link once mail is configured.
	attrs := *u.Attributes
	switch {
	case a.RealmMail.Host == "":
		if u.RequiredActions == nil || !slices.Contains(*u.RequiredActions, "UPDATE_PASSWORD") {
			u.RequiredActions = &[]string{"UPDATE_PASSWORD"}
			if err := kc.UpdateUser(ctx, token, realm, *u); err != nil {
				return step.Result{}, classify("require a new password", err)
			}
		}
	case len(attrs["setPasswordMailSent"]) == 0:
		lifespan := a.LinkLifespan
		if lifespan <= 0 {
			lifespan = 12 * 3600
		}
		err := kc.ExecuteActionsEmail(ctx, token, realm, gocloak.ExecuteActionsEmail{
			UserID: u.ID, Lifespan: &lifespan, Actions: &[]string{"UPDATE_PASSWORD"}})
		if err != nil {
			return step.Result{}, classify("send the set-password mail", err)
		}
		attrs["setPasswordMailSent"] = []string{"true"}
		u.Attributes = &attrs
		if err := kc.UpdateUser(ctx, token, realm, *u); err != nil {
			return step.Result{}, classify("mark the set-password mail sent", err)
		}
	}
	return step.Result{Resources: []domain.Resource{{Step: domain.StepAdminUser, Kind: "keycloak-user", ID: realm + "/" + *u.ID, Location: a.Admin.BaseURL()}}}, nil
}

func (a adminStep) Undo(ctx context.Context, t *domain.Tenant) error {
	token, err := a.Admin.Token(ctx)
	if err != nil {
		return err
	}
	org, ok, err := a.home(ctx, token, t)
	if err != nil || !ok {
		return step.UndoneUnlessOurs(err) // someone else's (nothing of ours), or already gone with its users
	}
	u, adopt, err := a.adminUser(ctx, token, t, org)
	if err != nil || u == nil || adopt {
		return step.UndoneUnlessOurs(err)
	}
	if org != nil {
		return a.leave(ctx, token, *u, org.ID)
	}
	if err := a.Admin.Client().DeleteUser(ctx, token, t.RealmName(), *u.ID); err != nil && !keycloak.IsNotFound(err) {
		return classify("delete admin user", err)
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
		return classify("read the user profile of "+realm, err)
	}
	if profile["unmanagedAttributePolicy"] == "ENABLED" {
		return nil
	}
	profile["unmanagedAttributePolicy"] = "ENABLED"
	_, err := id.Admin.Call(ctx, token, http.MethodPut, endpoint, profile, nil)
	return classify("update the user profile of "+realm, err)
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
	if organizations(t) {
		return r.probeOrganization(ctx, token, t)
	}
	realm, err := r.ours(ctx, token, t)
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

func (a adminStep) Probe(ctx context.Context, t *domain.Tenant) ([]domain.Resource, error) {
	token, err := a.Admin.Token(ctx)
	if err != nil {
		return nil, err
	}
	org, ok, err := a.home(ctx, token, t)
	if err != nil || !ok {
		return nil, step.IgnoreForeign(err)
	}
	u, adopt, err := a.adminUser(ctx, token, t, org)
	if err != nil || u == nil || adopt {
		return nil, step.IgnoreForeign(err)
	}
	return []domain.Resource{{Step: domain.StepAdminUser, Kind: "keycloak-user", ID: a.RealmOf(t) + "/" + *u.ID}}, nil
}

// ForgetPerson deletes, for an erasure, the Keycloak users tenantflow made
// for the person (email) as the administrator of these tenants — in a
// tenant's realm or in the shared realm, as recorded by the admin_user step.
// A user with another address (the admin changed since) is left alone; one
// that is gone already is nothing to do.
func (id *Identity) ForgetPerson(ctx context.Context, email string, tenants []*domain.Tenant) ([]string, error) {
	token, err := id.Admin.Token(ctx)
	if err != nil {
		return nil, err
	}
	var done []string
	for _, t := range tenants {
		for _, r := range append(t.Resources(), t.Orphans()...) {
			realm, userID, ok := strings.Cut(r.ID, "/")
			if r.Step != domain.StepAdminUser || r.Kind != "keycloak-user" || !ok {
				continue
			}
			u, err := id.Admin.Client().GetUserByID(ctx, token, realm, userID)
			switch {
			case keycloak.IsNotFound(err):
				continue
			case err != nil:
				return done, classify("read user "+r.ID, err)
			case u.Email == nil || !strings.EqualFold(*u.Email, email):
				continue
			}
			if err := id.Admin.Client().DeleteUser(ctx, token, realm, userID); err != nil && !keycloak.IsNotFound(err) {
				return done, classify("delete user "+r.ID, err)
			}
			done = append(done, "Keycloak user "+r.ID+" (tenant "+t.ID()+")")
		}
	}
	return done, nil
}
