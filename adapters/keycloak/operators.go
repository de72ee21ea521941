package keycloak

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/Nerzal/gocloak/v13"
)

// OperatorsRealm is the identity provider of tenantflow's operators: people
// sign in with `tenantctl login` (the OAuth 2.0 device authorization grant,
// client DeviceClient), scripts with the client credentials of
// ScriptClient. Permission codes are client roles of APIClient; a realm
// role (OperatorRole) bundles them all; a protocol mapper on both clients
// puts the codes a token's holder has through roles into its "permissions"
// claim, which tenantd checks like those of any other token.
type OperatorsRealm struct {
	Realm        string   // tenantflow-operators
	Permissions  []string // the codes, as client roles of APIClient
	APIClient    string   // holds the codes: tenantflow-api
	DeviceClient string   // public, device grant only: tenantctl
	ScriptClient string   // confidential, service account: tenantflow-ci
	ScriptSecret string
	OperatorRole string // composite of every code: tenantflow-operator
	// A person with OperatorRole (the dev stack's; production adds its own
	// people, or federates them).
	User, Password, Email string
}

// EnsureOperatorsRealm creates what of r is missing and sets the user's
// password and the script client's secret to r's, so running it again (the
// dev stack at every start) changes nothing else.
func EnsureOperatorsRealm(ctx context.Context, a *Admin, r OperatorsRealm) error {
	token, err := a.Token(ctx)
	if err != nil {
		return err
	}
	kc := a.Client()
	if _, err := kc.GetRealm(ctx, token, r.Realm); IsNotFound(err) {
		if _, err := kc.CreateRealm(ctx, token, gocloak.RealmRepresentation{Realm: &r.Realm, Enabled: gocloak.BoolP(true),
			DisplayName: gocloak.StringP("tenantflow operators")}); err != nil {
			return fmt.Errorf("create realm %s: %w", r.Realm, err)
		}
	} else if err != nil {
		return err
	}
	apiID, err := ensureClient(ctx, kc, token, r.Realm, gocloak.Client{ClientID: &r.APIClient, PublicClient: gocloak.BoolP(false),
		StandardFlowEnabled: gocloak.BoolP(false), DirectAccessGrantsEnabled: gocloak.BoolP(false),
		Description: gocloak.StringP("tenantflow's REST API: its client roles are the permission codes")})
	if err != nil {
		return err
	}
	var roles []gocloak.Role
	for _, code := range r.Permissions {
		role, err := kc.GetClientRole(ctx, token, r.Realm, apiID, code)
		if IsNotFound(err) {
			if _, err = kc.CreateClientRole(ctx, token, r.Realm, apiID, gocloak.Role{Name: gocloak.StringP(code)}); err != nil {
				return fmt.Errorf("create role %s: %w", code, err)
			}
			role, err = kc.GetClientRole(ctx, token, r.Realm, apiID, code)
		}
		if err != nil {
			return err
		}
		roles = append(roles, *role)
	}
	operator, err := kc.GetRealmRole(ctx, token, r.Realm, r.OperatorRole)
	if IsNotFound(err) {
		if _, err = kc.CreateRealmRole(ctx, token, r.Realm, gocloak.Role{Name: &r.OperatorRole, Composite: gocloak.BoolP(true),
			Description: gocloak.StringP("every tenantflow permission code")}); err != nil {
			return err
		}
		operator, err = kc.GetRealmRole(ctx, token, r.Realm, r.OperatorRole)
	}
	if err != nil {
		return err
	}
	if err := kc.AddRealmRoleComposite(ctx, token, r.Realm, r.OperatorRole, roles); err != nil {
		return fmt.Errorf("bundle the codes into %s: %w", r.OperatorRole, err)
	}

	mapper := gocloak.ProtocolMapperRepresentation{Name: gocloak.StringP("permissions"), Protocol: gocloak.StringP("openid-connect"),
		ProtocolMapper: gocloak.StringP("oidc-usermodel-client-role-mapper"),
		Config: &map[string]string{"usermodel.clientRoleMapping.clientId": r.APIClient, "claim.name": "permissions",
			"multivalued": "true", "jsonType.label": "String", "access.token.claim": "true", "id.token.claim": "false"}}
	if _, err := ensureClient(ctx, kc, token, r.Realm, gocloak.Client{ClientID: &r.DeviceClient, PublicClient: gocloak.BoolP(true),
		StandardFlowEnabled: gocloak.BoolP(false), DirectAccessGrantsEnabled: gocloak.BoolP(false),
		Attributes:      &map[string]string{"oauth2.device.authorization.grant.enabled": "true"},
		ProtocolMappers: &[]gocloak.ProtocolMapperRepresentation{mapper},
		Description:     gocloak.StringP("tenantctl login: people, by the device authorization grant")}); err != nil {
		return err
	}
	scriptID, err := ensureClient(ctx, kc, token, r.Realm, gocloak.Client{ClientID: &r.ScriptClient, PublicClient: gocloak.BoolP(false),
		ServiceAccountsEnabled: gocloak.BoolP(true), StandardFlowEnabled: gocloak.BoolP(false), DirectAccessGrantsEnabled: gocloak.BoolP(false),
		ProtocolMappers: &[]gocloak.ProtocolMapperRepresentation{mapper},
		Description:     gocloak.StringP("tenantctl login --client-credentials: scripts and CI")})
	if err != nil {
		return err
	}
	script, err := kc.GetClient(ctx, token, r.Realm, scriptID)
	if err != nil {
		return err
	}
	script.Secret = &r.ScriptSecret
	if err := kc.UpdateClient(ctx, token, r.Realm, *script); err != nil {
		return fmt.Errorf("set the secret of %s: %w", r.ScriptClient, err)
	}
	account, err := kc.GetClientServiceAccount(ctx, token, r.Realm, scriptID)
	if err != nil {
		return err
	}
	if err := kc.AddRealmRoleToUser(ctx, token, r.Realm, *account.ID, []gocloak.Role{*operator}); err != nil {
		return err
	}

	users, err := kc.GetUsers(ctx, token, r.Realm, gocloak.GetUsersParams{Username: &r.User, Exact: gocloak.BoolP(true)})
	if err != nil {
		return err
	}
	var userID string
	if len(users) > 0 {
		userID = *users[0].ID
	} else if userID, err = kc.CreateUser(ctx, token, r.Realm, gocloak.User{Username: &r.User, Email: &r.Email, EmailVerified: gocloak.BoolP(true),
		FirstName: gocloak.StringP("Dev"), LastName: gocloak.StringP("Operator"), Enabled: gocloak.BoolP(true)}); err != nil {
		return fmt.Errorf("create user %s: %w", r.User, err)
	}
	if err := kc.SetPassword(ctx, token, userID, r.Realm, r.Password, false); err != nil {
		return err
	}
	return kc.AddRealmRoleToUser(ctx, token, r.Realm, userID, []gocloak.Role{*operator})
}

// ensureClient creates c unless a client of its ClientID exists, and
// returns its internal id.
func ensureClient(ctx context.Context, kc *gocloak.GoCloak, token, realm string, c gocloak.Client) (string, error) {
	found, err := kc.GetClients(ctx, token, realm, gocloak.GetClientsParams{ClientID: c.ClientID})
	if err != nil {
		return "", err
	}
	if len(found) > 0 {
		return *found[0].ID, nil
	}
	id, err := kc.CreateClient(ctx, token, realm, c)
	if err != nil {
		return "", fmt.Errorf("create client %s: %w", *c.ClientID, err)
	}
	return id, nil
}

// IsNotFound reports whether err is Keycloak's 404.
func IsNotFound(err error) bool {
	var apiErr *gocloak.APIError
	return errors.As(err, &apiErr) && apiErr.Code == http.StatusNotFound
}
