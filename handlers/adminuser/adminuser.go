// Package adminuser is the admin_user step's back end: the tenant's first
// administrator in Keycloak — a user of the tenant's realm, or a member of
// its organization in the shared realm — given the role tenant-admin and
// mailed a link to set a password, with its undo and its probe. tenantflow
// never makes, stores or logs a password.
package adminuser

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/Nerzal/gocloak/v13"
	"github.com/tenantflow/tenantflow/adapters/keycloak"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/handlers/step"
	"github.com/tenantflow/tenantflow/platform/pii"
)

// Step is the admin_user step. The user carries the tenant's id as
// attribute tenantId: one that exists with this id is ours and counts as
// done; one with another (or none) belongs to someone else and is never
// touched. In the shared realm, membership of the tenant's organization says
// which tenants a user administers.
type Step struct {
	Keycloak keycloak.Tenants
	// KeycloakMails says whether the realm has an SMTP server through which
	// Keycloak mails the admin the set-password link. Without one the user
	// gets the required action UPDATE_PASSWORD and no mail.
	KeycloakMails bool
	// Personal opens the admin's sealed email and names (nil: not sealed).
	Personal pii.Opener
}

// home checks that the place the admin user belongs to is this tenant's:
// its realm, or its organization (returned, for the membership). A missing
// realm or organization is (nil, false, nil).
func (a Step) home(ctx context.Context, token string, t *domain.Tenant) (org *keycloak.Organization, ok bool, err error) {
	if keycloak.Organizations(t) {
		org, err = a.Keycloak.Organization(ctx, token, t)
		return org, org != nil, err
	}
	realm, err := a.Keycloak.Realm(ctx, token, t)
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
func (a Step) adminUser(ctx context.Context, token string, t *domain.Tenant, org *keycloak.Organization) (u *gocloak.User, adopt bool, err error) {
	t, err = pii.OpenTenant(ctx, a.Personal, t)
	if err != nil {
		return nil, false, err
	}
	realm := a.Keycloak.RealmOf(t)
	users, err := a.Keycloak.Admin.Client().GetUsers(ctx, token, realm, gocloak.GetUsersParams{
		Username: gocloak.StringP(t.Contact().Email), Exact: gocloak.BoolP(true)})
	if err != nil {
		return nil, false, keycloak.Classify("find admin user", err)
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
	case keycloak.Organizations(t) && len(marks) > 0 && org != nil:
		member, err := a.Keycloak.Admin.IsOrganizationMember(ctx, token, realm, org.ID, *u.ID)
		if err != nil {
			return nil, false, keycloak.Classify("read the membership of user "+*u.ID, err)
		}
		return u, !member, nil
	case keycloak.Organizations(t) && len(marks) > 0:
		return u, true, nil // no organization (any more): nothing makes it ours
	case !keycloak.Organizations(t) && len(marks) > 0 && marks[0] == t.ID():
		return u, false, nil
	}
	return nil, false, step.Foreign("user " + t.Contact().Email + " in realm " + realm)
}

// createAdmin creates the tenant's admin user. A 409 means a user with that
// name or address exists already — a twin of this step won a race, or an
// earlier try got as far as creating it — so it looks again and decides by
// the user's tenantId attribute: this tenant's is done; anything else is
// someone else's, a permanent failure, and is not touched.
func (a Step) createAdmin(ctx context.Context, token string, t *domain.Tenant, org *keycloak.Organization) (*gocloak.User, error) {
	open, err := pii.OpenTenant(ctx, a.Personal, t)
	if err != nil {
		return nil, err
	}
	c, realm := open.Contact(), a.Keycloak.RealmOf(t)
	_, err = a.Keycloak.Admin.Client().CreateUser(ctx, token, realm, gocloak.User{
		Username: gocloak.StringP(c.Email), Email: gocloak.StringP(c.Email), EmailVerified: gocloak.BoolP(true),
		FirstName: gocloak.StringP(c.FirstName), LastName: gocloak.StringP(c.LastName), Enabled: gocloak.BoolP(true),
		Attributes: &map[string][]string{"tenantId": {t.ID()}, "role": {"admin"}},
	})
	var api *gocloak.APIError
	conflict := errors.As(err, &api) && api.Code == http.StatusConflict
	if err != nil && !conflict {
		return nil, keycloak.Classify("create admin user", err)
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

// grantAdmin makes the user an administrator of realm: realm role
// keycloak.TenantAdminRole, or realm-admin itself in a realm made before that role
// existed (which only an admin user of Keycloak may grant).
func (a Step) grantAdmin(ctx context.Context, token, realm, userID string) error {
	kc := a.Keycloak.Admin.Client()
	role, err := kc.GetRealmRole(ctx, token, realm, keycloak.TenantAdminRole)
	if err == nil {
		return keycloak.Classify("grant "+keycloak.TenantAdminRole, kc.AddRealmRoleToUser(ctx, token, realm, userID, []gocloak.Role{*role}))
	}
	if !keycloak.IsNotFound(err) || realm == a.Keycloak.SharedRealm {
		return keycloak.Classify("read role "+keycloak.TenantAdminRole, err)
	}
	mgmt, err := kc.GetClients(ctx, token, realm, gocloak.GetClientsParams{ClientID: gocloak.StringP("realm-management")})
	if err != nil || len(mgmt) == 0 {
		return fmt.Errorf("realm-management client of %s: %v", realm, err)
	}
	admin, err := kc.GetClientRole(ctx, token, realm, *mgmt[0].ID, "realm-admin")
	if err != nil {
		return keycloak.Classify("read role realm-admin", err)
	}
	return keycloak.Classify("grant realm-admin", kc.AddClientRolesToUser(ctx, token, realm, *mgmt[0].ID, userID, []gocloak.Role{*admin}))
}

// linkLifespan is how long the set-password link works, in seconds.
const linkLifespan = 12 * 3600

func (a Step) Do(ctx context.Context, t *domain.Tenant) (step.Result, error) {
	token, err := a.Keycloak.Admin.Token(ctx)
	if err != nil {
		return step.Result{}, err
	}
	kc, realm := a.Keycloak.Admin.Client(), a.Keycloak.RealmOf(t)
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
		if err := a.Keycloak.Admin.AddOrganizationMember(ctx, token, realm, org.ID, *u.ID); err != nil {
			return step.Result{}, keycloak.Classify("make the admin a member of organization "+t.Key(), err)
		}
	}
	// The set-password mail goes out once: the attribute records that it did.
	// Without a way to mail, the admin must set a password before anything
	// else; an operator sends the link once mail is configured.
	attrs := *u.Attributes
	switch {
	case !a.KeycloakMails:
		if u.RequiredActions == nil || !slices.Contains(*u.RequiredActions, "UPDATE_PASSWORD") {
			u.RequiredActions = &[]string{"UPDATE_PASSWORD"}
			if err := kc.UpdateUser(ctx, token, realm, *u); err != nil {
				return step.Result{}, keycloak.Classify("require a new password", err)
			}
		}
	case len(attrs["setPasswordMailSent"]) == 0:
		lifespan := linkLifespan
		err := kc.ExecuteActionsEmail(ctx, token, realm, gocloak.ExecuteActionsEmail{
			UserID: u.ID, Lifespan: &lifespan, Actions: &[]string{"UPDATE_PASSWORD"}})
		if err != nil {
			return step.Result{}, keycloak.Classify("send the set-password mail", err)
		}
		attrs["setPasswordMailSent"] = []string{"true"}
		u.Attributes = &attrs
		if err := kc.UpdateUser(ctx, token, realm, *u); err != nil {
			return step.Result{}, keycloak.Classify("mark the set-password mail sent", err)
		}
	}
	return step.Result{Resources: []domain.Resource{{Step: domain.StepAdminUser, Kind: "keycloak-user", ID: realm + "/" + *u.ID, Location: a.Keycloak.Admin.BaseURL()}}}, nil
}

func (a Step) Undo(ctx context.Context, t *domain.Tenant) error {
	token, err := a.Keycloak.Admin.Token(ctx)
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
		return a.Keycloak.Leave(ctx, token, *u, org.ID)
	}
	if err := a.Keycloak.Admin.Client().DeleteUser(ctx, token, t.RealmName(), *u.ID); err != nil && !keycloak.IsNotFound(err) {
		return keycloak.Classify("delete admin user", err)
	}
	return nil
}

func (a Step) Probe(ctx context.Context, t *domain.Tenant) ([]domain.Resource, error) {
	token, err := a.Keycloak.Admin.Token(ctx)
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
	return []domain.Resource{{Step: domain.StepAdminUser, Kind: "keycloak-user", ID: a.Keycloak.RealmOf(t) + "/" + *u.ID}}, nil
}

// ForgetPerson deletes, for an erasure, the Keycloak users tenantflow made
// for the person (email) as the administrator of these tenants — in a
// tenant's realm or in the shared realm, as recorded by the admin_user step.
// A user with another address (the admin changed since) is left alone; one
// that is gone already is nothing to do.
func (a Step) ForgetPerson(ctx context.Context, email string, tenants []*domain.Tenant) ([]string, error) {
	token, err := a.Keycloak.Admin.Token(ctx)
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
			u, err := a.Keycloak.Admin.Client().GetUserByID(ctx, token, realm, userID)
			switch {
			case keycloak.IsNotFound(err):
				continue
			case err != nil:
				return done, keycloak.Classify("read user "+r.ID, err)
			case u.Email == nil || !strings.EqualFold(*u.Email, email):
				continue
			}
			if err := a.Keycloak.Admin.Client().DeleteUser(ctx, token, realm, userID); err != nil && !keycloak.IsNotFound(err) {
				return done, keycloak.Classify("delete user "+r.ID, err)
			}
			done = append(done, "Keycloak user "+r.ID+" (tenant "+t.ID()+")")
		}
	}
	return done, nil
}
