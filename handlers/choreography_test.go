package handlers

// The choreography on its own, without the dev stack: the engine and every
// handler as in production, on the in-memory event store, with fake back
// ends and an in-process bus that delivers the log's records in order, in
// the relay's wire format (wire.Encode). Seconds, not minutes; the
// flow tests on the dev stack (package handlers_test) stay.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/tenantflow/tenantflow/adapters/kafka"
	"github.com/tenantflow/tenantflow/app"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/eventstore/wire"
	"github.com/tenantflow/tenantflow/handlers/notify"
	"github.com/tenantflow/tenantflow/handlers/step"
	"github.com/tenantflow/tenantflow/internal/testkit/wait"
	"github.com/tenantflow/tenantflow/platform/backoff"
)

// fakeSteps are every step's back end: they record what ran, fail where
// told, and may hold a step until released.
type fakeSteps struct {
	mu    sync.Mutex
	calls []string // "do:<step>", "undo:<step>", "welcome", "failure:<step>"
	fail  string   // this step fails permanently
	hold  string   // this step waits for release
	skip  string   // this step is skipped
	// undoFail's undo fails permanently undoFailures times, then succeeds.
	undoFail     string
	undoFailures int
	held         chan struct{}
	gate         chan struct{}
}

func (f *fakeSteps) record(c string) {
	f.mu.Lock()
	f.calls = append(f.calls, c)
	f.mu.Unlock()
}

func (f *fakeSteps) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

type fakeAction struct {
	step  string
	steps *fakeSteps
}

func (a fakeAction) Do(ctx context.Context, t *domain.Tenant) (step.Result, error) {
	a.steps.record("do:" + a.step)
	if a.step == a.steps.hold {
		close(a.steps.held)
		select {
		case <-a.steps.gate:
		case <-ctx.Done():
			return step.Result{}, ctx.Err()
		}
	}
	a.steps.mu.Lock()
	fails, skips := a.step == a.steps.fail, a.step == a.steps.skip
	a.steps.mu.Unlock()
	if skips {
		return step.Result{Skipped: true}, nil
	}
	if fails {
		c := t.Contact()
		return step.Result{}, step.Permanent(fmt.Errorf("%s refused: 550 <%s> (%s %s) unknown", a.step, strings.ToUpper(c.Email), c.FirstName, c.LastName))
	}
	return step.Result{Resources: []domain.Resource{{Kind: a.step, ID: a.step + "-" + t.Key()}}}, nil
}

func (a fakeAction) Undo(_ context.Context, _ *domain.Tenant) error {
	a.steps.record("undo:" + a.step)
	a.steps.mu.Lock()
	defer a.steps.mu.Unlock()
	if a.step == a.steps.undoFail && a.steps.undoFailures > 0 {
		a.steps.undoFailures--
		return step.Permanent(errors.New(a.step + " undo refused"))
	}
	return nil
}

// fakeReconciler is a fakeAction that also follows domain changes (the
// idp and dns steps are reconcilers).
type fakeReconciler struct{ fakeAction }

func (a fakeReconciler) Reconcile(_ context.Context, t *domain.Tenant, previous []string) (step.Result, error) {
	a.steps.record("reconcile:" + a.step + ":" + strings.Join(previous, ",") + "->" + strings.Join(t.Domains(), ","))
	if a.step == domain.StepDNS {
		return step.Result{Resources: []domain.Resource{{Step: a.step, Kind: a.step, ID: strings.Join(t.Domains(), ",")}}}, nil
	}
	return step.Result{}, nil
}

func (f *fakeSteps) Welcome(context.Context, *domain.Tenant) error { f.record("welcome"); return nil }
func (f *fakeSteps) Failure(_ context.Context, t *domain.Tenant) error {
	step, _, _ := t.FailedStep()
	f.record("failure:" + step)
	return nil
}

// memoryDeadLetters is the dead letters as a map.
type memoryDeadLetters struct {
	mu   sync.Mutex
	rows map[[2]string][]string // {handler, stream} → reasons
}

func (m *memoryDeadLetters) Put(_ context.Context, handler, stream, _ string, held bool, reason string, _ kafka.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !held {
		m.rows[[2]string{handler, stream}] = append(m.rows[[2]string{handler, stream}], reason)
	}
	return nil
}

func (m *memoryDeadLetters) Holding(_ context.Context, handler, stream string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.rows[[2]string{handler, stream}]) > 0, nil
}

func (m *memoryDeadLetters) HoldAll(context.Context) (map[[2]string]bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[[2]string]bool{}
	for k := range m.rows {
		out[k] = true
	}
	return out, nil
}

// memoryFeed delivers the store's events, in log order, as records.
func memoryFeed(store *eventstore.Memory) message.Subscriber { return memorySubscriber{store} }

// memorySubscriber hands the in-memory log's events over as messages, one
// at a time and in log order, each again after a pause until acknowledged
// (what kafka.KeyedSubscriber does for a lane).
type memorySubscriber struct{ store *eventstore.Memory }

func (memorySubscriber) Close() error { return nil }

func (s memorySubscriber) Subscribe(ctx context.Context, _ string) (<-chan *message.Message, error) {
	out := make(chan *message.Message)
	go func() {
		defer close(out)
		var after eventstore.Cursor
		for ctx.Err() == nil {
			batch, err := s.store.ReadAll(ctx, after, 100)
			if err != nil {
				return
			}
			for _, e := range batch {
				headers, value, err := wire.Encode(e.Event, "test")
				if err != nil {
					panic(err)
				}
				for acked := false; !acked; {
					msg := message.NewMessage(e.ID, value)
					maps.Copy(msg.Metadata, headers)
					msg.Metadata.Set(kafka.KeyMetadata, e.Stream)
					msg.SetContext(ctx)
					select {
					case out <- msg:
					case <-ctx.Done():
						return
					}
					select {
					case <-msg.Acked():
						acked = true
					case <-msg.Nacked():
						time.Sleep(time.Millisecond) // Kafka's pause before the record comes again, shortened
					case <-ctx.Done():
						return
					}
				}
				after = e.After()
			}
			if len(batch) == 0 {
				select {
				case <-ctx.Done():
				case <-time.After(time.Millisecond): // poll the in-memory log
				}
			}
		}
	}()
	return out, nil
}

type choreography struct {
	steps   *fakeSteps
	tenants app.Repository[*domain.Tenant]
	store   *eventstore.Memory
}

func runChoreography(t *testing.T, steps *fakeSteps) *choreography {
	t.Helper()
	return runChoreographyOn(t, eventstore.NewMemory(), steps, nil)
}

// runChoreographyOn runs the engine on store, whose log it reads from the
// start, with the back ends of steps less those named in without.
func runChoreographyOn(t *testing.T, store *eventstore.Memory, steps *fakeSteps, without []string) *choreography {
	t.Helper()
	actions := map[string]step.Action{}
	for _, s := range domain.Steps {
		if s != domain.StepResources && s != domain.StepActivate {
			actions[s] = fakeAction{step: s, steps: steps}
		}
	}
	for _, s := range []string{domain.StepIdentity, domain.StepDNS} {
		actions[s] = fakeReconciler{fakeAction{step: s, steps: steps}}
	}
	for _, row := range domain.Flow {
		if row.Change != "" {
			actions[row.Step] = fakeAction{step: row.Step, steps: steps}
		}
	}
	for _, s := range without {
		delete(actions, s)
	}
	actions[domain.StepNotify] = notify.Step{Sender: steps}
	cfg := Config{Store: store, Actions: actions, Steps: step.Runner{Retry: backoff.Policy{MaxTries: 1}},
		feed: memoryFeed(store), DeadLetters: &memoryDeadLetters{rows: map[[2]string][]string{}}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("handlers stopped: %v", err)
		}
	})
	return &choreography{steps: steps, tenants: app.Tenants(store), store: store}
}

func (c *choreography) provision(t *testing.T) *domain.Tenant {
	t.Helper()
	ctx := context.Background()
	key := "k" + uuid.NewString()[:8]
	tn, evs, err := domain.NewTenant(uuid.NewString(), "", domain.TenantInput{Key: key, Name: "T " + key,
		Contact: domain.Contact{Email: key + "@example.com", FirstName: "Ada", LastName: "Lovelace"}, Domains: []string{key + ".example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := app.CreateTenant(ctx, c.store, tn, eventstore.Metadata{}, evs); err != nil {
		t.Fatal(err)
	}
	sub := domain.Subscription{ID: "sub", SubscriberID: "cust", PlanID: "basic", StartDate: time.Now(),
		Plan: domain.Plan{ID: "basic", Name: "Basic", Tier: "silo"}}
	tn, err = c.tenants.Update(ctx, tn.ID(), eventstore.Metadata{}, func(t *domain.Tenant) ([]domain.Event, error) {
		return t.RequestProvisioning(sub, domain.DefaultTiers)
	})
	if err != nil {
		t.Fatal(err)
	}
	return tn
}

// waitSettled waits until the tenant is ACTIVE or PROVISION_FAILED and notified.
func (c *choreography) waitSettled(t *testing.T, id string) *domain.Tenant {
	t.Helper()
	return c.waitFor(t, id, "settled (ACTIVE or PROVISION_FAILED, and notified)", func(tn *domain.Tenant) bool {
		return (tn.Status() == domain.StatusActive || tn.Status() == domain.StatusProvisionFailed) && !tn.NotificationDue()
	})
}

func TestChoreographyInMemoryEndsActive(t *testing.T) {
	c := runChoreography(t, &fakeSteps{})
	tn := c.waitSettled(t, c.provision(t).ID())
	if tn.Status() != domain.StatusActive {
		t.Fatalf("status %s", tn.Status())
	}
	var want []string
	for _, s := range domain.Steps {
		if s != domain.StepResources && s != domain.StepActivate {
			want = append(want, "do:"+s)
		}
	}
	want = append(want, "welcome")
	if got := c.steps.Calls(); !slices.Equal(got, want) {
		t.Fatalf("calls %v, want %v", got, want)
	}
	if len(tn.Resources()) != len(want)-1 {
		t.Fatalf("resources %v", tn.Resources())
	}
}

// A permanent failure at dns undoes every step before it, in reverse order,
// the failed one included, and mails the failure.
func TestChoreographyInMemoryCompensates(t *testing.T) {
	c := runChoreography(t, &fakeSteps{fail: domain.StepDNS})
	tn := c.waitSettled(t, c.provision(t).ID())
	if tn.Status() != domain.StatusProvisionFailed {
		t.Fatalf("status %s", tn.Status())
	}
	calls := c.steps.Calls()
	var undos []string
	for _, call := range calls {
		if after, ok := strings.CutPrefix(call, "undo:"); ok {
			undos = append(undos, after)
		}
	}
	want := []string{}
	for i := slices.Index(domain.Steps, domain.StepDNS); i >= 0; i-- {
		if s := domain.Steps[i]; slices.Contains(domain.UndoableSteps, s) {
			want = append(want, s)
		}
	}
	if !slices.Equal(undos, want) {
		t.Fatalf("undone %v, want %v (calls %v)", undos, want, calls)
	}
	if calls[len(calls)-1] != "failure:"+domain.StepDNS || slices.Contains(calls, "welcome") {
		t.Fatalf("mails: %v", calls)
	}
}

// A cancellation while a step runs lets that step finish; the next step
// fails with reason cancelled, and everything made is undone.
func TestChoreographyInMemoryCancels(t *testing.T) {
	steps := &fakeSteps{hold: domain.StepDatabase, held: make(chan struct{}), gate: make(chan struct{})}
	c := runChoreography(t, steps)
	tn := c.provision(t)
	<-steps.held
	if _, err := c.tenants.Update(context.Background(), tn.ID(), eventstore.Metadata{}, func(t *domain.Tenant) ([]domain.Event, error) {
		return t.RequestCancel()
	}); err != nil {
		t.Fatal(err)
	}
	close(steps.gate)
	tn = c.waitSettled(t, tn.ID())
	step, reason, _ := tn.FailedStep()
	if tn.Status() != domain.StatusProvisionFailed || reason != domain.ReasonCancelled || step != domain.StepStorage {
		t.Fatalf("status %s, failed step %s (%s)", tn.Status(), step, reason)
	}
	calls := steps.Calls()
	if slices.Contains(calls, "do:"+domain.StepStorage) || !slices.Contains(calls, "undo:"+domain.StepDatabase) ||
		!slices.Contains(calls, "undo:"+domain.StepIdentity) {
		t.Fatalf("calls %v", calls)
	}
}

// waitFor waits until the tenant satisfies ok.
func (c *choreography) waitFor(t *testing.T, id, what string, ok func(*domain.Tenant) bool) *domain.Tenant {
	t.Helper()
	return wait.Value(t, 10*time.Second, func() (*domain.Tenant, error) {
		tn, err := c.tenants.Get(context.Background(), id)
		if err != nil || !ok(tn) {
			return nil, fmt.Errorf("tenant %s is not %s (%v); calls %v", id, what, err, c.steps.Calls())
		}
		return tn, nil
	})
}

// count is how many times call was made.
func (f *fakeSteps) count(call string) int {
	n := 0
	for _, c := range f.Calls() {
		if c == call {
			n++
		}
	}
	return n
}

// A rollback whose storage undo failed leaves the bucket as an orphan;
// `tenantctl orphans retry` (RetryUndos) runs that undo again, and once it
// succeeds the orphan is gone and the tenant stays PROVISION_FAILED.
func TestChoreographyInMemoryRetriesFailedUndos(t *testing.T) {
	c := runChoreography(t, &fakeSteps{fail: domain.StepDNS, undoFail: domain.StepStorage, undoFailures: 1})
	tn := c.waitSettled(t, c.provision(t).ID())
	if tn.Status() != domain.StatusProvisionFailed || len(tn.Orphans()) != 1 || tn.Orphans()[0].Step != domain.StepStorage {
		t.Fatalf("after the rollback: %s, orphans %v", tn.Status(), tn.Orphans())
	}
	if _, err := c.tenants.Update(context.Background(), tn.ID(), eventstore.Metadata{Actor: "tenantctl:ada"}, func(t *domain.Tenant) ([]domain.Event, error) {
		return t.RetryUndos(time.Now())
	}); err != nil {
		t.Fatal(err)
	}
	tn = c.waitFor(t, tn.ID(), "finished retrying its undos", func(t *domain.Tenant) bool { return t.UndoRound() == 1 && !t.Undoing() })
	if tn.Status() != domain.StatusProvisionFailed || len(tn.Orphans()) != 0 || c.steps.count("undo:"+domain.StepStorage) != 2 {
		t.Fatalf("after the retry: %s, orphans %v, calls %v", tn.Status(), tn.Orphans(), c.steps.Calls())
	}
	if _, err := c.tenants.Update(context.Background(), tn.ID(), eventstore.Metadata{}, func(t *domain.Tenant) ([]domain.Event, error) {
		return t.RetryUndos(time.Now())
	}); !errors.Is(err, domain.ErrNoFailedUndo) {
		t.Fatalf("a second retry with nothing left: %v, want ErrNoFailedUndo", err)
	}
}

// DELETE of a rolled-back tenant (RequestDeprovisioning) runs its failed
// undos again before it deactivates it: offboarding leaves nothing behind.
func TestChoreographyInMemoryDeprovisionRetriesFailedUndos(t *testing.T) {
	c := runChoreography(t, &fakeSteps{fail: domain.StepDNS, undoFail: domain.StepStorage, undoFailures: 1})
	tn := c.waitSettled(t, c.provision(t).ID())
	if len(tn.Orphans()) != 1 {
		t.Fatalf("after the rollback: orphans %v", tn.Orphans())
	}
	if _, err := c.tenants.Update(context.Background(), tn.ID(), eventstore.Metadata{}, func(t *domain.Tenant) ([]domain.Event, error) {
		return t.RequestDeprovisioning("customer left")
	}); err != nil {
		t.Fatal(err)
	}
	tn = c.waitFor(t, tn.ID(), "INACTIVE", func(t *domain.Tenant) bool { return t.Status() == domain.StatusInactive })
	if len(tn.Orphans()) != 0 || c.steps.count("undo:"+domain.StepStorage) != 2 {
		t.Fatalf("deactivated with orphans %v, calls %v", tn.Orphans(), c.steps.Calls())
	}
}

// Orphans outlive the attempt that left them: attempt 1's storage undo
// fails; attempt 2 fails before storage runs, and its rollback tries the
// storage undo again (it fails again); the operator's retry finds it (no
// "no failed undo to retry") and runs it a third time; it works and the
// orphan goes. DELETE afterwards ends INACTIVE with nothing left.
func TestChoreographyInMemoryRetriesOrphansOfEarlierAttempts(t *testing.T) {
	steps := &fakeSteps{fail: domain.StepDNS, undoFail: domain.StepStorage, undoFailures: 2}
	c := runChoreography(t, steps)
	ctx := context.Background()
	tn := c.waitSettled(t, c.provision(t).ID())
	if tn.Attempt() != 1 || len(tn.Orphans()) != 1 || tn.Orphans()[0].Step != domain.StepStorage {
		t.Fatalf("after attempt 1: orphans %v", tn.Orphans())
	}
	steps.mu.Lock()
	steps.fail = domain.StepAdminUser
	steps.mu.Unlock()
	sub, _ := tn.Subscription()
	if _, err := c.tenants.Update(ctx, tn.ID(), eventstore.Metadata{}, func(t *domain.Tenant) ([]domain.Event, error) {
		return t.RequestProvisioning(sub, domain.DefaultTiers)
	}); err != nil {
		t.Fatal(err)
	}
	tn = c.waitFor(t, tn.ID(), "rolled back attempt 2", func(t *domain.Tenant) bool {
		return t.Attempt() == 2 && t.Status() == domain.StatusProvisionFailed && !t.NotificationDue()
	})
	if n := steps.count("undo:" + domain.StepStorage); n != 2 || len(tn.Orphans()) != 1 || tn.Orphans()[0].Step != domain.StepStorage {
		t.Fatalf("attempt 2's rollback: storage undone %d times (want 2), orphans %v", n, tn.Orphans())
	}
	if _, err := c.tenants.Update(ctx, tn.ID(), eventstore.Metadata{Actor: "tenantctl:ada"}, func(t *domain.Tenant) ([]domain.Event, error) {
		return t.RetryUndos(time.Now())
	}); err != nil {
		t.Fatalf("retrying an earlier attempt's orphan: %v", err)
	}
	tn = c.waitFor(t, tn.ID(), "finished retrying", func(t *domain.Tenant) bool { return t.UndoRound() == 1 && !t.Undoing() })
	if n := steps.count("undo:" + domain.StepStorage); n != 3 || len(tn.Orphans()) != 0 {
		t.Fatalf("after the retry: storage undone %d times (want 3), orphans %v", n, tn.Orphans())
	}
	if _, err := c.tenants.Update(ctx, tn.ID(), eventstore.Metadata{}, func(t *domain.Tenant) ([]domain.Event, error) {
		return t.RequestDeprovisioning("customer left")
	}); err != nil {
		t.Fatal(err)
	}
	tn = c.waitFor(t, tn.ID(), "INACTIVE", func(t *domain.Tenant) bool { return t.Status() == domain.StatusInactive })
	if len(tn.Orphans()) != 0 {
		t.Fatalf("INACTIVE with orphans %v", tn.Orphans())
	}
}

// DELETE of an ACTIVE tenant whose first attempt left an orphan of a step
// the second attempt skipped runs that step's undo too: offboarding covers
// every attempt, and ends INACTIVE with nothing left.
func TestChoreographyInMemoryDeprovisionCoversEarlierAttempts(t *testing.T) {
	steps := &fakeSteps{fail: domain.StepDNS, undoFail: domain.StepDNS, undoFailures: 1}
	c := runChoreography(t, steps)
	ctx := context.Background()
	tn := c.waitSettled(t, c.provision(t).ID())
	if len(tn.Orphans()) != 1 || tn.Orphans()[0].Step != domain.StepDNS {
		t.Fatalf("after attempt 1: orphans %v", tn.Orphans())
	}
	steps.mu.Lock()
	steps.fail, steps.skip = "", domain.StepDNS
	steps.mu.Unlock()
	sub, _ := tn.Subscription()
	if _, err := c.tenants.Update(ctx, tn.ID(), eventstore.Metadata{}, func(t *domain.Tenant) ([]domain.Event, error) {
		return t.RequestProvisioning(sub, domain.DefaultTiers)
	}); err != nil {
		t.Fatal(err)
	}
	tn = c.waitFor(t, tn.ID(), "ACTIVE and welcomed", func(t *domain.Tenant) bool { return t.Status() == domain.StatusActive && !t.NotificationDue() })
	if len(tn.Orphans()) != 1 {
		t.Fatalf("ACTIVE after attempt 2: orphans %v, want attempt 1's", tn.Orphans())
	}
	if _, err := c.tenants.Update(ctx, tn.ID(), eventstore.Metadata{}, func(t *domain.Tenant) ([]domain.Event, error) {
		return t.RequestDeprovisioning("customer left")
	}); err != nil {
		t.Fatal(err)
	}
	tn = c.waitFor(t, tn.ID(), "INACTIVE", func(t *domain.Tenant) bool { return t.Status() == domain.StatusInactive })
	if len(tn.Orphans()) != 0 || len(tn.Resources()) != 0 || steps.count("undo:"+domain.StepDNS) != 2 {
		t.Fatalf("INACTIVE with orphans %v, resources %v; calls %v", tn.Orphans(), tn.Resources(), steps.Calls())
	}
}

// A process without a back end for a step never records its undo as
// compensated when the step made something (another process, with the back
// end, ran it): the step's resources become orphans, with the reason, for a
// retry from a process that has one.
func TestChoreographyInMemoryUndoWithoutBackEndIsNotCompensated(t *testing.T) {
	ctx := context.Background()
	store := eventstore.NewMemory()
	tenants := app.Tenants(store)
	key := "k" + uuid.NewString()[:8]
	tn, evs, err := domain.NewTenant(uuid.NewString(), "", domain.TenantInput{Key: key, Name: "T " + key,
		Contact: domain.Contact{Email: key + "@example.com", FirstName: "Ada", LastName: "Lovelace"}, Domains: []string{key + ".example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := app.CreateTenant(ctx, store, tn, eventstore.Metadata{}, evs); err != nil {
		t.Fatal(err)
	}
	sub := domain.Subscription{ID: "sub", SubscriberID: "cust", PlanID: "basic", StartDate: time.Now(),
		Plan: domain.Plan{ID: "basic", Name: "Basic", Tier: "silo"}}
	record := func(decide func(*domain.Tenant) ([]domain.Event, error)) {
		t.Helper()
		if _, err := tenants.Update(ctx, tn.ID(), eventstore.Metadata{}, decide); err != nil {
			t.Fatal(err)
		}
	}
	record(func(t *domain.Tenant) ([]domain.Event, error) { return t.RequestProvisioning(sub, domain.DefaultTiers) })
	// Another process, with every back end, ran the first four steps.
	for _, s := range []string{domain.StepIdentity, domain.StepAdminUser, domain.StepDatabase, domain.StepStorage} {
		record(func(t *domain.Tenant) ([]domain.Event, error) {
			return t.RecordStep(domain.StepOutcome{Step: s, Outcome: domain.OutcomeCompleted, Tries: 1, StartedAt: time.Now(), At: time.Now(),
				Resources: []domain.Resource{{Kind: s, ID: s + "-" + key}}})
		})
	}
	record(func(t *domain.Tenant) ([]domain.Event, error) {
		return t.RecordStep(domain.StepOutcome{Step: domain.StepInfrastructure, Outcome: domain.OutcomeFailed, Tries: 1, Error: "apply failed", StartedAt: time.Now(), At: time.Now()})
	})
	steps := &fakeSteps{}
	c := runChoreographyOn(t, store, steps, []string{domain.StepStorage})
	tn = c.waitSettled(t, tn.ID())
	orphans := tn.Orphans()
	if tn.Status() != domain.StatusProvisionFailed || len(orphans) != 1 || orphans[0].ID != "storage-"+key {
		t.Fatalf("status %s, orphans %v: the bucket made elsewhere must be listed, not reported compensated", tn.Status(), orphans)
	}
	for _, st := range tn.StepStates() {
		if st.Step == domain.StepStorage && (st.Undo != domain.OutcomeCompensationFailed || !strings.Contains(st.UndoError, "no back end")) {
			t.Fatalf("storage's undo recorded %q (%q)", st.Undo, st.UndoError)
		}
	}
	if !slices.Contains(steps.Calls(), "undo:"+domain.StepDatabase) {
		t.Fatalf("the chain must go on past the step: %v", steps.Calls())
	}
}

// A step without a back end is skipped, and its outcome says so.
func TestChoreographyInMemorySkippedStepSaysWhy(t *testing.T) {
	c := runChoreographyOn(t, eventstore.NewMemory(), &fakeSteps{}, []string{domain.StepDNS})
	tn := c.waitSettled(t, c.provision(t).ID())
	for _, st := range tn.StepStates() {
		if st.Step == domain.StepDNS && (st.State != domain.OutcomeSkipped || st.Error != step.NotConfiguredReason) {
			t.Fatalf("dns: %q %q", st.State, st.Error)
		}
	}
}

// A domain change of an ACTIVE tenant is followed by the steps that depend
// on the domains (idp, dns), told the domains they made things for; their
// result is recorded once; nothing else runs again; a change that does not
// touch the domains reconciles nothing.
func TestChoreographyInMemoryReconcilesDomains(t *testing.T) {
	c := runChoreography(t, &fakeSteps{})
	tn := c.waitSettled(t, c.provision(t).ID())
	before := len(c.steps.Calls())
	old := tn.Domains()
	ctx := context.Background()
	if _, err := c.tenants.Update(ctx, tn.ID(), eventstore.Metadata{}, func(t *domain.Tenant) ([]domain.Event, error) {
		return t.Update(domain.TenantUpdate{Name: new("Renamed")}, time.Now())
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.tenants.Update(ctx, tn.ID(), eventstore.Metadata{}, func(t *domain.Tenant) ([]domain.Event, error) {
		return t.Update(domain.TenantUpdate{Domains: &[]string{"new.example.com"}}, time.Now())
	}); err != nil {
		t.Fatal(err)
	}
	tn = c.waitFor(t, tn.ID(), "reconciled", func(tn *domain.Tenant) bool { _, _, due := tn.DomainsReconcileDue(); return !due })
	stored, _ := c.store.Load(ctx, "tenant-"+tn.ID())
	n := 0
	for _, e := range stored {
		if e.Type == domain.TypeDomainsReconciled {
			n++
		}
	}
	want := []string{"reconcile:idp:" + strings.Join(old, ",") + "->new.example.com", "reconcile:dns:" + strings.Join(old, ",") + "->new.example.com"}
	if got := c.steps.Calls()[before:]; !slices.Equal(got, want) || n != 1 {
		t.Fatalf("after the change: calls %v (want %v), %d reconciled events", got, want, n)
	}
	if !slices.ContainsFunc(tn.Resources(), func(r domain.Resource) bool { return r.Step == domain.StepDNS && r.ID == "new.example.com" }) {
		t.Fatalf("the dns step's resources did not follow: %+v", tn.Resources())
	}
	if tn.Status() != domain.StatusActive || tn.Name() != "Renamed" {
		t.Fatalf("status %s, name %q", tn.Status(), tn.Name())
	}
}

// A back end's error that quotes the person (an SMTP server's "550 <ada@…>")
// is recorded without them: step errors reach the topic, the analytics
// stream and backups, where erasure cannot follow.
func TestChoreographyInMemoryStepErrorsCarryNoPersonalData(t *testing.T) {
	c := runChoreography(t, &fakeSteps{fail: domain.StepStorage})
	tn := c.waitSettled(t, c.provision(t).ID())
	step, reason, _ := tn.FailedStep()
	contact := tn.Contact()
	if step != domain.StepStorage || !strings.Contains(reason, "[personal data]") {
		t.Fatalf("failed step %s: %q", step, reason)
	}
	for _, v := range []string{contact.Email, contact.FirstName, contact.LastName} {
		if strings.Contains(strings.ToLower(reason), strings.ToLower(v)) || strings.Contains(strings.ToLower(tn.LastFailure()), strings.ToLower(v)) {
			t.Fatalf("the recorded error quotes %q: %q", v, reason)
		}
	}
}

// change requests a change of an ACTIVE or SUSPENDED tenant, as the API does.
func (c *choreography) change(t *testing.T, id, kind string) {
	t.Helper()
	if _, err := c.tenants.Update(context.Background(), id, eventstore.Metadata{}, func(tn *domain.Tenant) ([]domain.Event, error) {
		return tn.RequestChange(kind, "test", "operator", time.Now())
	}); err != nil {
		t.Fatal(err)
	}
}

// Suspension and reactivation run as choreographies of their own: their
// steps in order, the status moved by the last; a failed step undoes what
// the change did, newest first, and the tenant stays ACTIVE.
func TestChoreographySuspendsAndReactivates(t *testing.T) {
	c := runChoreography(t, &fakeSteps{})
	id := c.waitSettled(t, c.provision(t).ID()).ID()
	before := len(c.steps.Calls())
	c.change(t, id, domain.ChangeSuspend)
	c.waitFor(t, id, "SUSPENDED", func(tn *domain.Tenant) bool { return tn.Status() == domain.StatusSuspended })
	c.change(t, id, domain.ChangeReactivate)
	c.waitFor(t, id, "ACTIVE again", func(tn *domain.Tenant) bool { return tn.Status() == domain.StatusActive })
	if got, want := c.steps.Calls()[before:], []string{"do:signin_off", "do:app_suspend", "do:app_resume", "do:signin_on"}; !slices.Equal(got, want) {
		t.Fatalf("calls %v, want %v", got, want)
	}

	c.steps.mu.Lock()
	c.steps.fail = domain.StepAppSuspend
	c.steps.mu.Unlock()
	before = len(c.steps.Calls())
	c.change(t, id, domain.ChangeSuspend)
	tn := c.waitFor(t, id, "back to ACTIVE after a failed suspension", func(tn *domain.Tenant) bool {
		v, _ := tn.LastChange()
		return v.State == "rolled_back"
	})
	if tn.Status() != domain.StatusActive || !strings.Contains(tn.LastFailure(), "app_suspend") {
		t.Fatalf("after the failed suspension: %s, %q", tn.Status(), tn.LastFailure())
	}
	if got, want := c.steps.Calls()[before:], []string{"do:signin_off", "do:app_suspend", "undo:app_suspend", "undo:signin_off"}; !slices.Equal(got, want) {
		t.Fatalf("calls %v, want %v", got, want)
	}
}
