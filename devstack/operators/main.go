// Command operators sets up the dev stack's Keycloak: the operators' realm
// (keycloak.EnsureOperatorsRealm) and tenantd's service account in the
// master realm (keycloak.EnsureProvisioner). devstack.sh runs it at every
// start with the connection settings and the dev stack's generated secrets
// in the environment. Running it again changes nothing.
package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/tenantflow/tenantflow/adapters/keycloak"
	"github.com/tenantflow/tenantflow/internal/config"
	"github.com/tenantflow/tenantflow/internal/service"
	"github.com/tenantflow/tenantflow/platform/auth"
)

func main() {
	get := func(name string) string {
		v := os.Getenv(name)
		if v == "" {
			fmt.Fprintf(os.Stderr, "operators: %s is not set\n", name)
			os.Exit(2)
		}
		return v
	}
	admin := keycloak.NewAdmin(get("TENANTFLOW_KEYCLOAK_URL"), "master", get("TENANTFLOW_KEYCLOAK_ADMIN_USER"), get("TENANTFLOW_KEYCLOAK_ADMIN_PASSWORD"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := keycloak.EnsureOperatorsRealm(ctx, admin, keycloak.OperatorsRealm{
		Realm: "tenantflow-operators", Permissions: auth.Known, APIClient: "tenantflow-api",
		DeviceClient: "tenantctl", ScriptClient: "tenantflow-ci", ScriptSecret: get("TENANTFLOW_DEVSTACK_CI_CLIENT_SECRET"),
		OperatorRole: "tenantflow-operator", User: "operator", Password: get("TENANTFLOW_DEVSTACK_OPERATOR_PASSWORD"),
		Email: "operator@tenantflow.localhost",
	})
	if err == nil {
		err = keycloak.EnsureProvisioner(ctx, admin, keycloak.Provisioner{Realm: "master",
			ClientID: get("TENANTFLOW_KEYCLOAK_CLIENT_ID"), Secret: get("TENANTFLOW_KEYCLOAK_CLIENT_SECRET")})
	}
	if err == nil {
		// The organization model's shared realm, made by tenantd's service
		// account (as tenantd would make it), with tenantd's own Keycloak and
		// mail settings (the rest of the stack may not be up yet: Keycloak
		// starts before DNS, whose secret the full configuration needs).
		only := map[string]string{}
		for _, kv := range os.Environ() {
			k, v, _ := strings.Cut(kv, "=")
			if strings.HasPrefix(k, "TENANTFLOW_KEYCLOAK_") || strings.HasPrefix(k, "TENANTFLOW_SMTP_") ||
				k == "TENANTFLOW_NOTIFIER" || strings.HasPrefix(k, "TENANTFLOW_MAIL_BRIDGE_") {
				only[k] = v
			}
		}
		var cfg config.Config
		if cfg, err = config.FromEnv(only); err == nil {
			err = service.Identity(cfg, "").EnsureSharedRealm(ctx)
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "operators: %v\n", err)
		os.Exit(1)
	}
}
