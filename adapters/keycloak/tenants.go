package keycloak

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/Nerzal/gocloak/v13"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/platform/auth"
	"github.com/tenantflow/tenantflow/platform/backoff"
)

// Tenants finds what tenantflow made in Keycloak for a tenant — its realm,
// or its organization in the shared realm — for the identity steps (idp,
// admin_user) alike. What exists with the tenant's id as attribute tenantId
// is the tenant's; what exists with another (or none) belongs to someone
// else (domain.ErrForeign, permanent) and is never touched.
type Tenants struct {
	Admin *Admin
	// SharedRealm is the realm of the tenants whose identity model is
	// organization (TENANTFLOW_KEYCLOAK_ORGANIZATIONS_REALM).
	SharedRealm string
}

// TenantAdminRole is the realm role of a tenant's administrators, the one
// the API's token check asks for (auth.TenantAdminRole): in a tenant's realm
// it bundles realm-management's realm-admin (made with the realm by the idp
// step); in the shared realm it grants no Keycloak right and is scoped by
// the user's organizations.
const TenantAdminRole = auth.TenantAdminRole

// Organizations reports whether t's users live in the shared realm.
func Organizations(t *domain.Tenant) bool { return t.Identity() == domain.IdentityOrganization }

// RealmOf is the realm that holds t's users: tenant-<key> in the realm
// model, the shared realm in the organization model.
func (k Tenants) RealmOf(t *domain.Tenant) string {
	if Organizations(t) {
		return k.SharedRealm
	}
	return t.RealmName()
}

// Classify marks Keycloak's 4xx answers permanent, except 408, 429 and
// 401: the admin token of a try expires after a minute, and a try that
// Keycloak answers slowly (many realms made at once) outlives it; the next
// try logs in again.
func Classify(action string, err error) error {
	if err == nil {
		return nil
	}
	err = fmt.Errorf("%s: %w", action, err)
	var api *gocloak.APIError
	if errors.As(err, &api) && api.Code >= 400 && api.Code < 500 && api.Code != http.StatusRequestTimeout &&
		api.Code != http.StatusTooManyRequests && api.Code != http.StatusUnauthorized {
		return backoff.Permanent(err)
	}
	return err
}

// Foreign is a permanent domain.ErrForeign about what.
func Foreign(what string) error {
	return backoff.Permanent(fmt.Errorf("%s %w", what, domain.ErrForeign))
}

// unmarkedWait is how long an unmarked realm or organization is read again
// (see Realm).
const unmarkedWait = 3 * time.Second

// Realm loads t's realm: (nil, nil) when it does not exist, a permanent
// error when it belongs to someone else.
//
// A realm that exists without any owner mark may be one a concurrent try
// of this tenant is still creating: Keycloak makes the realm visible before
// the attributes of its creation (the chaos suite saw a 409, then a realm
// with no tenantId, 13 ms later). So an unmarked realm is read again for a
// few seconds before it counts as someone else's.
func (k Tenants) Realm(ctx context.Context, token string, t *domain.Tenant) (*gocloak.RealmRepresentation, error) {
	return lookAgain(ctx, func() (*gocloak.RealmRepresentation, bool, error) {
		realm, err := k.Admin.Client().GetRealm(ctx, token, t.RealmName())
		if IsNotFound(err) {
			return nil, true, nil
		}
		if err != nil {
			return nil, true, Classify("read realm "+t.RealmName(), err)
		}
		mark := ""
		if realm.Attributes != nil {
			mark = (*realm.Attributes)["tenantId"]
		}
		if mark == t.ID() {
			return realm, true, nil
		}
		return nil, mark != "", Foreign("realm " + t.RealmName())
	})
}

// Organization finds t's organization in the shared realm: (nil, nil) when
// there is none, a permanent error when one of that name is another's. An
// organization is created with its attributes in one request, so an
// unmarked one is read again only briefly (see Realm).
func (k Tenants) Organization(ctx context.Context, token string, t *domain.Tenant) (*Organization, error) {
	return lookAgain(ctx, func() (*Organization, bool, error) {
		org, err := k.Admin.OrganizationByName(ctx, token, k.SharedRealm, t.Key())
		if err != nil || org == nil {
			return nil, true, Classify("find organization "+t.Key(), err)
		}
		marks := org.Attributes["tenantId"]
		if slices.Contains(marks, t.ID()) {
			return org, true, nil
		}
		return nil, len(marks) > 0, Foreign("organization " + t.Key() + " of realm " + k.SharedRealm)
	})
}

// lookAgain calls look every 250 ms until its answer is final or
// unmarkedWait has passed (then its last answer stands).
func lookAgain[T any](ctx context.Context, look func() (found T, final bool, err error)) (T, error) {
	for wait := time.Now().Add(unmarkedWait); ; {
		found, final, err := look()
		if final || time.Now().After(wait) {
			return found, err
		}
		select {
		case <-ctx.Done():
			return found, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Leave ends user u's membership of the organization orgID in the shared
// realm and deletes the user when it was tenantflow's (attribute tenantId)
// and is now a member of no organization. A user that is not tenantflow's
// is left alone (deleting the organization ends its membership). Adopting
// the person for another organization at the very moment its last one is
// removed can still lose that adoption's user: the adopting step's probe
// then finds it missing.
func (k Tenants) Leave(ctx context.Context, token string, u gocloak.User, orgID string) error {
	if u.ID == nil || u.Attributes == nil || len((*u.Attributes)["tenantId"]) == 0 {
		return nil
	}
	if err := k.Admin.RemoveOrganizationMember(ctx, token, k.SharedRealm, orgID, *u.ID); err != nil {
		return Classify("end the membership of user "+*u.ID, err)
	}
	others, err := k.Admin.MemberOrganizations(ctx, token, k.SharedRealm, *u.ID)
	if err != nil {
		return Classify("read the organizations of user "+*u.ID, err)
	}
	if len(others) > 0 {
		return nil
	}
	if err := k.Admin.Client().DeleteUser(ctx, token, k.SharedRealm, *u.ID); err != nil && !IsNotFound(err) {
		return Classify("delete user "+*u.ID, err)
	}
	return nil
}
