package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/tenantflow/tenantflow/adapters/postgres"
	tfapi "github.com/tenantflow/tenantflow/api"
	"github.com/tenantflow/tenantflow/app"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
	"github.com/tenantflow/tenantflow/internal/testkit/wait"
	"github.com/tenantflow/tenantflow/migrations"
	"github.com/tenantflow/tenantflow/platform/auth"
	"github.com/tenantflow/tenantflow/projections"
)

// auditLog makes a migrated database with one provisioned tenant and points
// the configuration at it.
func auditLog(t *testing.T) (*eventstore.Postgres, *domain.Tenant) {
	t.Helper()
	url := testenv.NewDatabase(t)
	t.Setenv("TENANTFLOW_DATABASE_URL", url)
	t.Setenv("TENANTFLOW_SEAL_KEY", "")
	ctx := context.Background()
	pool, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := migrations.Up(ctx, pool); err != nil {
		t.Fatal(err)
	}
	store := eventstore.NewPostgres(pool, nil)
	t.Cleanup(store.Close)
	tn, evs, _ := domain.NewTenant(uuid.NewString(), "", domain.TenantInput{Key: "audit", Name: "Audit",
		Contact: domain.Contact{Email: "a@example.com", FirstName: "A", LastName: "B"}})
	md := eventstore.Metadata{Actor: "tester"}
	if err := app.CreateTenant(ctx, store, tn, md, evs); err != nil {
		t.Fatal(err)
	}
	tenants := app.Tenants(store)
	sub := domain.Subscription{ID: "s", SubscriberID: "c", PlanID: "p", StartDate: time.Now(), Plan: domain.Plan{ID: "p", Name: "P", Tier: "pooled"}}
	if _, err := tenants.Update(ctx, tn.ID(), md, func(t *domain.Tenant) ([]domain.Event, error) { return t.RequestProvisioning(sub, domain.DefaultTiers) }); err != nil {
		t.Fatal(err)
	}
	start := time.Now().UTC()
	if _, err := tenants.Update(ctx, tn.ID(), eventstore.Metadata{Actor: "handler:step.idp"}, func(t *domain.Tenant) ([]domain.Event, error) {
		return t.RecordStep(domain.StepOutcome{Step: domain.StepIdentity, Outcome: domain.OutcomeFailed, Tries: 3, Error: "keycloak down",
			StartedAt: start, At: start.Add(1500 * time.Millisecond)})
	}); err != nil {
		t.Fatal(err)
	}
	// Export and tail read below the log's horizon: wait until other
	// packages' open transactions no longer hold it before these events.
	wait.For(t, 30*time.Second, func() error {
		all, err := store.ReadAll(ctx, eventstore.Cursor{}, 100)
		if err == nil && len(all) == 4 {
			return nil
		}
		return fmt.Errorf("events not below the horizon: %d, %v", len(all), err)
	})
	return store, tn
}

func TestHistoryByKey(t *testing.T) {
	_, tn := auditLog(t)
	var out bytes.Buffer
	if err := (historyCmd{Tenant: "audit"}).run(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	table := out.String()
	for _, want := range []string{"tenant.created", "tenant.provisioning.requested", "tenant.idp.failed", "handler:step.idp", "1.5s", "keycloak down"} {
		if !strings.Contains(table, want) {
			t.Fatalf("history lacks %q:\n%s", want, table)
		}
	}
	out.Reset()
	if err := (historyCmd{Tenant: tn.ID(), JSON: true}).run(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	var timeline []entry
	if err := json.Unmarshal(out.Bytes(), &timeline); err != nil || len(timeline) != 3 || timeline[2].Tries != 3 {
		t.Fatalf("json timeline %s %v", out.String(), err)
	}
	if err := (historyCmd{Tenant: "nobody"}).run(context.Background(), &out); err == nil {
		t.Fatal("an unknown key gave a history")
	}
}

func ndjson(t *testing.T, b []byte) []exported {
	t.Helper()
	var out []exported
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e exported
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		out = append(out, e)
	}
	return out
}

func TestEventsAndExport(t *testing.T) {
	_, tn := auditLog(t)
	ctx := context.Background()
	var out bytes.Buffer
	if err := (eventsGetCmd{Stream: "tenant-" + tn.ID()}).run(ctx, &out); err != nil {
		t.Fatal(err)
	}
	if evs := ndjson(t, out.Bytes()); len(evs) != 3 || evs[0].Type != domain.TypeTenantCreated || evs[2].Version != 3 {
		t.Fatalf("events get: %+v", evs)
	}
	out.Reset()
	if err := (eventsTailCmd{Last: 2, Types: []string{domain.TypeProvisioningRequested}}).run(ctx, &out); err != nil {
		t.Fatal(err)
	}
	if evs := ndjson(t, out.Bytes()); len(evs) != 1 || evs[0].Type != domain.TypeProvisioningRequested {
		t.Fatalf("events tail: %+v", evs)
	}
	out.Reset()
	if err := (exportCmd{Since: "0"}).run(ctx, &out); err != nil {
		t.Fatal(err)
	}
	all := ndjson(t, out.Bytes())
	if len(all) != 4 { // the tenant's 3 and its key reservation
		t.Fatalf("export: %d events", len(all))
	}
	out.Reset()
	if err := (exportCmd{Since: "0", Until: "2"}).run(ctx, &out); err != nil {
		t.Fatal(err)
	}
	if evs := ndjson(t, out.Bytes()); len(evs) != 1 || evs[0].Position != 1 {
		t.Fatalf("export until position 2: %+v", evs)
	}
	out.Reset()
	if err := (exportCmd{Since: all[0].RecordedAt.Add(time.Hour).Format(time.RFC3339Nano)}).run(ctx, &out); err != nil || out.Len() != 0 {
		t.Fatalf("export since a future time: %q %v", out.String(), err)
	}
	if err := (exportCmd{Since: "yesterday"}).run(ctx, &out); err == nil {
		t.Fatal("a bad --since was accepted")
	}
}

func TestVerifyCommand(t *testing.T) {
	store, tn := auditLog(t)
	ctx := context.Background()
	if _, err := (eventstore.Sealer{Store: store}).SealOnce(ctx); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := (verifyCmd{}).run(ctx, &out); err != nil || !strings.Contains(out.String(), "the log verifies") {
		t.Fatalf("clean log: %v\n%s", err, out.String())
	}
	if _, err := store.Pool().Exec(ctx, `update events set metadata = '{"actor":"someone else"}' where stream_id = $1 and stream_version = 2`, "tenant-"+tn.ID()); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	err := (verifyCmd{}).run(ctx, &out)
	if err == nil || !strings.Contains(out.String(), "FIRST MISMATCH: tenant-"+tn.ID()+" version 2") {
		t.Fatalf("tampered log: %v\n%s", err, out.String())
	}
}

func TestReplayCommand(t *testing.T) {
	auditLog(t)
	var out bytes.Buffer
	for _, gen := range []string{"generation 2", "generation 3"} {
		out.Reset()
		if err := (replayCmd{Projections: []string{"orphans"}, Quiet: true}).run(context.Background(), &out); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), "orphans: "+gen+" is live") || !strings.Contains(out.String(), ";orphans:") {
			t.Fatalf("replay: %s", out.String())
		}
	}
	// No name: every projection, in one pass.
	out.Reset()
	if err := (replayCmd{Quiet: true}).run(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	for _, p := range projections.All() {
		gen := "generation 2"
		if p.Name() == projections.NameOrphans {
			gen = "generation 4"
		}
		if !strings.Contains(out.String(), p.Name()+": "+gen+" is live") {
			t.Fatalf("replay of every projection, no %s: %s\n%s", p.Name(), gen, out.String())
		}
	}
	// A name that is no projection: a clear error, and no rebuild of the rest.
	out.Reset()
	err := (replayCmd{Projections: []string{"tenants", "tenant"}, Quiet: true}).run(context.Background(), &out)
	if err == nil || !strings.Contains(err.Error(), `no projection "tenant"`) || out.Len() != 0 {
		t.Fatalf("replay of an unknown projection: %v\n%s", err, out.String())
	}
	out.Reset()
	if err := (replayCmd{Projections: []string{"tenants"}, Quiet: true}).run(context.Background(), &out); err != nil || !strings.Contains(out.String(), "tenants: generation 3 is live") {
		t.Fatalf("after the refused replay, tenants should be at generation 2 and move to 3: %v\n%s", err, out.String())
	}
}

// operatorAPI serves tenantd's API on store (its projections following
// the log) and is tenantctl's way to it, signed in with an operator's token
// holding perms.
func operatorAPI(t *testing.T, store *eventstore.Postgres, perms ...string) api {
	t.Helper()
	signer, err := auth.NewHS256(strings.Repeat("k", 32), "tenantflow")
	if err != nil {
		t.Fatal(err)
	}
	read := &projections.Engine{Pool: store.Pool(), Log: store, Projectors: projections.All()}
	if err := read.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = read.FollowLog(ctx, store) }()
	t.Cleanup(func() { cancel(); <-done })
	rt := tfapi.NewRouter(nil, time.Second)
	rt.Mount(tfapi.Deps{App: app.NewService(store, ""), Tenants: read, Verifier: signer, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	srv := httptest.NewServer(rt)
	t.Cleanup(srv.Close)
	tok, err := signer.Mint("ada", perms, "", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return api{URL: srv.URL, Token: tok, Timeout: 10 * time.Second}
}

// listedUntil runs orphans list until its output satisfies ok (the list is
// a projection that catches up with the log).
func listedUntil(t *testing.T, c orphansListCmd, what string, ok func(string) bool) string {
	t.Helper()
	return wait.Value(t, 15*time.Second, func() (string, error) {
		var out bytes.Buffer
		err := c.run(&out)
		if err == nil && ok(out.String()) {
			return out.String(), nil
		}
		return "", fmt.Errorf("orphans list not %s: %v\n%s", what, err, out.String())
	})
}

// orphans list shows what an undo could not remove: the audit tenant's idp
// step failed, reported nothing, and its undo failed too, so one
// placeholder orphan is left; orphans forget takes it off, recorded with
// the operator and the reason; orphans retry asks for the undo again. All
// through tenantd's API with an operator's token — a token without the
// orphans' permissions gets nothing.
func TestOrphansList(t *testing.T) {
	store, tn := auditLog(t)
	ctx := context.Background()
	operator := operatorAPI(t, store, auth.ViewOrphans, auth.ManageOrphans, auth.ViewTenant)
	if err := (orphansListCmd{api: operatorAPI(t, store, auth.ViewTenant)}).run(io.Discard); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("orphans list without 10240: %v, want 403", err)
	}
	listedUntil(t, orphansListCmd{api: operator}, "said there are none", func(s string) bool { return strings.TrimSpace(s) == "no orphans" })
	tenants := app.Tenants(store)
	md := eventstore.Metadata{Actor: "handler:saga"}
	for _, decide := range []func(*domain.Tenant) ([]domain.Event, error){
		func(t *domain.Tenant) ([]domain.Event, error) { return t.FailProvisioning() },
		func(t *domain.Tenant) ([]domain.Event, error) {
			return t.RecordUndo(domain.StepOutcome{Step: domain.StepIdentity, Outcome: domain.OutcomeCompensationFailed, Error: "keycloak down", At: time.Now()})
		},
	} {
		if _, err := tenants.Update(ctx, tn.ID(), md, decide); err != nil {
			t.Fatal(err)
		}
	}
	const resource = "idp/unknown/see the step's error"
	listedUntil(t, orphansListCmd{api: operator, Tenant: "audit"}, "listed the placeholder", func(s string) bool {
		lines := strings.Split(strings.TrimSpace(s), "\n")
		return len(lines) == 2 && strings.HasPrefix(lines[0], "TENANT") && strings.HasPrefix(lines[1], tn.ID()+"  "+resource)
	})

	// orphans forget: refused without a reason or for an orphan the tenant
	// does not have (nothing recorded); else recorded with actor and reason.
	before, _ := store.Load(ctx, "tenant-"+tn.ID())
	for _, bad := range []orphansForgetCmd{
		{api: operator, Tenant: tn.ID(), Resource: resource, Reason: "  "},
		{api: operator, Tenant: tn.ID(), Resource: "idp/keycloak-realm/tenant-audit", Reason: "gone"},
		{api: operator, Tenant: tn.ID(), Resource: "idp-only", Reason: "gone"},
	} {
		if err := bad.run(io.Discard); err == nil {
			t.Errorf("forget %q with reason %q was accepted", bad.Resource, bad.Reason)
		}
	}
	if after, _ := store.Load(ctx, "tenant-"+tn.ID()); len(after) != len(before) {
		t.Fatalf("a refused forget recorded %d events", len(after)-len(before))
	}
	if err := (orphansForgetCmd{api: operator, Tenant: "audit", Resource: resource, Reason: "realm checked by hand: never created"}).run(io.Discard); err != nil {
		t.Fatal(err)
	}
	after, _ := store.Load(ctx, "tenant-"+tn.ID())
	last := after[len(after)-1]
	if len(after) != len(before)+1 || last.Type != domain.TypeOrphanForgotten || last.Metadata.Actor != "ada" ||
		!strings.Contains(string(last.Data), "realm checked by hand") {
		t.Fatalf("forget recorded %d events, last %s by %q: %s", len(after)-len(before), last.Type, last.Metadata.Actor, last.Data)
	}
	listedUntil(t, orphansListCmd{api: operator}, "emptied", func(s string) bool { return strings.TrimSpace(s) == "no orphans" })

	// orphans retry: refused while the rollback runs; once the tenant is
	// PROVISION_FAILED it records the retry (the handlers, not running
	// here, do the undos), and a second one waits for the first.
	retry := orphansRetryCmd{api: operator, Tenant: tn.ID()}
	if err := retry.run(io.Discard); err == nil {
		t.Fatal("retry accepted while the rollback is still running")
	}
	if _, err := tenants.Update(ctx, tn.ID(), md, func(t *domain.Tenant) ([]domain.Event, error) { return t.FinishUndo() }); err != nil {
		t.Fatal(err)
	}
	if err := retry.run(io.Discard); err != nil {
		t.Fatal(err)
	}
	all, _ := store.Load(ctx, "tenant-"+tn.ID())
	last = all[len(all)-1]
	var req domain.UndoRetryRequested
	if err := json.Unmarshal(last.Data, &req); err != nil || last.Type != domain.TypeUndoRetryRequested ||
		last.Metadata.Actor != "ada" || strings.Join(req.Steps, ",") != domain.StepIdentity || req.Round != 1 {
		t.Fatalf("retry recorded %s by %q: %s", last.Type, last.Metadata.Actor, last.Data)
	}
	if err := retry.run(io.Discard); err == nil || !strings.Contains(err.Error(), "409") {
		t.Fatalf("a second retry while the first runs: %v, want 409", err)
	}
}
