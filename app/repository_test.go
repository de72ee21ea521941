package app

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
)

var md = eventstore.Metadata{CorrelationID: "c-1", Actor: "test"}

func newTenant(t *testing.T, r Repository[*domain.Tenant], id string) {
	t.Helper()
	_, evs, err := domain.NewTenant(id, "", domain.TenantInput{Key: "acme", Name: "Acme",
		Contact: domain.Contact{Email: "ops@example.com", FirstName: "Ada", LastName: "L"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Create(context.Background(), id, md, evs); err != nil {
		t.Fatal(err)
	}
}

func subscription() domain.Subscription {
	now := time.Now()
	return domain.Subscription{ID: "s", SubscriberID: "x", PlanID: "p", StartDate: now,
		Plan: domain.Plan{ID: "p", Name: "Basic", Tier: "pooled"}}
}

func TestCreateGetUpdate(t *testing.T) {
	store := eventstore.NewMemory()
	r := Tenants(store)
	ctx := context.Background()
	newTenant(t, r, "t-1")

	got, err := r.Get(ctx, "t-1")
	if err != nil || got.Status() != domain.StatusPendingProvision || got.Key() != "acme" {
		t.Fatalf("get: %+v, %v", got, err)
	}
	updated, err := r.Update(ctx, "t-1", md, func(tn *domain.Tenant) ([]domain.Event, error) {
		return tn.RequestProvisioning(subscription(), domain.DefaultTiers)
	})
	if err != nil || updated.Status() != domain.StatusProvisioning {
		t.Fatalf("update: %v", err)
	}
	stored, _ := store.Load(ctx, "tenant-t-1")
	if len(stored) != 2 || stored[1].Type != domain.TypeProvisioningRequested || stored[1].Metadata != md {
		t.Fatalf("stored %+v", stored)
	}
	again, _ := r.Get(ctx, "t-1")
	if again.Status() != domain.StatusProvisioning || again.Version() != 2 {
		t.Fatalf("reloaded %+v", again)
	}
}

func TestRejectedCommandWritesNothing(t *testing.T) {
	store := eventstore.NewMemory()
	r := Tenants(store)
	newTenant(t, r, "t-1")
	_, err := r.Update(context.Background(), "t-1", md, func(tn *domain.Tenant) ([]domain.Event, error) { return tn.Activate() })
	var te *domain.TransitionError
	if !errors.As(err, &te) {
		t.Fatalf("got %v", err)
	}
	stored, _ := store.Load(context.Background(), "tenant-t-1")
	if len(stored) != 1 {
		t.Fatalf("a rejected command wrote %d events", len(stored)-1)
	}
}

func TestMissingAndDuplicate(t *testing.T) {
	r := Tenants(eventstore.NewMemory())
	if _, err := r.Get(context.Background(), "nope"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("missing tenant: %v", err)
	}
	newTenant(t, r, "t-1")
	_, evs, _ := domain.NewTenant("t-1", "", domain.TenantInput{Key: "other", Name: "O",
		Contact: domain.Contact{Email: "o@example.com", FirstName: "O", LastName: "O"}})
	var ce *eventstore.ConcurrencyError
	if err := r.Create(context.Background(), "t-1", md, evs); !errors.As(err, &ce) {
		t.Fatalf("creating an existing tenant: %v", err)
	}
}

// TestConcurrentUpdatesOneWins: of many simultaneous provisioning requests
// for one tenant, exactly one is appended; the rest see a concurrency error
// or (having loaded after it) a transition error — never a second attempt.
func TestConcurrentUpdatesOneWins(t *testing.T) {
	store := eventstore.NewMemory()
	r := Tenants(store)
	newTenant(t, r, "t-1")
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := r.Update(context.Background(), "t-1", md, func(tn *domain.Tenant) ([]domain.Event, error) {
				return tn.RequestProvisioning(subscription(), domain.DefaultTiers)
			})
			var ce *eventstore.ConcurrencyError
			var te *domain.TransitionError
			switch {
			case err == nil:
				mu.Lock()
				wins++
				mu.Unlock()
			case errors.As(err, &ce), errors.As(err, &te):
			default:
				t.Errorf("unexpected: %v", err)
			}
		}()
	}
	wg.Wait()
	stored, _ := store.Load(context.Background(), "tenant-t-1")
	if wins != 1 || len(stored) != 2 {
		t.Fatalf("%d wins, %d events", wins, len(stored))
	}
}

func TestLeadsRepository(t *testing.T) {
	r := Leads(eventstore.NewMemory())
	ctx := context.Background()
	_, evs, err := domain.NewLead("l-1", domain.LeadInput{FirstName: "A", LastName: "B", Email: "a@example.com", CompanyName: "C"}, "h", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Create(ctx, "l-1", md, evs); err != nil {
		t.Fatal(err)
	}
	l, err := r.Update(ctx, "l-1", md, func(l *domain.Lead) ([]domain.Event, error) { return l.Verify("h", time.Now()) })
	if err != nil || !l.Verified() {
		t.Fatalf("verify: %v", err)
	}
	if r.Stream("l-1") != "lead-l-1" {
		t.Fatalf("stream %s", r.Stream("l-1"))
	}
}

func TestKeyIsUniqueAcrossTenants(t *testing.T) {
	store := eventstore.NewMemory()
	ctx := context.Background()
	in := domain.TenantInput{Key: "acme", Name: "Acme", Contact: domain.Contact{Email: "ops@example.com", FirstName: "A", LastName: "B"}}
	var wg sync.WaitGroup
	errs := make([]error, 10)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tn, evs, err := domain.NewTenant(fmt.Sprintf("t-%d", i), "", in)
			if err != nil {
				errs[i] = err
				return
			}
			errs[i] = CreateTenant(ctx, store, tn, md, evs)
		}()
	}
	wg.Wait()
	winner := ""
	for i, err := range errs {
		var kt *domain.KeyTakenError
		switch {
		case err == nil:
			if winner != "" {
				t.Fatalf("two tenants got key acme: %s and t-%d", winner, i)
			}
			winner = fmt.Sprintf("t-%d", i)
		case errors.As(err, &kt):
		default:
			t.Fatalf("unexpected: %v", err)
		}
	}
	for _, err := range errs {
		var kt *domain.KeyTakenError
		if errors.As(err, &kt) && kt.TenantID != winner {
			t.Errorf("key taken by %q, want %s", kt.TenantID, winner)
		}
	}
	if winner == "" {
		t.Fatal("nobody got the key")
	}
}
