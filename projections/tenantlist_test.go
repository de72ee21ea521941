package projections_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/google/uuid"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/internal/repo"
	"github.com/tenantflow/tenantflow/internal/testenv"
	"github.com/tenantflow/tenantflow/projections"
)

// Handling a batch again, or an old batch after a newer one, leaves the
// newest fold in place: redelivery is harmless.
func TestTenantListIsIdempotent(t *testing.T) {
	pool := testenv.NewMigratedPool(t)
	store := eventstore.NewPostgres(pool, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t.Cleanup(store.Close)
	ctx := context.Background()
	tenants := repo.Tenants(store)
	list := &projections.TenantList{Pool: pool, Store: store}

	id := uuid.NewString()
	tn, evs, _ := domain.NewTenant(id, "", domain.TenantInput{Key: "idem", Name: "Idem",
		Contact: domain.Contact{Email: "a@example.com", FirstName: "A", LastName: "B"}})
	if err := repo.CreateTenant(ctx, store, tn, eventstore.Metadata{}, evs); err != nil {
		t.Fatal(err)
	}
	created, _ := store.Load(ctx, tenants.Stream(id))
	if _, err := tenants.Update(ctx, id, eventstore.Metadata{}, func(t *domain.Tenant) ([]domain.Event, error) {
		return t.RequestDeprovisioning("test")
	}); err != nil {
		t.Fatal(err)
	}
	all, _ := store.Load(ctx, tenants.Stream(id))

	for _, batch := range [][]eventstore.Event{all, all, created} {
		if err := list.Handle(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	page, next, err := list.List(ctx, projections.TenantQuery{Limit: 10})
	if err != nil || next != "" || len(page) != 1 {
		t.Fatalf("%v %q %v", page, next, err)
	}
	if page[0].Status != "DEPROVISIONING" || page[0].Version != 2 || page[0].Key != "idem" {
		t.Fatalf("row %+v, want the newest fold (DEPROVISIONING at version 2)", page[0])
	}
	if _, _, err := list.List(ctx, projections.TenantQuery{Limit: 10, Cursor: "%%%"}); err != projections.ErrBadCursor {
		t.Fatalf("bad cursor: %v", err)
	}
}
