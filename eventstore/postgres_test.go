package eventstore

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/tenantflow/tenantflow/internal/testenv"
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
	runContract(t, func(*testing.T) store { return s })
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
