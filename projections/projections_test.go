package projections_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tenantflow/tenantflow/app"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
	"github.com/tenantflow/tenantflow/internal/testkit/wait"
	"github.com/tenantflow/tenantflow/projections"
)

type env struct {
	store   *eventstore.Postgres
	engine  *projections.Engine
	tenants app.Repository[*domain.Tenant]
}

func newEnv(t *testing.T) *env {
	pool := testenv.NewMigratedPool(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	store := eventstore.NewPostgres(pool, log)
	t.Cleanup(store.Close)
	en := &projections.Engine{Pool: pool, Log: store, Projectors: projections.All(), Logger: log}
	if err := en.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	return &env{store: store, engine: en, tenants: app.Tenants(store)}
}

func (e *env) follow(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = e.engine.FollowLog(ctx, e.store) }()
	t.Cleanup(func() { cancel(); <-done })
}

// oneConnection is another engine on e's database (nothing remembered, as
// after a restart) with a pool of one connection, and a context that ends
// in 30 s: a batch that waits for a second connection fails instead of
// hanging.
func (e *env) oneConnection(t *testing.T) (*projections.Engine, context.Context) {
	t.Helper()
	cfg := e.engine.Pool.Config().Copy()
	cfg.MaxConns = 1
	one, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(one.Close)
	store := eventstore.NewPostgres(one, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t.Cleanup(store.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return &projections.Engine{Pool: one, Log: store, Projectors: projections.All()}, ctx
}

// caughtUp waits until every projection has applied the newest event.
func (e *env) caughtUp(t *testing.T) {
	t.Helper()
	wait.For(t, 30*time.Second, func() error {
		lags, err := e.engine.Lags(context.Background())
		behind := err != nil
		for _, l := range lags {
			behind = behind || l.Positions != 0
		}
		if behind {
			return fmt.Errorf("projections not caught up: %+v %v", lags, err)
		}
		return nil
	})
}

// decision is a command on a tenant, as a test scripts it.
type decision = func(*domain.Tenant) ([]domain.Event, error)

// newTenant creates a tenant through the domain (key, name, one contact,
// domains) and returns its id and step, which appends a decision on it.
func (e *env) newTenant(t *testing.T, key, name string, domains ...string) (string, func(decision)) {
	t.Helper()
	ctx, md := context.Background(), eventstore.Metadata{}
	id := uuid.NewString()
	tn, evs, err := domain.NewTenant(id, "", domain.TenantInput{Key: key, Name: name,
		Contact: domain.Contact{Email: "a@example.com", FirstName: "A", LastName: "B"}, Domains: domains})
	if err != nil {
		t.Fatal(err)
	}
	if err := app.CreateTenant(ctx, e.store, tn, md, evs); err != nil {
		t.Fatal(err)
	}
	return id, func(decide decision) {
		t.Helper()
		if _, err := e.tenants.Update(ctx, id, md, decide); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

// undoAll records every undo tenant id has due, in its order (the nth
// failing when fails says so), then the end of the undo.
func (e *env) undoAll(t *testing.T, id string, step func(decision), fails func(n int, step string) bool) {
	t.Helper()
	for n := 0; ; n++ {
		cur, err := e.tenants.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		s, ok := cur.NextUndo()
		if !ok {
			break
		}
		o := domain.StepOutcome{Step: s, Outcome: domain.OutcomeCompensated, At: time.Now().UTC()}
		if fails != nil && fails(n, s) {
			o.Outcome, o.Error = domain.OutcomeCompensationFailed, "still there"
		}
		step(func(t *domain.Tenant) ([]domain.Event, error) { return t.RecordUndo(o) })
	}
	step(func(t *domain.Tenant) ([]domain.Event, error) { return t.FinishUndo() })
}

// life writes tenants through the domain: one ACTIVE, one rolled back with
// an orphan, one pending, one deprovisioned.
func (e *env) life(t *testing.T) []string {
	t.Helper()
	sub := domain.Subscription{ID: "s", SubscriberID: "c", PlanID: "p", StartDate: time.Now(), Plan: domain.Plan{ID: "p", Name: "P", Tier: "silo"}}
	var ids []string
	for i, ending := range []string{"active", "failed", "pending", "gone"} {
		id, step := e.newTenant(t, "k"+uuid.NewString()[:6]+string(rune('a'+i)), ending, "a.example.com")
		ids = append(ids, id)
		if ending == "pending" {
			continue
		}
		step(func(t *domain.Tenant) ([]domain.Event, error) { return t.RequestProvisioning(sub, domain.DefaultTiers) })
		now := time.Now().UTC()
		for _, s := range domain.Steps[:len(domain.Steps)-1] {
			outcome := domain.StepOutcome{Step: s, Outcome: domain.OutcomeCompleted, Tries: 1, StartedAt: now, At: now.Add(time.Duration(len(s)) * time.Millisecond),
				Resources: []domain.Resource{{Step: s, Kind: "thing", ID: s + "-" + id[:4]}}}
			if ending == "failed" && s == domain.StepDatabase {
				outcome.Outcome, outcome.Error = domain.OutcomeFailed, "boom"
			}
			step(func(t *domain.Tenant) ([]domain.Event, error) { return t.RecordStep(outcome) })
			if outcome.Outcome == domain.OutcomeFailed {
				break
			}
		}
		if ending == "failed" {
			step(func(t *domain.Tenant) ([]domain.Event, error) { return t.FailProvisioning() })
			e.undoAll(t, id, step, func(n int, _ string) bool { return n == 0 })
			continue
		}
		step(func(t *domain.Tenant) ([]domain.Event, error) { return t.Activate() })
		if ending == "gone" {
			step(func(t *domain.Tenant) ([]domain.Event, error) { return t.RequestDeprovisioning("bye") })
			e.undoAll(t, id, step, nil)
		}
	}
	return ids
}

// The projections hold what the fold of each stream says.
func TestProjectionsAgreeWithTheFold(t *testing.T) {
	e := newEnv(t)
	e.follow(t)
	ids := e.life(t)
	e.caughtUp(t)
	ctx := context.Background()
	for _, id := range ids {
		tn, err := e.tenants.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		d, err := e.engine.SummaryForTest(ctx, id)
		if err != nil || d.Status != tn.Status().String() || d.Version != tn.Version() || d.Key != tn.Key() || d.Name != tn.Name() {
			t.Fatalf("%s: projection %+v (%v), fold %s v%d", tn.Name(), d, err, tn.Status(), tn.Version())
		}
		if orphans, err := e.engine.Orphans(ctx, id); err != nil || !sameResources(orphans, tn.Orphans()) {
			t.Fatalf("%s orphans: projection %v (%v), fold %v", tn.Name(), orphans, err, tn.Orphans())
		}
	}
	page, _, err := e.engine.List(ctx, projections.TenantQuery{Limit: 10})
	if err != nil || len(page) != len(ids) {
		t.Fatalf("list %v %v", page, err)
	}
	stats, err := e.engine.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stats {
		if s.Step == domain.StepDatabase && s.Tier == "" && (s.Count != 3 || s.Failures != 1) {
			t.Fatalf("database stats %+v, want 3 runs, 1 failure", s)
		}
	}
}

func sameResources(a, b []domain.Resource) bool {
	if len(a) != len(b) {
		return false
	}
	set := map[domain.Resource]bool{}
	for _, r := range a {
		r.CreatedAt = r.CreatedAt.UTC().Truncate(time.Microsecond) // PostgreSQL keeps microseconds
		set[r] = true
	}
	for _, r := range b {
		r.CreatedAt = r.CreatedAt.UTC().Truncate(time.Microsecond)
		if !set[r] || r.TenantID == "" || r.CreatedAt.IsZero() {
			return false
		}
	}
	return true
}

// A rebuild from the log gives exactly what the live projections hold, and
// readers keep answering from the old generation until the switch.
func TestRebuildEqualsLive(t *testing.T) {
	e := newEnv(t)
	e.follow(t)
	e.life(t)
	e.caughtUp(t)
	ctx := context.Background()
	live := map[string]string{}
	for _, p := range projections.All() {
		before, err := e.engine.Digest(ctx, p.Name(), 1)
		if err != nil {
			t.Fatal(err)
		}
		live[p.Name()] = before
		readsDuring := 0
		gen, err := e.engine.Rebuild(ctx, p.Name(), func(done, total int64) {
			if _, _, err := e.engine.List(ctx, projections.TenantQuery{Limit: 5}); err == nil {
				readsDuring++
			}
		})
		if err != nil || gen != 2 {
			t.Fatalf("rebuild %s: %d %v", p.Name(), gen, err)
		}
		after, err := e.engine.Digest(ctx, p.Name(), 2)
		if err != nil {
			t.Fatal(err)
		}
		if before != after {
			t.Fatalf("%s: rebuilt %s\nlive %s", p.Name(), after, before)
		}
		if readsDuring == 0 {
			t.Fatalf("%s: no read answered during the rebuild", p.Name())
		}
	}
	if g, _ := e.engine.Generation(ctx, e.engine.Pool, projections.NameTenants); g != 2 {
		t.Fatalf("readers on generation %d", g)
	}
	e.caughtUp(t) // the live projector carries on in the new generation
	// Every projection in one pass over the log, read a few events at a
	// time (each stream's events in several batches, the shares applying
	// theirs side by side): the same tables.
	projections.SmallRebuildBatchesForTest(t, 5)
	gens, err := e.engine.RebuildAll(ctx, nil, nil)
	if err != nil || len(gens) != len(projections.All()) {
		t.Fatalf("rebuild of every projection: %v %v", gens, err)
	}
	for name, gen := range gens {
		if d, err := e.engine.Digest(ctx, name, gen); err != nil || gen != 3 || d != live[name] {
			t.Fatalf("%s generation %d in one pass: %s %v\nlive %s", name, gen, d, err, live[name])
		}
	}
	e.caughtUp(t)
}

// Applying a batch twice changes nothing; a record past a gap makes the
// projector read the missing events from the store.
func TestIdempotentAndGapFilling(t *testing.T) {
	e := newEnv(t)
	ids := e.life(t)
	ctx := context.Background()
	stream := "tenant-" + ids[0]
	events, err := e.store.Load(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	// Only the last event: versions 1..n-1 are missing, and read in the
	// batch's own transaction (through the pool, a batch would wait for a
	// connection another batch holds).
	one, bounded := e.oneConnection(t)
	if err := one.ApplyForTest(bounded, events[len(events)-1:]); err != nil {
		t.Fatal(err)
	}
	d, err := e.engine.SummaryForTest(ctx, ids[0])
	if err != nil || d.Version != int64(len(events)) || d.Status != "ACTIVE" {
		t.Fatalf("after a gap: %+v %v", d, err)
	}
	digests := map[string]string{}
	for _, p := range projections.All() {
		digests[p.Name()], _ = e.engine.Digest(ctx, p.Name(), 1)
	}
	if err := e.engine.ApplyForTest(ctx, events); err != nil {
		t.Fatal(err)
	}
	for _, p := range projections.All() {
		if again, _ := e.engine.Digest(ctx, p.Name(), 1); again != digests[p.Name()] {
			t.Fatalf("applying the stream again changed the %s projection", p.Name())
		}
	}
}

// A projection added to a log that already has events starts complete:
// Ensure builds its first generation from the whole log.
func TestEnsureBuildsFromAnExistingLog(t *testing.T) {
	e := newEnv(t)
	ids := e.life(t)
	ctx := context.Background()
	if _, err := e.engine.Pool.Exec(ctx, `drop schema proj_tenants_g1 cascade; delete from projection_generations where name = 'tenants'`); err != nil {
		t.Fatal(err)
	}
	// The log's horizon may trail other packages' transactions: build again
	// until it has passed this test's events.
	wait.For(t, 30*time.Second, func() error {
		if err := e.engine.Ensure(ctx); err != nil {
			t.Fatal(err)
		}
		page, _, err := e.engine.List(ctx, projections.TenantQuery{Limit: 10})
		if err == nil && len(page) == len(ids) {
			return nil
		}
		if _, err := e.engine.Pool.Exec(ctx, `drop schema proj_tenants_g1 cascade; delete from projection_generations where name = 'tenants'`); err != nil {
			t.Fatal(err)
		}
		return fmt.Errorf("Ensure built %d of %d tenants from the log (%v)", len(page), len(ids), err)
	})
}

// A projector whose version changed is rebuilt into a new generation at
// start, so new code never applies events to tables of the old shape.
func TestChangedProjectorIsRebuilt(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.engine.Pool.Exec(ctx, `update projection_generations set projector_version = 1 where name = 'tenants'`); err != nil {
		t.Fatal(err)
	}
	if err := e.engine.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	var gen, version int
	if err := e.engine.Pool.QueryRow(ctx, `select generation, projector_version from projection_generations where name = 'tenants'`).Scan(&gen, &version); err != nil {
		t.Fatal(err)
	}
	if gen != 2 || version != (projections.Tenants{}).Version() {
		t.Fatalf("tenants at generation %d, version %d", gen, version)
	}
	if g, _ := e.engine.Generation(ctx, e.engine.Pool, projections.NameStats); g != 1 {
		t.Fatalf("an unchanged projector was rebuilt: generation %d", g)
	}
}

// The live feed applies a batch to every projection under one search path
// holding all their schemas, so an unqualified table name must mean one
// table: no two projectors may name a table alike (applied, which every
// projection has, is always qualified by the engine).
func TestProjectorsNameTheirTablesApart(t *testing.T) {
	e := newEnv(t)
	rows, err := e.engine.Pool.Query(context.Background(), `select t.table_name, array_agg(t.table_schema::text order by t.table_schema)
		from information_schema.tables t join projection_generations g
		  on t.table_schema = 'proj_' || replace(g.name, '-', '_') || '_g' || g.generation
		where t.table_name <> 'applied'
		group by t.table_name`)
	if err != nil {
		t.Fatal(err)
	}
	owners := map[string][]string{}
	var table string
	var schemas []string
	if _, err := pgx.ForEachRow(rows, []any{&table, &schemas}, func() error { owners[table] = schemas; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(owners) < len(projections.All()) {
		t.Fatalf("found tables %v, fewer than the %d projectors", owners, len(projections.All()))
	}
	for table, schemas := range owners {
		if len(schemas) > 1 {
			t.Errorf("table %s is in %v: the live feed's search path would write one projector's rows into another's table", table, schemas)
		}
	}
}

// A projector is given only the streams it reads, and keeps an applied
// version of those only; how far each projection has been fed is still
// known for every one of them, those whose streams the log does not hold
// included.
func TestProjectorsKeepOnlyTheirStreams(t *testing.T) {
	e := newEnv(t)
	ids := e.life(t)
	ctx := context.Background()
	lags, err := e.engine.Lags(ctx)
	if err != nil || len(lags) != len(projections.All()) || lags[0].Positions == 0 {
		t.Fatalf("before anything was applied: %+v %v", lags, err)
	}
	var events []eventstore.Event
	for _, id := range ids {
		stream, err := e.store.Load(ctx, "tenant-"+id)
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, stream...)
	}
	if err := e.engine.ApplyForTest(ctx, events); err != nil {
		t.Fatal(err)
	}
	e.caughtUp(t)
	counts := map[string]int{}
	for _, p := range projections.All() {
		var n int
		if err := e.engine.Pool.QueryRow(ctx, `select count(*) from `+projections.SchemaName(p.Name(), 1)+`.applied`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		counts[p.Name()] = n
	}
	want := map[string]int{projections.NameTenants: len(ids), projections.NameOrphans: len(ids),
		projections.NameStats: len(ids), projections.NameConfig: 0, projections.NameLeads: 0, projections.NamePlans: 0,
		projections.NameDocuments: len(ids)}
	if !reflect.DeepEqual(counts, want) {
		t.Fatalf("applied rows %v, want %v", counts, want)
	}
}

// A generation built before the feed marks (its applied table kept each
// stream's log position, under an index) is brought to today's layout at
// start, in place: not rebuilt, its newest position kept as its feed mark.
func TestOldAppliedTableIsUpgradedInPlace(t *testing.T) {
	e := newEnv(t)
	e.follow(t)
	ids := e.life(t)
	e.caughtUp(t)
	ctx := context.Background()
	var newest int64
	if err := e.engine.Pool.QueryRow(ctx, `select max(position) from projection_feeds where name = 'tenants'`).Scan(&newest); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{`alter table proj_tenants_g1.applied add column position bigint, add column recorded_at timestamptz`,
		`update proj_tenants_g1.applied set position = $1 - 1, recorded_at = now()`,
		`update proj_tenants_g1.applied set position = $1 where stream = 'tenant-' || $2`,
		`alter table proj_tenants_g1.applied alter position set not null, alter recorded_at set not null`,
		`create index applied_position on proj_tenants_g1.applied (position)`,
		`delete from projection_feeds where name = 'tenants'`} {
		var args []any
		if strings.Contains(stmt, "$2") {
			args = []any{newest, ids[0]}
		} else if strings.Contains(stmt, "$1") {
			args = []any{newest}
		}
		if _, err := e.engine.Pool.Exec(ctx, stmt, args...); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.engine.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	var columns []string
	if err := e.engine.Pool.QueryRow(ctx, `select array_agg(column_name::text order by column_name) from information_schema.columns
		where table_schema = 'proj_tenants_g1' and table_name = 'applied'`).Scan(&columns); err != nil {
		t.Fatal(err)
	}
	var fed int64
	if err := e.engine.Pool.QueryRow(ctx, `select position from projection_feeds where name = 'tenants' and generation = 1`).Scan(&fed); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(columns, []string{"stream", "version"}) || fed != newest {
		t.Fatalf("after the upgrade: applied columns %v, feed mark %d (newest applied %d)", columns, fed, newest)
	}
	if g, _ := e.engine.Generation(ctx, e.engine.Pool, projections.NameTenants); g != 1 {
		t.Fatalf("the upgrade rebuilt the projection: generation %d", g)
	}
	e.caughtUp(t)
	if d, err := e.engine.SummaryForTest(ctx, ids[0]); err != nil || d.Status != "ACTIVE" {
		t.Fatalf("after the upgrade: %+v %v", d, err)
	}
}
