// Package testenv gives integration tests the dev stack's connection settings.
//
// `make test` starts the dev stack and exports its settings (devstack.sh env)
// before running the suite. A test that needs a service calls Require: when a
// setting is missing it fails under CI (CI set to anything), so the suite can
// never pass by skipping its integration tests, and skips with the reason
// otherwise, so `go test ./...` on a laptop without the stack still runs the
// unit tests.
package testenv

import (
	"context"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tenantflow/tenantflow/migrations"
)

// Require returns the values of the named environment variables, or stops the
// test: t.Fatal under CI, t.Skip elsewhere, naming what is missing.
func Require(t testing.TB, names ...string) map[string]string {
	t.Helper()
	vals := make(map[string]string, len(names))
	var missing []string
	for _, n := range names {
		v := os.Getenv(n)
		if v == "" {
			missing = append(missing, n)
		}
		vals[n] = v
	}
	if len(missing) == 0 {
		return vals
	}
	msg := "needs the dev stack: " + strings.Join(missing, ", ") +
		" not set (run `make test`, or eval \"$(devstack/devstack.sh env)\" after devstack.sh up)"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return nil
}

// KafkaBrokers returns the real broker list of the dev stack.
func KafkaBrokers(t testing.TB) []string {
	t.Helper()
	return strings.Split(Require(t, "TENANTFLOW_KAFKA_BROKERS")["TENANTFLOW_KAFKA_BROKERS"], ",")
}

// DatabaseURL returns the dev stack's PostgreSQL URL as the tables' owner
// (TENANTFLOW_DATABASE_MIGRATE_URL; TENANTFLOW_DATABASE_URL when that is
// unset), the role that may create databases and migrate them.
func DatabaseURL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv("TENANTFLOW_DATABASE_MIGRATE_URL"); u != "" {
		return u
	}
	return Require(t, "TENANTFLOW_DATABASE_URL")["TENANTFLOW_DATABASE_URL"]
}

// RuntimeURL is dbURL (a database of NewDatabase) reached as the dev stack's
// runtime role — TENANTFLOW_DATABASE_URL's user, a member of
// tenantflow_runtime — which may read and append to the event log only.
func RuntimeURL(t testing.TB, dbURL string) string {
	t.Helper()
	runtime, err := url.Parse(Require(t, "TENANTFLOW_DATABASE_URL", "TENANTFLOW_DATABASE_MIGRATE_URL")["TENANTFLOW_DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = runtime.User
	return u.String()
}

// NewDatabase creates an empty database on the dev stack's PostgreSQL for one
// test binary or test, drops it when t ends, and returns its URL. Isolated
// databases let tests read the whole log without seeing other packages' events.
func NewDatabase(t testing.TB) string {
	t.Helper()
	base := DatabaseURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to the dev stack's PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	name := "tftest_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:16]
	if _, err := conn.Exec(ctx, "create database "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Logf("drop test database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		roles := tenantRoles(ctx, databaseURL(t, base, name))
		if _, err := c.Exec(ctx, "drop database if exists "+name+" with (force)"); err != nil {
			t.Logf("drop test database %s: %v", name, err)
		}
		// Roles are the cluster's, not the database's: the tenants' roles the
		// database step made go with it, or the dev stack collects thousands
		// and every new connection's privilege check slows down (PostgreSQL
		// walks a role's memberships; see docs/benchmarks.md).
		for _, r := range roles {
			if _, err := c.Exec(ctx, "drop role if exists "+pgx.Identifier{r}.Sanitize()); err != nil {
				t.Logf("drop tenant role %s: %v", r, err)
			}
		}
	})
	return databaseURL(t, base, name)
}

func databaseURL(t testing.TB, base, name string) string {
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// tenantRoles names the tenants' roles the database step made for the
// tenant schemas of the database at dsn: each schema tenant_<key> has its
// role of the same name.
func tenantRoles(ctx context.Context, dsn string) []string {
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil
	}
	defer c.Close(ctx)
	rows, err := c.Query(ctx, `select r.rolname from pg_namespace n join pg_roles r on r.rolname = n.nspname
		where starts_with(n.nspname, 'tenant_')`)
	if err != nil {
		return nil
	}
	roles, _ := pgx.CollectRows(rows, pgx.RowTo[string])
	return roles
}

// NewMigratedPool is NewDatabase with tenantflow's migrations applied,
// opened as a pool that closes when t ends.
func NewMigratedPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := migrations.Up(ctx, pool); err != nil {
		t.Fatal(err)
	}
	return pool
}
