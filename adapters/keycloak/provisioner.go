package keycloak

import (
	"context"
	"fmt"

	"github.com/Nerzal/gocloak/v13"
)

// Provisioner is the confidential client tenantd signs in with instead of
// the master realm's admin user: a service account in the admin realm with
// the realm role create-realm and nothing else. Keycloak grants whoever
// creates a realm the management roles of that realm alone, so the account
// administers the tenants' realms it made and cannot read or change any
// other realm, the master realm's users or the operators' realm.
type Provisioner struct {
	Realm    string // the admin realm: master
	ClientID string // tenantflow-provisioner
	Secret   string
}

// lightweight makes the client's access tokens carry no roles: Keycloak
// looks them up when the admin API is called. A service account holds the
// management roles of every realm it made, which would otherwise all be
// written into each token — tens of kilobytes with a few hundred tenants,
// past the server's header limit — and a token issued before a realm was
// made would not carry that realm's roles.
const lightweight = "client.use.lightweight.access.token.enabled"

// ProvisionerRoles are the admin realm's roles the service account holds.
var ProvisionerRoles = []string{"create-realm"}

// EnsureProvisioner creates the client unless it exists, sets its secret to
// p's and grants its service account ProvisionerRoles; running it again
// changes nothing else. a must be an administrator of p.Realm.
func EnsureProvisioner(ctx context.Context, a *Admin, p Provisioner) error {
	token, err := a.Token(ctx)
	if err != nil {
		return err
	}
	kc := a.Client()
	id, err := ensureClient(ctx, kc, token, p.Realm, gocloak.Client{ClientID: &p.ClientID, PublicClient: gocloak.BoolP(false),
		ServiceAccountsEnabled: gocloak.BoolP(true), StandardFlowEnabled: gocloak.BoolP(false), DirectAccessGrantsEnabled: gocloak.BoolP(false),
		Description: gocloak.StringP("tenantd: creates tenants' realms and administers only those"),
		Attributes:  &map[string]string{lightweight: "true"}})
	if err != nil {
		return err
	}
	client, err := kc.GetClient(ctx, token, p.Realm, id)
	if err != nil {
		return err
	}
	client.Secret = &p.Secret
	attrs := map[string]string{}
	if client.Attributes != nil {
		attrs = *client.Attributes
	}
	attrs[lightweight] = "true"
	client.Attributes = &attrs
	if err := kc.UpdateClient(ctx, token, p.Realm, *client); err != nil {
		return fmt.Errorf("set the secret of %s: %w", p.ClientID, err)
	}
	account, err := kc.GetClientServiceAccount(ctx, token, p.Realm, id)
	if err != nil {
		return err
	}
	roles := make([]gocloak.Role, 0, len(ProvisionerRoles))
	for _, name := range ProvisionerRoles {
		role, err := kc.GetRealmRole(ctx, token, p.Realm, name)
		if err != nil {
			return fmt.Errorf("realm role %s: %w", name, err)
		}
		roles = append(roles, *role)
	}
	return kc.AddRealmRoleToUser(ctx, token, p.Realm, *account.ID, roles)
}
