package migrations_test

import (
	"context"
	"testing"

	"github.com/tenantflow/tenantflow/adapters/postgres"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
	"github.com/tenantflow/tenantflow/migrations"
)

// A production tenantd does not migrate: it asks, as the runtime role,
// whether migrations are pending, and refuses to serve a schema older than
// itself until `tenantctl migrate` (the owner) has run.
func TestPendingAsTheRuntimeRole(t *testing.T) {
	ctx := context.Background()
	dbURL := testenv.NewDatabase(t)
	owner, err := postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	if pending, err := migrations.Pending(ctx, owner); err != nil || !pending {
		t.Fatalf("an empty database: pending %v, %v; want pending", pending, err)
	}
	if _, err := migrations.Up(ctx, owner); err != nil {
		t.Fatal(err)
	}
	runtime, err := postgres.Open(ctx, testenv.RuntimeURL(t, dbURL))
	if err != nil {
		t.Fatal(err)
	}
	defer runtime.Close()
	if pending, err := migrations.Pending(ctx, runtime); err != nil || pending {
		t.Fatalf("after tenantctl migrate, as the runtime role: pending %v, %v; want none", pending, err)
	}
}
