package eventstore

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
	"github.com/tenantflow/tenantflow/migrations"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// newPostgres returns a store on a fresh, migrated database of the dev
// stack's PostgreSQL, dropped when t ends.
func newPostgres(t testing.TB) *Postgres {
	t.Helper()
	s := NewPostgres(testenv.NewMigratedPool(t), quiet)
	t.Cleanup(s.Close)
	return s
}

func TestPostgresStoreContract(t *testing.T) {
	s := newPostgres(t)
	runContract(t, func(*testing.T) Store { return s })
}

func TestMigrationsAreIdempotent(t *testing.T) {
	s := newPostgres(t)
	applied, err := migrations.Up(context.Background(), s.Pool())
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != 0 {
		t.Fatalf("second run applied %v", applied)
	}
}

// The runtime role (a member of tenantflow_runtime, migration 00011) runs the
// whole store contract, yet cannot change or remove one event it wrote; the
// owner that migrated the database can, which is why tenantd must not run
// as the owner.
func TestRuntimeRoleAppendsButCannotRewriteTheLog(t *testing.T) {
	ctx := context.Background()
	ownerURL := testenv.NewDatabase(t)
	owner, err := pgxpool.New(ctx, ownerURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(owner.Close)
	if _, err := migrations.Up(ctx, owner); err != nil {
		t.Fatal(err)
	}
	runtime, err := pgxpool.New(ctx, testenv.RuntimeURL(t, ownerURL))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(runtime.Close)
	s := NewPostgres(runtime, quiet)
	t.Cleanup(s.Close)

	// The contract's subtests are parallel: t.Run returns when they are done.
	t.Run("contract", func(t *testing.T) { runContract(t, func(*testing.T) Store { return s }) })

	var n int
	if err := runtime.QueryRow(ctx, `select count(*) from events`).Scan(&n); err != nil || n == 0 {
		t.Fatalf("the runtime role reads %d events (%v); the contract appended some", n, err)
	}
	for _, stmt := range []string{
		`update events set data = '{}'::jsonb`,
		`delete from events`,
		`truncate events`,
		`update seals set hash = hash`,
		`delete from seals`,
	} {
		_, err := runtime.Exec(ctx, stmt)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
			t.Errorf("runtime role: %s: want permission denied (42501), got %v", stmt, err)
		}
	}
	if err := runtime.QueryRow(ctx, `select count(*) from events`).Scan(&n); err != nil || n == 0 {
		t.Fatalf("events after the refused statements: %d (%v)", n, err)
	}
	if err := s.CheckAppendOnly(ctx); err != nil {
		t.Errorf("runtime role: CheckAppendOnly = %v", err)
	}
	ownerStore := NewPostgres(owner, quiet)
	t.Cleanup(ownerStore.Close)
	if err := ownerStore.CheckAppendOnly(ctx); !errors.Is(err, ErrRewritableLog) {
		t.Errorf("owner role: CheckAppendOnly = %v, want ErrRewritableLog", err)
	}
}
