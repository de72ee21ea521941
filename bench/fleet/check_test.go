package fleet

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/Nerzal/gocloak/v13"
	"github.com/jackc/pgx/v5"
	"github.com/miekg/dns"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/tenantflow/tenantflow/adapters/keycloak"
)

// sharedRealm is the dev stack's realm of the organization model.
const sharedRealm = "tenants"

// state is what the back ends hold that a fleet could change: Keycloak's
// realms and the shared realm's organizations, users and clients; the
// tenant database's tenant roles and schemas; the S3 buckets. (DNS has no
// listing without a zone transfer: leftovers checks it per key.)
type state map[string]map[string]bool

func set(names []string) map[string]bool {
	out := map[string]bool{}
	for _, n := range names {
		out[n] = true
	}
	return out
}

func kcAdmin(env map[string]string) *keycloak.Admin {
	return keycloak.NewAdmin(env["TENANTFLOW_KEYCLOAK_URL"], "master", env["TENANTFLOW_KEYCLOAK_ADMIN_USER"], env["TENANTFLOW_KEYCLOAK_ADMIN_PASSWORD"])
}

func snapshot(b *testing.B, env map[string]string) state {
	ctx := context.Background()
	admin := kcAdmin(env)
	token, err := admin.Token(ctx)
	if err != nil {
		b.Fatal(err)
	}
	kc := admin.Client()
	s := state{}
	realms, err := kc.GetRealms(ctx, token)
	if err != nil {
		b.Fatal(err)
	}
	var names []string
	for _, r := range realms {
		names = append(names, *r.Realm)
	}
	s["keycloak realm"] = set(names)
	n, err := admin.CountOrganizations(ctx, token, sharedRealm)
	if err != nil {
		b.Fatal(err)
	}
	users, err := kc.GetUserCount(ctx, token, sharedRealm, gocloak.GetUsersParams{})
	if err != nil {
		b.Fatal(err)
	}
	clients, err := kc.GetClients(ctx, token, sharedRealm, gocloak.GetClientsParams{})
	if err != nil {
		b.Fatal(err)
	}
	names = []string{fmt.Sprintf("organizations: %d", n), fmt.Sprintf("users: %d", users)}
	for _, c := range clients {
		names = append(names, "client "+*c.ClientID)
	}
	s["shared realm"] = set(names)

	conn, err := pgx.Connect(ctx, env["TENANTFLOW_TENANT_DATABASE_URL"])
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	for what, q := range map[string]string{
		"postgres role":   `select rolname from pg_roles where rolname like 'tenant\_%'`,
		"postgres schema": `select nspname from pg_namespace where nspname like 'tenant\_%'`,
	} {
		rows, _ := conn.Query(ctx, q)
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			b.Fatal(err)
		}
		s[what] = set(names)
	}

	buckets, err := s3(b, env).ListBuckets(ctx)
	if err != nil {
		b.Fatal(err)
	}
	names = nil
	for _, bk := range buckets {
		names = append(names, bk.Name)
	}
	s["s3 bucket"] = set(names)
	return s
}

func s3(b *testing.B, env map[string]string) *minio.Client {
	c, err := minio.New(env["TENANTFLOW_S3_ENDPOINT"], &minio.Options{
		Creds: credentials.NewStaticV4(env["TENANTFLOW_S3_ACCESS_KEY"], env["TENANTFLOW_S3_SECRET_KEY"], ""), Secure: env["TENANTFLOW_S3_TLS"] == "true"})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// compare lists what differs between two snapshots.
func (before state) compare(after state) []string {
	var diff []string
	for _, what := range slices.Sorted(maps.Keys(before)) {
		for name := range after[what] {
			if !before[what][name] {
				diff = append(diff, fmt.Sprintf("%s %s: new", what, name))
			}
		}
		for name := range before[what] {
			if !after[what][name] {
				diff = append(diff, fmt.Sprintf("%s %s: gone", what, name))
			}
		}
	}
	slices.Sort(diff)
	return diff
}

func (before state) summary() string {
	var parts []string
	for _, what := range slices.Sorted(maps.Keys(before)) {
		parts = append(parts, fmt.Sprintf("%d %s entries", len(before[what]), what))
	}
	return strings.Join(parts, ", ")
}

// leftovers looks for anything of each key: a realm tenant-<key>, an
// organization, client <key>-app or admin user in the shared realm, a
// role or schema tenant_<key>, a bucket tenant-<key>, a record
// <key>.<zone>.
func leftovers(b *testing.B, env map[string]string, keys []string) []string {
	ctx := context.Background()
	admin := kcAdmin(env)
	kc, store := admin.Client(), s3(b, env)
	conn, err := pgx.Connect(ctx, env["TENANTFLOW_TENANT_DATABASE_URL"])
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	var left []string
	note := func(key, what string, err error) {
		if err != nil {
			left = append(left, fmt.Sprintf("%s: %s (%v)", key, what, err))
		} else {
			left = append(left, key+": "+what)
		}
	}
	for _, key := range keys {
		token, err := admin.Token(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := kc.GetRealm(ctx, token, "tenant-"+key); !keycloak.IsNotFound(err) {
			note(key, "realm", err)
		}
		if org, err := admin.OrganizationByName(ctx, token, sharedRealm, key); org != nil || err != nil {
			note(key, "organization", err)
		}
		if cs, err := kc.GetClients(ctx, token, sharedRealm, gocloak.GetClientsParams{ClientID: gocloak.StringP(key + "-app")}); len(cs) > 0 || err != nil {
			note(key, "client", err)
		}
		email := key + "@fleet.example.com"
		if us, err := kc.GetUsers(ctx, token, sharedRealm, gocloak.GetUsersParams{Username: &email, Exact: gocloak.BoolP(true)}); len(us) > 0 || err != nil {
			note(key, "user", err)
		}
		var n int
		if err := conn.QueryRow(ctx, `select (select count(*) from pg_roles where rolname = $1) + (select count(*) from pg_namespace where nspname = $1)`,
			"tenant_"+key).Scan(&n); n > 0 || err != nil {
			note(key, "role or schema", err)
		}
		if ok, err := store.BucketExists(ctx, "tenant-"+key); ok || err != nil {
			note(key, "bucket", err)
		}
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(key+"."+env["TENANTFLOW_DNS_ZONE"]), dns.TypeCNAME)
		if in, err := dns.Exchange(m, env["TENANTFLOW_DNS_SERVER"]); err != nil || len(in.Answer) > 0 {
			note(key, "DNS record", err)
		}
	}
	return left
}
