package projections_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/tenantflow/tenantflow/app"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
	"github.com/tenantflow/tenantflow/projections"
)

// BenchmarkReplay rebuilds each projection (what `tenantctl replay` does)
// from a log of TENANTFLOW_BENCH_REPLAY_EVENTS events (default 1,000,000):
// copies of one ACTIVE tenant's whole life (13 events, billing and the
// welcome mail included), each under its own id and key.
func BenchmarkReplay(b *testing.B) {
	want := 1_000_000
	if n, err := strconv.Atoi(os.Getenv("TENANTFLOW_BENCH_REPLAY_EVENTS")); err == nil && n > 0 {
		want = n
	}
	ctx := context.Background()
	pool := testenv.NewMigratedPool(b)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	store := eventstore.NewPostgres(pool, log)
	defer store.Close()

	en := &projections.Engine{Pool: pool, Log: store, Projectors: projections.All(), Logger: log}
	if err := en.Ensure(ctx); err != nil { // generation 1, built while the log is empty
		b.Fatal(err)
	}
	template, templateID := activeTenant(b, store)
	const tmplKey = "template"
	copies := (want - len(template)) / len(template)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < copies; i += 8 {
				id, key := uuid.NewString(), "r"+strconv.FormatInt(int64(i), 36)
				batch := make([]eventstore.NewEvent, len(template))
				for j, e := range template {
					data := bytes.ReplaceAll(bytes.ReplaceAll(e.Data, []byte(templateID), []byte(id)), []byte(`"`+tmplKey+`"`), []byte(`"`+key+`"`))
					batch[j] = eventstore.NewEvent{ID: uuid.NewString(), Type: e.Type, SchemaVersion: e.SchemaVersion, Data: data, Metadata: e.Metadata}
				}
				if _, err := store.Append(ctx, "tenant-"+id, eventstore.NoStream, batch...); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	var total int64
	if err := pool.QueryRow(ctx, `select count(*) from events`).Scan(&total); err != nil {
		b.Fatal(err)
	}
	b.Logf("wrote %d events in %s", total, time.Since(start).Round(time.Second))

	for _, p := range projections.All() {
		b.Run(p.Name(), func(b *testing.B) {
			t0 := time.Now()
			if _, err := en.Rebuild(ctx, p.Name(), nil); err != nil {
				b.Fatal(err)
			}
			d := time.Since(t0)
			b.ReportMetric(float64(total)/d.Seconds(), "events/s")
			b.ReportMetric(float64(total), "events")
		})
	}
	// The log's events over the wall-clock time of rebuilding every
	// projection, what `tenantctl replay` with no name does and a restore
	// waits for: one pass over the log for all of them. (Until 2026-12-07
	// this row was the seven rebuilds above one after another, and before
	// that it counted each projector's applications of the log over the
	// summed time: seven times the events.)
	b.Run("all", func(b *testing.B) {
		t0 := time.Now()
		if _, err := en.RebuildAll(ctx, nil, nil); err != nil {
			b.Fatal(err)
		}
		d := time.Since(t0)
		b.ReportMetric(float64(total)/d.Seconds(), "events/s")
		b.ReportMetric(float64(total), "events")
		b.ReportMetric(d.Seconds(), "wall-s")
	})
	// The rebuilt list must hold every tenant, or the rates mean nothing.
	schema, err := en.Schema(ctx, projections.NameTenants)
	if err != nil {
		b.Fatal(err)
	}
	var listed int
	if err := pool.QueryRow(ctx, `select count(*) filter (where status = $1) from `+schema+`.tenants`, int(domain.StatusActive)).Scan(&listed); err != nil {
		b.Fatal(err)
	}
	if listed != copies+1 {
		b.Fatalf("the rebuilt tenants projection lists %d ACTIVE tenants, want %d", listed, copies+1)
	}
}

// activeTenant writes one tenant's life through the domain — created,
// provisioning requested, every step completed, activated — and returns
// its stored events and its id. Its key is "template".
func activeTenant(b *testing.B, store *eventstore.Postgres) ([]eventstore.Event, string) {
	ctx := context.Background()
	tenants := app.Tenants(store)
	id := uuid.NewString()
	tn, evs, err := domain.NewTenant(id, "", domain.TenantInput{Key: "template", Name: "Template",
		Contact: domain.Contact{Email: "a@example.com", FirstName: "A", LastName: "B"}, Domains: []string{"template.example.com"}})
	if err != nil {
		b.Fatal(err)
	}
	md := eventstore.Metadata{}
	if err := app.CreateTenant(ctx, store, tn, md, evs); err != nil {
		b.Fatal(err)
	}
	step := func(decide func(*domain.Tenant) ([]domain.Event, error)) {
		if _, err := tenants.Update(ctx, id, md, decide); err != nil {
			b.Fatal(err)
		}
	}
	sub := domain.Subscription{ID: "s", SubscriberID: "c", PlanID: "p", StartDate: time.Now(), Plan: domain.Plan{ID: "p", Name: "P", Tier: "silo"}}
	step(func(t *domain.Tenant) ([]domain.Event, error) { return t.RequestProvisioning(sub, domain.DefaultTiers) })
	now := time.Now().UTC()
	for _, s := range domain.Steps[:len(domain.Steps)-1] {
		o := domain.StepOutcome{Step: s, Outcome: domain.OutcomeCompleted, Tries: 1, StartedAt: now, At: now.Add(time.Millisecond),
			Resources: []domain.Resource{{Step: s, Kind: "thing", ID: s + "-" + id}}}
		step(func(t *domain.Tenant) ([]domain.Event, error) { return t.RecordStep(o) })
	}
	step(func(t *domain.Tenant) ([]domain.Event, error) { return t.Activate() })
	// The steps after activation, as every tenant provisioned has them: a
	// settled tenant, whose document the documents projection renders.
	step(func(t *domain.Tenant) ([]domain.Event, error) {
		return t.RecordStep(domain.StepOutcome{Step: domain.StepBilling, Outcome: domain.OutcomeSkipped, StartedAt: now, At: now})
	})
	step(func(t *domain.Tenant) ([]domain.Event, error) {
		return t.RecordNotification(domain.StepOutcome{Step: domain.StepNotify, Outcome: domain.OutcomeCompleted, StartedAt: now, At: now})
	})
	events, err := store.Load(ctx, "tenant-"+id)
	if err != nil {
		b.Fatal(err)
	}
	if got, _ := tenants.Get(ctx, id); got.Status() != domain.StatusActive || !got.Settled() {
		b.Fatalf("template tenant is %s, settled %v", got.Status(), got.Settled())
	}
	return events, id
}
