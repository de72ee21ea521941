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

// readCounting is a store that counts the events its loads return, and
// whose log can be swapped for another (a log restored from a backup).
type readCounting struct {
	mu   sync.Mutex
	log  eventstore.Streams
	read int
}

func (c *readCounting) current() eventstore.Streams {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.log
}

func (c *readCounting) counted(events []eventstore.Event, err error) ([]eventstore.Event, error) {
	c.mu.Lock()
	c.read += len(events)
	c.mu.Unlock()
	return events, err
}

func (c *readCounting) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.NewEvent) (int64, error) {
	return c.current().Append(ctx, stream, expected, events...)
}
func (c *readCounting) AppendStreams(ctx context.Context, parts ...eventstore.StreamAppend) error {
	return c.current().AppendStreams(ctx, parts...)
}
func (c *readCounting) Load(ctx context.Context, stream string) ([]eventstore.Event, error) {
	return c.counted(c.current().Load(ctx, stream))
}
func (c *readCounting) LoadFrom(ctx context.Context, stream string, from int64) ([]eventstore.Event, error) {
	return c.counted(c.current().LoadFrom(ctx, stream, from))
}
func (c *readCounting) StreamVersion(ctx context.Context, stream string) (int64, error) {
	return c.current().StreamVersion(ctx, stream)
}

// A remembering repository folds what a fresh one folds, while reading only
// what was appended since its last fold (and the newest event it knew),
// also under concurrent folds of one tenant; a stream that is not the one it
// remembers (a restored log) is folded whole again.
func TestRememberedFolds(t *testing.T) {
	ctx := context.Background()
	store := &readCounting{log: eventstore.NewMemory()}
	fresh, remembering := Tenants(store), Tenants(store).Remembering(2)
	newTenant(t, fresh, "t-1")
	same := func(want int64) {
		t.Helper()
		a, err1 := fresh.Get(ctx, "t-1")
		b, err2 := remembering.Get(ctx, "t-1")
		if err1 != nil || err2 != nil || a.Version() != want || b.Version() != want || a.Status() != b.Status() || a.Key() != b.Key() {
			t.Fatalf("fresh v%d %v (%v), remembering v%d %v (%v), want v%d", a.Version(), a.Status(), err1, b.Version(), b.Status(), err2, want)
		}
	}
	same(1)
	if _, err := remembering.Update(ctx, "t-1", md, func(tn *domain.Tenant) ([]domain.Event, error) {
		return tn.RequestProvisioning(subscription(), domain.DefaultTiers)
	}); err != nil {
		t.Fatal(err)
	}
	same(2)
	store.read = 0
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if tn, err := remembering.Get(ctx, "t-1"); err != nil || tn.Version() != 2 || tn.Status() != domain.StatusProvisioning {
				t.Errorf("concurrent fold: %v %v", tn, err)
			}
		})
	}
	wg.Wait()
	if store.read != 8 {
		t.Errorf("eight folds of a remembered tenant read %d events, want 8 (the newest known one each)", store.read)
	}
	// Other tenants push t-1 out of a memory of two: it is read whole again.
	for _, id := range []string{"t-2", "t-3"} {
		newTenant(t, fresh, id)
		if _, err := remembering.Get(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	same(2)

	restored := eventstore.NewMemory()
	store.mu.Lock()
	store.log = restored
	store.mu.Unlock()
	// The same stream, written anew in the restored log: another key, and a
	// version 2 that is another event than the one remembered.
	_, evs, err := domain.NewTenant("t-1", "", domain.TenantInput{Key: "globex", Name: "Globex",
		Contact: domain.Contact{Email: "ops@example.com", FirstName: "Ada", LastName: "L"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := fresh.Create(ctx, "t-1", md, evs); err != nil {
		t.Fatal(err)
	}
	if _, err := fresh.Update(ctx, "t-1", md, func(tn *domain.Tenant) ([]domain.Event, error) {
		return tn.RequestProvisioning(subscription(), domain.DefaultTiers)
	}); err != nil {
		t.Fatal(err)
	}
	same(2)
	if tn, _ := remembering.Get(ctx, "t-1"); tn.Key() != "globex" {
		t.Errorf("the restored stream folded as %q", tn.Key())
	}
}

// A record's event the repository saw (Saw) lets a handler fold the tenant
// as of that record without reading the log; an event past a gap is not
// taken; and a decision on a fold the log has moved past since is taken
// again on the log (RecordOn), not lost and not appended out of place.
func TestSeenEventsFoldWithoutReading(t *testing.T) {
	ctx := context.Background()
	store := &readCounting{log: eventstore.NewMemory()}
	fresh, remembering := Tenants(store), Tenants(store).Remembering(8)
	newTenant(t, fresh, "t-1")
	if _, err := remembering.Get(ctx, "t-1"); err != nil {
		t.Fatal(err)
	}
	provision := func(tn *domain.Tenant) ([]domain.Event, error) {
		return tn.RequestProvisioning(subscription(), domain.DefaultTiers)
	}
	if _, err := fresh.Update(ctx, "t-1", md, provision); err != nil {
		t.Fatal(err)
	}
	stored, _ := store.current().Load(ctx, "tenant-t-1")
	record := func(v int64) func() (eventstore.Event, error) {
		return func() (eventstore.Event, error) { return stored[v-1], nil }
	}
	store.read = 0
	remembering.Saw("tenant-t-1", 2, record(2))
	tn, err := remembering.GetSeen(ctx, "t-1", 2)
	if err != nil || tn.Version() != 2 || tn.Status() != domain.StatusProvisioning || store.read != 0 {
		t.Fatalf("fold as of a seen record: v%d %v (%v), %d events read", tn.Version(), tn.Status(), err, store.read)
	}

	// Another writer appends v3; the handler's fold of the v2 record is
	// behind the log when it decides.
	if _, err := fresh.Update(ctx, "t-1", md, func(tn *domain.Tenant) ([]domain.Event, error) { return tn.RequestCancel() }); err != nil {
		t.Fatal(err)
	}
	behind, _ := remembering.GetSeen(ctx, "t-1", 2)
	decided := 0
	err = remembering.RecordOn(ctx, "t-1", behind, md, Keyed("t-1/cancel-again", func(tn *domain.Tenant) ([]domain.Event, error) {
		decided++
		if tn.CancelRequested() {
			return nil, nil // the log says it is done already
		}
		return tn.RequestCancel()
	}))
	if err != nil || decided != 2 {
		t.Fatalf("a decision on a fold behind the log: %v, decided %d times (want 2: stale, then on the log)", err, decided)
	}
	if v, _ := store.current().StreamVersion(ctx, "tenant-t-1"); v != 3 {
		t.Errorf("stream at v%d after the retried decision, want 3 (nothing appended twice)", v)
	}

	// A stream's first record starts its memory.
	newTenant(t, fresh, "t-9")
	first, _ := store.current().Load(ctx, "tenant-t-9")
	store.read = 0
	remembering.Saw("tenant-t-9", 1, func() (eventstore.Event, error) { return first[0], nil })
	if tn, err := remembering.GetSeen(ctx, "t-9", 1); err != nil || tn.Version() != 1 || store.read != 0 {
		t.Errorf("fold of a new tenant seen from its first record: v%d (%v), %d events read", tn.Version(), err, store.read)
	}

	// A record past a gap (v5 while v3 is remembered at most) is not taken.
	remembering.Saw("tenant-t-1", 5, func() (eventstore.Event, error) {
		t.Error("a record past a gap was decoded")
		return eventstore.Event{}, nil
	})
	if tn, err := remembering.GetSeen(ctx, "t-1", 3); err != nil || tn.Version() != 3 || !tn.CancelRequested() {
		t.Errorf("fold after the log moved on: v%d (%v)", tn.Version(), err)
	}
}
