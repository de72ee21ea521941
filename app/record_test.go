package app

import (
	"context"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
)

// A decision made on a fold someone appended past is made again on the new
// fold, with the same ids; one that is no longer due records nothing.
func TestRecordOnDecidesAgainAfterAConcurrentAppend(t *testing.T) {
	store := eventstore.NewMemory()
	r := Tenants(store)
	ctx := context.Background()
	newTenant(t, r, "t-1")
	stale, err := r.Get(ctx, "t-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Update(ctx, "t-1", md, func(tn *domain.Tenant) ([]domain.Event, error) {
		return tn.RequestProvisioning(subscription(), domain.DefaultTiers)
	}); err != nil {
		t.Fatal(err)
	}
	var folds []int64
	name := "Acme Two"
	rename := Keyed("t-1/rename", func(tn *domain.Tenant) ([]domain.Event, error) {
		folds = append(folds, tn.Version())
		return tn.Update(domain.TenantUpdate{Name: &name}, time.Now())
	})
	if err := r.RecordOn(ctx, "t-1", stale, md, rename); err != nil {
		t.Fatal(err)
	}
	if len(folds) != 2 || folds[0] != 1 || folds[1] != 2 {
		t.Fatalf("decided on versions %v, want the stale 1 and then the current 2", folds)
	}
	stored, _ := store.Load(ctx, "tenant-t-1")
	if len(stored) != 3 || stored[2].ID != IDs("t-1/rename", 1)[0] {
		t.Fatalf("stored %d events, the last %+v: want the rename with its derived id", len(stored), stored[len(stored)-1])
	}
	// The same decision again (a redelivery) finds the name changed already.
	if err := r.Record(ctx, "t-1", md, rename); err != nil {
		t.Fatalf("deciding again: %v", err)
	}
	if again, _ := store.Load(ctx, "tenant-t-1"); len(again) != 3 {
		t.Fatalf("a repeated decision appended: %d events", len(again))
	}
	nothing := func(*domain.Tenant) ([]domain.Event, string, error) { return nil, "k", domain.ErrNotYourTurn }
	if err := r.Record(ctx, "t-1", md, nothing); err != nil {
		t.Fatalf("a decision no longer due: %v, want nil", err)
	}
}
