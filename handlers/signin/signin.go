// Package signin is the sign-in steps of the changes of a live tenant:
// signin_off (a suspension: nobody of the tenant signs in, and every
// session ends) and signin_on (a reactivation), each the other's undo.
//
// In the realm identity model the tenant's realm is disabled (Keycloak
// refuses every sign-in to a disabled realm) and its sessions are ended.
// In the organization model the tenant's organization in the shared realm
// is disabled and its members' sessions are ended; their users are not
// disabled, because one person may be a member of another tenant's
// organization too, and that tenant is not suspended.
package signin

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/Nerzal/gocloak/v13"
	"github.com/tenantflow/tenantflow/adapters/keycloak"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/handlers/step"
)

// membersAtMost bounds the members whose sessions a suspension ends.
const membersAtMost = 1000

// Off is signin_off: Do turns the tenant's sign-in off, Undo on again.
type Off struct{ Keycloak keycloak.Tenants }

// On is signin_on: Do turns the tenant's sign-in on, Undo off again.
type On struct{ Keycloak keycloak.Tenants }

func (s Off) Do(ctx context.Context, t *domain.Tenant) (step.Result, error) {
	return step.Result{}, set(ctx, s.Keycloak, t, false)
}
func (s Off) Undo(ctx context.Context, t *domain.Tenant) error { return set(ctx, s.Keycloak, t, true) }
func (s On) Do(ctx context.Context, t *domain.Tenant) (step.Result, error) {
	return step.Result{}, set(ctx, s.Keycloak, t, true)
}
func (s On) Undo(ctx context.Context, t *domain.Tenant) error { return set(ctx, s.Keycloak, t, false) }

// set turns the tenant's sign-in on or off; off also ends its sessions.
// Both are idempotent: a realm or organization already so is left so.
func set(ctx context.Context, k keycloak.Tenants, t *domain.Tenant, enabled bool) error {
	token, err := k.Admin.Token(ctx)
	if err != nil {
		return keycloak.Classify("sign in to Keycloak", err)
	}
	if keycloak.Organizations(t) {
		org, err := k.Organization(ctx, token, t)
		if err != nil {
			return err
		}
		if org == nil {
			return step.Permanent(fmt.Errorf("the tenant has no organization in realm %s", k.SharedRealm))
		}
		if org.Enabled != enabled {
			org.Enabled = enabled
			if err := k.Admin.UpdateOrganization(ctx, token, k.SharedRealm, *org); err != nil {
				return keycloak.Classify("update organization "+t.Key(), err)
			}
		}
		if enabled {
			return nil
		}
		members, err := k.Admin.OrganizationMembers(ctx, token, k.SharedRealm, org.ID, membersAtMost)
		if err != nil {
			return keycloak.Classify("list the members of organization "+t.Key(), err)
		}
		for _, u := range members {
			if u.ID == nil {
				continue
			}
			if err := k.Admin.Client().LogoutAllSessions(ctx, token, k.SharedRealm, *u.ID); err != nil && !keycloak.IsNotFound(err) {
				return keycloak.Classify("end the sessions of user "+*u.ID, err)
			}
		}
		return nil
	}
	realm, err := k.Realm(ctx, token, t)
	if err != nil {
		return err
	}
	if realm == nil {
		return step.Permanent(fmt.Errorf("the tenant has no realm %s", t.RealmName()))
	}
	if realm.Enabled == nil || *realm.Enabled != enabled {
		// Only the flag: the rest of the realm stays as its admins made it.
		if err := k.Admin.Client().UpdateRealm(ctx, token, gocloak.RealmRepresentation{Realm: realm.Realm, Enabled: &enabled}); err != nil {
			return keycloak.Classify("update realm "+t.RealmName(), err)
		}
	}
	if enabled {
		return nil
	}
	_, err = k.Admin.Call(ctx, token, http.MethodPost, "/admin/realms/"+url.PathEscape(t.RealmName())+"/logout-all", nil, nil)
	return keycloak.Classify("end the sessions of realm "+t.RealmName(), err)
}
