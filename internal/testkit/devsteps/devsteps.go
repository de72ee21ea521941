// Package devsteps builds the step back ends on the dev stack's real
// services, for the tests of each step's package and of the choreography:
// one place that knows which variable configures which back end in tests.
package devsteps

import (
	"context"
	"errors"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/Nerzal/gocloak/v13"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/miekg/dns"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/tenantflow/tenantflow/adapters/keycloak"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/handlers/adminuser"
	dnsstep "github.com/tenantflow/tenantflow/handlers/dns"
	"github.com/tenantflow/tenantflow/handlers/idp"
	"github.com/tenantflow/tenantflow/handlers/infrastructure"
	"github.com/tenantflow/tenantflow/handlers/storage"
	"github.com/tenantflow/tenantflow/internal/service"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
)

// S3 is the storage step on the dev stack's S3 server (versitygw).
func S3(t testing.TB) storage.S3 {
	t.Helper()
	env := testenv.Require(t, "TENANTFLOW_S3_ENDPOINT", "TENANTFLOW_S3_ACCESS_KEY", "TENANTFLOW_S3_SECRET_KEY")
	c, err := minio.New(env["TENANTFLOW_S3_ENDPOINT"], &minio.Options{
		Creds: credentials.NewStaticV4(env["TENANTFLOW_S3_ACCESS_KEY"], env["TENANTFLOW_S3_SECRET_KEY"], "")})
	if err != nil {
		t.Fatal(err)
	}
	return storage.S3{Client: c, Region: "us-east-1"}
}

// DNS is the dns step on the dev stack's BIND, for its platform zone.
func DNS(t testing.TB) dnsstep.DNS {
	t.Helper()
	env := testenv.Require(t, "TENANTFLOW_DNS_SERVER", "TENANTFLOW_DNS_ZONE", "TENANTFLOW_DNS_TSIG_NAME", "TENANTFLOW_DNS_TSIG_SECRET")
	return dnsstep.DNS{Server: env["TENANTFLOW_DNS_SERVER"], Zone: env["TENANTFLOW_DNS_ZONE"], TSIGName: env["TENANTFLOW_DNS_TSIG_NAME"],
		TSIGSecret: env["TENANTFLOW_DNS_TSIG_SECRET"], Target: "lb.tenants.test"}
}

// Infrastructure is the infrastructure step with the dev stack's OpenTofu
// and the repository's reference modules, its state in the test database.
func Infrastructure(t testing.TB) infrastructure.Infrastructure {
	t.Helper()
	env := testenv.Require(t, "TENANTFLOW_INFRA_BINARY")
	_, here, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(here), "..", "..", "..", "infra", "modules")
	return infrastructure.Infrastructure{Binary: env["TENANTFLOW_INFRA_BINARY"], StateDir: t.TempDir(), Region: "eu-test-1",
		StateConn: testenv.DatabaseURL(t),
		Modules:   map[string]string{"silo": filepath.Join(root, "silo"), "bridge": filepath.Join(root, "bridge")}, Timeout: 2 * time.Minute}
}

// SharedRealm is the dev stack's shared realm of the organization model
// (TENANTFLOW_KEYCLOAK_ORGANIZATIONS_REALM's default, which the dev stack
// creates with tenantd's service account).
const SharedRealm = "tenants"

// Identity is the identity steps signed in to the dev stack's Keycloak as
// its admin user, and that admin, for tests that inspect what they made.
func Identity(t testing.TB) (*idp.Identity, *keycloak.Admin) {
	t.Helper()
	env := testenv.Require(t, "TENANTFLOW_KEYCLOAK_URL", "TENANTFLOW_KEYCLOAK_ADMIN_USER", "TENANTFLOW_KEYCLOAK_ADMIN_PASSWORD")
	admin := keycloak.NewAdmin(env["TENANTFLOW_KEYCLOAK_URL"], "master", env["TENANTFLOW_KEYCLOAK_ADMIN_USER"], env["TENANTFLOW_KEYCLOAK_ADMIN_PASSWORD"])
	return &idp.Identity{Admin: admin, PlatformZone: "tenants.example.net.", SharedRealm: SharedRealm}, admin
}

// AdminUser is the admin_user step on id's Keycloak, as tenantd builds it.
func AdminUser(id *idp.Identity) adminuser.Step { return service.AdminUser(id, nil) }

// Lookup asks server for name's records of qtype: CNAME targets, TXT texts.
func Lookup(t testing.TB, server, name string, qtype uint16) []string {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	in, err := dns.Exchange(m, server)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, rr := range in.Answer {
		switch v := rr.(type) {
		case *dns.CNAME:
			out = append(out, v.Target)
		case *dns.TXT:
			out = append(out, strings.Join(v.Txt, ""))
		}
	}
	return out
}

// InfraState is the tenant's OpenTofu state as the pg backend stored it ("" if none).
func InfraState(t testing.TB, tn *domain.Tenant) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testenv.DatabaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var data string
	err = conn.QueryRow(ctx, `select data from `+pgx.Identifier{infrastructure.StateSchema(tn), "states"}.Sanitize()+` where name = 'default'`).Scan(&data)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "42P01" {
			return ""
		}
		t.Fatal(err)
	}
	return data
}

// SignIn gives the user email of realm a password and a direct-grant
// client of the test's own (a tenant's own client allows only the browser's
// code flow), and returns how to sign in as that user: the access token, or
// Keycloak's refusal. organization asks for the organization scope (the
// shared realm's tokens then name the user's organizations).
func SignIn(t testing.TB, admin *keycloak.Admin, realm, email string, organization bool) func() (string, error) {
	t.Helper()
	ctx := context.Background()
	kc := admin.Client()
	token, err := admin.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	scopes := []string{"basic", "roles", "profile", "email"}
	if organization {
		scopes = append(scopes, "organization")
	}
	const client = "tenantflow-test-direct"
	if cs, err := kc.GetClients(ctx, token, realm, gocloak.GetClientsParams{ClientID: gocloak.StringP(client)}); err != nil || len(cs) == 0 {
		_, err := kc.CreateClient(ctx, token, realm, gocloak.Client{ClientID: gocloak.StringP(client), PublicClient: gocloak.BoolP(true),
			DirectAccessGrantsEnabled: gocloak.BoolP(true), StandardFlowEnabled: gocloak.BoolP(false), DefaultClientScopes: &scopes})
		if err != nil && !keycloak.IsConflict(err) {
			t.Fatal(err)
		}
	}
	users, err := kc.GetUsers(ctx, token, realm, gocloak.GetUsersParams{Username: &email, Exact: gocloak.BoolP(true)})
	if err != nil || len(users) != 1 {
		t.Fatalf("user %s of %s: %v %v", email, realm, users, err)
	}
	password := strings.ReplaceAll(t.Name(), "/", "-") + "-Pw1!"
	if err := kc.SetPassword(ctx, token, *users[0].ID, realm, password, false); err != nil {
		t.Fatal(err)
	}
	return func() (string, error) {
		jwt, err := kc.Login(ctx, client, "", realm, email, password)
		if err != nil {
			return "", err
		}
		return jwt.AccessToken, nil
	}
}
