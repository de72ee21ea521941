package e2e

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tenantflow/tenantflow/adapters/kafka"
	"github.com/tenantflow/tenantflow/adapters/postgres"
	"github.com/tenantflow/tenantflow/api"
	"github.com/tenantflow/tenantflow/app"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/handlers"
	"github.com/tenantflow/tenantflow/handlers/deadletters"
	"github.com/tenantflow/tenantflow/handlers/notify"
	"github.com/tenantflow/tenantflow/handlers/platform"
	"github.com/tenantflow/tenantflow/handlers/step"
	"github.com/tenantflow/tenantflow/internal/loadgen"
	"github.com/tenantflow/tenantflow/migrations"
	"github.com/tenantflow/tenantflow/platform/auth"
	"github.com/tenantflow/tenantflow/platform/backoff"
	"github.com/tenantflow/tenantflow/platform/idempotency"
	"github.com/tenantflow/tenantflow/platform/pii"
	"github.com/tenantflow/tenantflow/projections"
)

// The benchmark runs tenantflow in a process of its own — this test binary
// started again in the role "tenantd" (loadgen.StartRole) — so that its CPU is measured apart from
// the load generator's (HTTP client and topic watcher), which stays in the
// benchmark process. The child is every tenantd role in its production
// configuration, with no-op back ends:
//
//   - the event log and everything else reached as the runtime role (which
//     may append to the log, not rewrite it); migrations as the owner first,
//     as `tenantctl migrate` does;
//   - people's personal fields sealed by the vault under a master key, and
//     the log's hash chain sealed every 10 s (tenantd's default);
//   - operators' tokens RS256, verified against a key set fetched over HTTP
//     (served by the benchmark process, standing in for Keycloak's operators'
//     realm); HS256 only for lead tokens;
//   - Idempotency-Key records on every POST (the load generator sends one);
//   - Kafka over TLS with SCRAM-SHA-512, the relay as its own principal (the
//     dev stack's settings, as tenantd reads them).
const (
	childOwnerURL = "TENANTFLOW_BENCH_OWNER_URL"
	childURL      = "TENANTFLOW_BENCH_RUNTIME_URL"
	childTopic    = "TENANTFLOW_BENCH_TOPIC"
	childGroups   = "TENANTFLOW_BENCH_GROUPS"
	childJWKS     = "TENANTFLOW_BENCH_JWKS_URL"
	issuer        = "https://operators.bench.invalid/realms/operators"
	audience      = "tenantflow-api"
)

func TestMain(m *testing.M) { loadgen.Main(m, map[string]func() error{"tenantd": serveTenantd}) }

// serveTenantd runs until its standard input closes (the benchmark process
// ended). It prints one line, "api=<url> control=<url>", when it serves.
func serveTenantd() error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if dir := os.Getenv("TENANTFLOW_PROFILE_DIR"); dir != "" {
		f, err := os.Create(filepath.Join(dir, "tenantd.cpu.pprof"))
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); _ = f.Close() }()
	}
	owner, err := postgres.Open(ctx, os.Getenv(childOwnerURL))
	if err != nil {
		return err
	}
	_, err = migrations.Up(ctx, owner)
	owner.Close()
	if err != nil {
		return err
	}
	trips := &roundTrips{}
	pool, err := postgres.Open(ctx, os.Getenv(childURL), func(cfg *pgxpool.Config) {
		// pgx's default pool is 4 connections on this machine; tenantd's is
		// set through TENANTFLOW_DATABASE_URL (pool_max_conns) the same way.
		cfg.MaxConns = 40
		cfg.ConnConfig.Tracer = trips
	})
	if err != nil {
		return err
	}
	defer pool.Close()

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	master := make([]byte, 32)
	_, _ = rand.Read(master)
	vault, err := pii.NewVault(pool, master)
	if err != nil {
		return err
	}
	store := eventstore.NewPostgres(pool, logger)
	store.SetDataSealer(vault.SealEvent)
	brokers := strings.Split(os.Getenv("TENANTFLOW_KAFKA_BROKERS"), ",")
	topic, groups := os.Getenv(childTopic), os.Getenv(childGroups)
	publisher, err := kafka.NewRelayPublisher(brokers)
	if err != nil {
		return err
	}
	dlq, err := kafka.NewRecordPublisher(brokers)
	if err != nil {
		return err
	}
	seal := make([]byte, 32)
	_, _ = rand.Read(seal)
	go func() {
		_ = eventstore.Sealer{Store: store, Key: seal, Every: 10 * time.Second, Logger: logger}.Run(ctx)
	}()
	go func() {
		_ = (&eventstore.Relay{Store: store, Publisher: publisher, Topic: topic, Logger: logger, Refused: kafka.Refused}).Run(ctx)
	}()
	actions := map[string]step.Action{}
	for _, s := range domain.UndoableSteps {
		actions[s] = noop{s}
	}
	actions[domain.StepNotify] = notify.Step{Sender: noopNotifier{}}
	actions = platform.Actions(actions, nil) // as tenantd composes them: traced
	go func() {
		_ = handlers.Run(ctx, handlers.Config{Brokers: brokers, Topic: topic, GroupPrefix: groups, Store: store,
			Actions: actions, Logger: logger,
			Steps:       step.Runner{Retry: backoff.Policy{MaxTries: 5, BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second}},
			DeadLetters: &deadletters.Table{Pool: pool, Publisher: dlq}})
	}()
	var lags delays
	proj := &projections.Engine{Pool: pool, Log: store, Projectors: projections.All(), Logger: logger, Applied: lags.add}
	if err := proj.Ensure(ctx); err != nil {
		return err
	}
	go func() { _ = proj.Live(ctx, brokers, topic, groups) }()

	leads, err := auth.NewHS256(benchSecret, "tenantflow")
	if err != nil {
		return err
	}
	verifier, err := auth.NewVerifier(ctx, leads, auth.JWKS{URL: os.Getenv(childJWKS), Issuer: issuer, Audience: audience})
	if err != nil {
		return err
	}
	rt := api.NewRouter(nil, time.Second)
	rt.Mount(api.Deps{App: app.NewService(store, ""), Tenants: proj, Verifier: verifier, Minter: leads, Personal: vault,
		Idempotency: idempotency.New(pool, 24*time.Hour), Logger: logger})
	apiURL, err := serve(rt)
	if err != nil {
		return err
	}
	control := http.NewServeMux()
	control.HandleFunc("POST /delays/start", func(w http.ResponseWriter, _ *http.Request) { lags.start() })
	control.HandleFunc("POST /delays/stop", func(w http.ResponseWriter, _ *http.Request) { _ = json.NewEncoder(w).Encode(lags.stop()) })
	control.HandleFunc("GET /round-trips", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(trips.n.Load())
	})
	controlURL, err := serve(control)
	if err != nil {
		return err
	}
	fmt.Printf("api=%s control=%s\n", apiURL, controlURL)
	return loadgen.UntilStdinCloses(nil)
}

// failPrefix: a no-op step fails permanently for tenants whose key starts
// with it, which is how the rollback benchmark fails its tenants.
const failPrefix = "fail"

// noop stands in for a step's back end at its port: it makes nothing, but
// reports one resource, so the resources step has something to record.
type noop struct{ step string }

func (n noop) Do(_ context.Context, t *domain.Tenant) (step.Result, error) {
	if n.step == domain.StepDNS && strings.HasPrefix(t.Key(), failPrefix) {
		return step.Result{}, step.Permanent(errors.New("no-op dns fails this tenant on purpose"))
	}
	return step.Result{Resources: []domain.Resource{{Step: n.step, Kind: "noop", ID: n.step + "-" + t.Key()}}}, nil
}
func (noop) Undo(context.Context, *domain.Tenant) error { return nil }

type noopNotifier struct{}

func (noopNotifier) Welcome(context.Context, *domain.Tenant) error { return nil }
func (noopNotifier) Failure(context.Context, *domain.Tenant) error { return nil }

const benchSecret = "bench-secret-bench-secret-bench-secret"

func serve(h http.Handler) (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	go func() { _ = http.Serve(l, h) }()
	return "http://" + l.Addr().String(), nil
}

// delays records, while a loop runs, each event's projection lag: from its
// commit in the log to the commit of the projections' transaction that
// applied it. Every event counts, so a partition that falls behind shows
// in full; the head of the log and the most advanced partition (which the
// old sampling measured) hide it.
type delays struct {
	mu sync.Mutex
	on bool
	d  []time.Duration
}

func (l *delays) add(events []eventstore.Event, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.on {
		return
	}
	for _, e := range events {
		l.d = append(l.d, at.Sub(e.RecordedAt))
	}
}

func (l *delays) start() {
	l.mu.Lock()
	l.on, l.d = true, nil
	l.mu.Unlock()
}

func (l *delays) stop() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.on = false
	slices.Sort(l.d)
	return l.d
}

// roundTrips counts the requests tenantd's pool sends PostgreSQL and waits
// for: a query or statement (a transaction's begin and commit included), a
// batch (one round trip for all its statements) or a COPY.
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	r.n.Add(1)
	return ctx
}
func (*roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (r *roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	r.n.Add(1)
	return ctx
}
func (*roundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (*roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}
func (r *roundTrips) TraceCopyFromStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceCopyFromStartData) context.Context {
	r.n.Add(1)
	return ctx
}
func (*roundTrips) TraceCopyFromEnd(context.Context, *pgx.Conn, pgx.TraceCopyFromEndData) {}
