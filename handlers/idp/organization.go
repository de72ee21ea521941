package idp

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/Nerzal/gocloak/v13"
	"github.com/tenantflow/tenantflow/adapters/keycloak"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/handlers/step"
)

// The organization model (domain.IdentityOrganization): the tenant is an
// organization of one shared realm (Identity.SharedRealm), not a realm of
// its own. Keycloak slows with every realm it holds — each one is loaded,
// cached and administered on its own — while organizations are rows of one
// realm. What each part becomes:
//
//   - the organization: name and alias the tenant's key, description its
//     name, its application hosts as domains, attribute tenantId;
//   - the application client <key>-app, one per tenant in the shared
//     realm, like the realm model's: redirect URIs stay the tenant's own
//     (one shared client would carry every tenant's hosts and be rewritten
//     by every provisioning at once), and its default scopes include
//     organization, so every token carries the organization claim
//     ("organization": ["<key>"]) the application checks;
//   - the admin user: a user of the shared realm (attribute tenantId: the
//     tenant that made it), member of the organization, with the shared
//     realm's role tenant-admin — which grants nothing in Keycloak (no
//     realm-management role: it would administer every tenant) and means
//     "administrator of the organizations this user is a member of" to
//     tenantflow's API and to the application. One person may administer
//     several organizations: a membership each.
//
// Undo removes the organization, its client, and the members tenantflow
// made that belong to no other organization; a member of another
// organization too only loses this membership, and a user tenantflow did
// not make is never deleted.

// sharedMark is the shared realm's attribute tenantflow: it marks a realm
// tenantd made for organizations, so one that exists without it (an
// operator's realm of the same name) is never used.
const sharedMark = "organizations"

// ensureShared creates the shared realm unless it exists (once a process):
// organizations on, the role tenant-admin, undeclared user attributes
// allowed, the realm's SMTP server. A realm of that name that tenantd did
// not make is refused, permanently.
func (id *Identity) ensureShared(ctx context.Context, token string) error {
	if id.SharedRealm == "" {
		return step.Permanent(fmt.Errorf("the tenant's tier has identity model organization, but no shared realm is configured (TENANTFLOW_KEYCLOAK_ORGANIZATIONS_REALM)"))
	}
	id.sharedMu.Lock()
	defer id.sharedMu.Unlock()
	if id.sharedReady {
		return nil
	}
	kc, name := id.Admin.Client(), id.SharedRealm
	realm, err := kc.GetRealm(ctx, token, name)
	if keycloak.IsNotFound(err) {
		rep := gocloak.RealmRepresentation{
			Realm: gocloak.StringP(name), DisplayName: gocloak.StringP(name), Enabled: gocloak.BoolP(true),
			Attributes: &map[string]string{"tenantflow": sharedMark},
			Roles: &gocloak.RolesRepresentation{Realm: &[]gocloak.Role{{Name: gocloak.StringP(keycloak.TenantAdminRole),
				Description: gocloak.StringP("administrator of the organizations the user is a member of (read by tenantflow and the application; no Keycloak admin rights)")}}},
		}
		if id.RealmMail.Host != "" {
			rep.SMTPServer = new(id.RealmMail.settings(name, name))
		}
		if err := id.Admin.CreateRealmWithOrganizations(ctx, token, rep); err != nil && !keycloak.IsConflict(err) {
			return keycloak.Classify("create the shared realm "+name, err)
		}
		realm, err = kc.GetRealm(ctx, token, name)
	}
	if err != nil {
		return keycloak.Classify("read the shared realm "+name+" (tenantd's service account administers only realms it created)", err)
	}
	if realm.Attributes == nil || (*realm.Attributes)["tenantflow"] != sharedMark {
		return step.Permanent(fmt.Errorf("realm %s exists and is not tenantflow's shared realm (no attribute tenantflow=%s): not touched; set TENANTFLOW_KEYCLOAK_ORGANIZATIONS_REALM to another name", name, sharedMark))
	}
	if err := id.allowAttributes(ctx, token, name); err != nil {
		return err
	}
	id.sharedReady = true
	return nil
}

// EnsureSharedRealm creates the shared realm unless it exists, as the
// first tenant of the organization model would. The dev stack calls it
// with tenantd's service account at start, so the realm is the service
// account's to administer even when a test, signed in as Keycloak's admin
// user, provisions the first organization.
func (id *Identity) EnsureSharedRealm(ctx context.Context) error {
	token, err := id.Admin.Token(ctx)
	if err != nil {
		return err
	}
	return id.ensureShared(ctx, token)
}

// orgDomains are the organization's domains: the tenant's application
// hosts, without the root's dot.
func (id *Identity) orgDomains(t *domain.Tenant) []keycloak.OrganizationDomain {
	var out []keycloak.OrganizationDomain
	for _, h := range id.appHosts(t) {
		out = append(out, keycloak.OrganizationDomain{Name: strings.TrimSuffix(h, ".")})
	}
	return out
}

// clientMark is the client attribute naming the tenant whose client it is
// (in the shared realm every tenant's client sits side by side).
const clientMark = "tenantflow.tenantId"

// sharedClient finds t's client in the shared realm: nil when absent, a
// permanent error when a client of that id is not this tenant's.
func (id *Identity) sharedClient(ctx context.Context, token string, t *domain.Tenant) (*gocloak.Client, error) {
	clients, err := id.Admin.Client().GetClients(ctx, token, id.SharedRealm, clientParams(t.ClientName()))
	if err != nil {
		return nil, keycloak.Classify("read clients", err)
	}
	if len(clients) == 0 {
		return nil, nil
	}
	c := clients[0]
	if c.Attributes == nil || (*c.Attributes)[clientMark] != t.ID() {
		return nil, keycloak.Foreign("client " + t.ClientName() + " of realm " + id.SharedRealm)
	}
	return c, nil
}

func (r realmStep) doOrganization(ctx context.Context, token string, t *domain.Tenant) (step.Result, error) {
	if err := r.ensureShared(ctx, token); err != nil {
		return step.Result{}, err
	}
	org, err := r.kc().Organization(ctx, token, t)
	if err != nil {
		return step.Result{}, err
	}
	if org == nil {
		_, err := r.Admin.CreateOrganization(ctx, token, r.SharedRealm, keycloak.Organization{Name: t.Key(), Alias: t.Key(),
			Description: t.Name(), Enabled: true, Attributes: map[string][]string{"tenantId": {t.ID()}}, Domains: r.orgDomains(t)})
		if err != nil && !keycloak.IsConflict(err) {
			return step.Result{}, keycloak.Classify("create organization "+t.Key(), err)
		}
		if org, err = r.kc().Organization(ctx, token, t); err != nil {
			return step.Result{}, err
		}
		if org == nil { // the 409 was another organization's domain
			return step.Result{}, step.Permanent(fmt.Errorf("organization %s conflicts with another organization of realm %s (one of the domains %v is taken): not touched",
				t.Key(), r.SharedRealm, r.appHosts(t)))
		}
	}
	client, err := r.sharedClient(ctx, token, t)
	if err != nil {
		return step.Result{}, err
	}
	if client == nil {
		// The same client as a realm's, told apart from the other tenants'
		// by its mark, and whose tokens carry the organization.
		c := r.appClient(t)
		(*c.Attributes)[clientMark] = t.ID()
		c.DefaultClientScopes = &[]string{"basic", "profile", "email", "roles", "web-origins", "acr", "organization"}
		if _, err := r.Admin.Client().CreateClient(ctx, token, r.SharedRealm, c); err != nil {
			return step.Result{}, keycloak.Classify("create client "+t.ClientName(), err)
		}
	}
	return step.Result{Resources: []domain.Resource{
		{Step: domain.StepIdentity, Kind: "keycloak-organization", ID: r.SharedRealm + "/" + t.Key(), Location: r.Admin.BaseURL()},
		{Step: domain.StepIdentity, Kind: "keycloak-client", ID: r.SharedRealm + "/" + t.ClientName(), Location: r.Admin.BaseURL()},
	}}, nil
}

func (r realmStep) reconcileOrganization(ctx context.Context, token string, t *domain.Tenant) (step.Result, error) {
	org, err := r.kc().Organization(ctx, token, t)
	if err != nil || org == nil {
		return step.Result{}, step.Permanent(fmt.Errorf("organization %s is not this tenant's (anymore): %v", t.Key(), err))
	}
	org.Domains = r.orgDomains(t)
	if err := r.Admin.UpdateOrganization(ctx, token, r.SharedRealm, *org); err != nil {
		return step.Result{}, keycloak.Classify("update the domains of organization "+t.Key(), err)
	}
	client, err := r.sharedClient(ctx, token, t)
	if err != nil || client == nil {
		return step.Result{}, step.Permanent(fmt.Errorf("client %s of realm %s is not this tenant's (anymore): %v", t.ClientName(), r.SharedRealm, err))
	}
	redirects, origins := r.redirects(t)
	client.RedirectURIs, client.WebOrigins = &redirects, &origins
	return step.Result{}, keycloak.Classify("update client "+t.ClientName(), r.Admin.Client().UpdateClient(ctx, token, r.SharedRealm, *client))
}

// maxMembers bounds the members an undo reads: a tenant's organization
// holds its admin and the users its application added.
const maxMembers = 10000

func (r realmStep) undoOrganization(ctx context.Context, token string, t *domain.Tenant) error {
	client, err := r.sharedClient(ctx, token, t)
	if err != nil && !errors.Is(err, step.ErrForeign) {
		return err
	}
	if client != nil {
		if err := r.Admin.Client().DeleteClient(ctx, token, r.SharedRealm, *client.ID); err != nil && !keycloak.IsNotFound(err) {
			return keycloak.Classify("delete client "+t.ClientName(), err)
		}
	}
	org, err := r.kc().Organization(ctx, token, t)
	if err != nil || org == nil {
		return step.UndoneUnlessOurs(err)
	}
	members, err := r.Admin.OrganizationMembers(ctx, token, r.SharedRealm, org.ID, maxMembers)
	if err != nil {
		return keycloak.Classify("list the members of organization "+t.Key(), err)
	}
	for _, u := range members {
		if err := r.kc().Leave(ctx, token, u, org.ID); err != nil {
			return err
		}
	}
	if err := r.Admin.DeleteOrganization(ctx, token, r.SharedRealm, org.ID); err != nil && !keycloak.IsNotFound(err) {
		return keycloak.Classify("delete organization "+t.Key(), err)
	}
	return nil
}

func (r realmStep) probeOrganization(ctx context.Context, token string, t *domain.Tenant) ([]domain.Resource, error) {
	org, err := r.kc().Organization(ctx, token, t)
	if err != nil || org == nil {
		return nil, step.IgnoreForeign(err)
	}
	out := []domain.Resource{{Step: domain.StepIdentity, Kind: "keycloak-organization", ID: r.SharedRealm + "/" + t.Key()}}
	client, err := r.sharedClient(ctx, token, t)
	if err != nil {
		return nil, step.IgnoreForeign(err)
	}
	if client != nil {
		out = append(out, domain.Resource{Step: domain.StepIdentity, Kind: "keycloak-client", ID: r.SharedRealm + "/" + t.ClientName()})
	}
	return out, nil
}
