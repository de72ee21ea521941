// Package e2e benchmarks tenantflow end to end on the dev stack's real
// PostgreSQL and Kafka, with every external adapter (Keycloak, tenant
// database, storage, infrastructure, deployment, DNS, mail) replaced by a
// no-op at its port, so that the figures are the system's own: the API, the
// event log, the relay, eleven handler groups and the projections. The
// Temporal baseline (bench/temporal, a module of its own) runs the same
// eleven steps with the same no-op activities under the same load.
//
// Run through `make bench`; these are benchmarks, not tests, and assert no
// timing.
package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/uuid"
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
	"github.com/tenantflow/tenantflow/internal/testkit/kafkatest"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
	"github.com/tenantflow/tenantflow/migrations"
	"github.com/tenantflow/tenantflow/platform/auth"
	"github.com/tenantflow/tenantflow/platform/backoff"
	"github.com/tenantflow/tenantflow/platform/idempotency"
	"github.com/tenantflow/tenantflow/projections"
)

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

// system is one running tenantflow: API (over loopback HTTP), relay,
// handlers and live projections, like a tenantd with all roles.
type system struct {
	base    string
	token   string
	client  *http.Client
	pool    *pgxpool.Pool
	proj    *projections.Engine
	watch   *watcher
	created atomic.Int64
	ids     []string
	idsMu   sync.Mutex

	brokers       []string
	topic, groups string
}

func boot(b *testing.B) (*system, error) {
	ctx := context.Background()
	brokers := testenv.KafkaBrokers(b)
	url := testenv.NewDatabase(b)
	// pgx's default pool is 4 connections on this machine; tenantd is
	// configured the same way through TENANTFLOW_DATABASE_URL.
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	pool, err := postgres.Open(ctx, url+sep+"pool_max_conns=40")
	if err != nil {
		return nil, err
	}
	if _, err := migrations.Up(ctx, pool); err != nil {
		return nil, err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	store := eventstore.NewPostgres(pool, logger)
	run := uuid.NewString()[:8]
	topic, groups := "tenant.events.bench-"+run, "bench-"+run
	if err := kafka.CreateTopic(brokers, topic, 6); err != nil {
		return nil, err
	}
	publisher, err := kafka.NewRelayPublisher(brokers)
	if err != nil {
		return nil, err
	}
	dlq, err := kafka.NewRecordPublisher(brokers)
	if err != nil {
		return nil, err
	}
	// Everything below lives as long as the benchmark binary.
	go func() {
		_ = (&eventstore.Relay{Store: store, Publisher: publisher, Topic: topic, Logger: logger}).Run(ctx)
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
	proj := &projections.Engine{Pool: pool, Log: store, Projectors: projections.All(), Logger: logger}
	if err := proj.Ensure(ctx); err != nil {
		return nil, err
	}
	go func() { _ = proj.Live(ctx, brokers, topic, groups) }()
	w, err := watch(brokers, topic)
	if err != nil {
		return nil, err
	}

	signer, _ := auth.NewHS256("bench-secret-bench-secret-bench-secret", "tenantflow")
	token, _ := signer.Mint("bench", []string{auth.CreateTenant, auth.ProvisionTenant, auth.ViewTenant}, "", 24*time.Hour, time.Now())
	rt := api.NewRouter(nil, time.Second)
	rt.Mount(api.Deps{App: app.NewService(store, ""), Tenants: proj, Verifier: signer, Minter: signer, Idempotency: idempotency.New(pool, time.Hour), Logger: logger})
	srv := httptest.NewServer(rt)
	s := &system{base: srv.URL, token: token, pool: pool, proj: proj, watch: w, brokers: brokers, topic: topic, groups: groups,
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}}
	// One tenant through the whole flow: every consumer group has joined.
	if _, err := s.provision(ctx, "warm"); err != nil {
		return nil, fmt.Errorf("warm-up tenant: %w", err)
	}
	return s, nil
}

func (s *system) do(ctx context.Context, method, path, body string) (int, []byte, error) {
	req, _ := http.NewRequestWithContext(ctx, method, s.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+s.token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, err
}

func (s *system) create(ctx context.Context, key string) (string, error) {
	code, raw, err := s.do(ctx, http.MethodPost, "/tenants",
		`{"key":"`+key+`","name":"Bench","contact":{"email":"`+key+`@example.com","firstName":"B","lastName":"M"}}`)
	if err != nil || code != http.StatusCreated {
		return "", fmt.Errorf("POST /tenants: %d %s %v", code, raw, err)
	}
	var out struct{ ID string }
	if err := json.Unmarshal(raw, &out); err != nil {
		return "", err
	}
	s.idsMu.Lock()
	s.ids = append(s.ids, out.ID)
	s.idsMu.Unlock()
	return out.ID, nil
}

const provisionBody = `{"id":"s","subscriberId":"c","planId":"p","startDate":"2026-11-26T00:00:00Z","status":1,
	"plan":{"id":"p","name":"P","price":1,"currencyId":"EUR","tier":"pooled","billingCycleId":"monthly"}}`

// provision creates a tenant, then times its provisioning request until the
// tenant's final event (activation or rollback) is on the topic.
func (s *system) provision(ctx context.Context, key string) (time.Duration, error) {
	id, err := s.create(ctx, key)
	if err != nil {
		return 0, err
	}
	done := s.watch.expect("tenant-" + id)
	t0 := time.Now()
	code, raw, err := s.do(ctx, http.MethodPost, "/tenants/"+id+"/provision", provisionBody)
	if err != nil || code != http.StatusAccepted {
		return 0, fmt.Errorf("provision: %d %s %v", code, raw, err)
	}
	select {
	case <-done:
		return time.Since(t0), nil
	case <-time.After(2 * time.Minute):
		return 0, fmt.Errorf("tenant %s not finished after 2 minutes", key)
	}
}

func (s *system) key(prefix string) string {
	return prefix + strconv.FormatInt(s.created.Add(1), 36) // a fresh database each run: unique enough
}

// BenchmarkTenantflow runs the end-to-end benchmarks on one system (one
// database, topic and set of consumer groups, booted once).
func BenchmarkTenantflow(b *testing.B) {
	s, err := boot(b)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("Provisioning", func(b *testing.B) { provisioning(b, s) })
	b.Run("Rollback", func(b *testing.B) { rollback(b, s) })
	b.Run("REST", func(b *testing.B) { rest(b, s) })
}

// provisioning: closed loop at 32 outstanding requests, then open loops at
// fixed arrival rates; request → ACTIVE.
func provisioning(b *testing.B, s *system) {
	ctx := context.Background()
	op := func(ctx context.Context, _ int) (time.Duration, error) { return s.provision(ctx, s.key("b")) }
	// Each run also samples the projections' lag every 50 ms.
	withLag := func(b *testing.B, run func() loadgen.Result) {
		stop := make(chan struct{})
		lags := make(chan []time.Duration, 1)
		go func() { lags <- s.sampleLag(stop) }()
		cpu0 := sampleCPU()
		r := run()
		sampleCPU().report(b, cpu0, r.Done)
		close(stop)
		r.Report(b)
		b.ReportMetric(float64(loadgen.Percentile(<-lags, 99))/1e6, "proj-lag-p99-ms")
	}
	for _, outstanding := range []int{32, 128} {
		b.Run(fmt.Sprintf("closed-%d", outstanding), func(b *testing.B) {
			withLag(b, func() loadgen.Result { return loadgen.ClosedRun(ctx, outstanding, op) })
		})
	}
	rates, err := loadgen.Rates(loadgen.DefaultRates)
	if err != nil {
		b.Fatal(err)
	}
	for _, rate := range rates {
		b.Run(fmt.Sprintf("open-%g-per-s", rate), func(b *testing.B) {
			withLag(b, func() loadgen.Result { return loadgen.Open(ctx, rate, loadgen.OpenSeconds(), op) })
		})
	}
}

// sampleLag records, every 50 ms until stop, how far (in time of the log)
// the furthest-behind projection is from the newest committed event.
func (s *system) sampleLag(stop chan struct{}) []time.Duration {
	var out []time.Duration
	for {
		select {
		case <-stop:
			slices.Sort(out)
			return out
		case <-time.After(50 * time.Millisecond):
		}
		lags, err := s.proj.Lags(context.Background())
		if err != nil {
			continue
		}
		var worst float64
		for _, l := range lags {
			worst = max(worst, l.Seconds)
		}
		out = append(out, time.Duration(worst*float64(time.Second)))
	}
}

// rollback: the dns step (the last one with a back end) fails
// permanently; measured from the failure's commit to PROVISION_FAILED's
// (the rollback of six steps), and from the request.
func rollback(b *testing.B, s *system) {
	ctx := context.Background()
	n := max(loadgen.Tenants()/4, 20)
	r := loadgen.Closed(ctx, 8, n, func(ctx context.Context, _ int) (time.Duration, error) {
		return s.provision(ctx, s.key(failPrefix))
	})
	r.Report(b)
	rows, err := s.pool.Query(ctx, `
		select r.recorded_at - f.recorded_at from events f join events r using (stream_id)
		where f.event_type = 'tenant.dns.failed' and r.event_type = 'tenant.provisioning.rolled_back'`)
	if err != nil {
		b.Fatal(err)
	}
	var spans []time.Duration
	for rows.Next() {
		var d time.Duration
		if err := rows.Scan(&d); err != nil {
			b.Fatal(err)
		}
		spans = append(spans, d)
	}
	rows.Close()
	slices.Sort(spans)
	if len(spans) < r.Done {
		b.Fatalf("%d rollbacks recorded for %d failed tenants", len(spans), r.Done)
	}
	b.ReportMetric(float64(loadgen.Percentile(spans, 50))/1e6, "failure→failed-p50-ms")
	b.ReportMetric(float64(loadgen.Percentile(spans, 99))/1e6, "failure→failed-p99-ms")
}

// rest: GET /tenants/{id} of existing tenants and POST /tenants,
// each from 32 keep-alive connections for 10 s.
func rest(b *testing.B, s *system) {
	ctx := context.Background()
	s.idsMu.Lock()
	ids := append([]string(nil), s.ids...)
	s.idsMu.Unlock()
	for len(ids) < 100 {
		id, err := s.create(ctx, s.key("r"))
		if err != nil {
			b.Fatal(err)
		}
		ids = append(ids, id)
	}
	// The loops before this one leave work behind (the last tenants'
	// projections, the rollbacks' records): measure the API alone.
	kafkatest.WaitIdle(b, s.brokers, s.topic, s.groups, 2, 5*time.Minute)
	run := func(b *testing.B, op loadgen.Op) {
		// The loop stops handing out work when the 10 s are up; requests in
		// flight finish on their own context.
		window, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		r := loadgen.Closed(window, 32, 1<<30, func(_ context.Context, i int) (time.Duration, error) { return op(ctx, i) })
		b.ReportMetric(r.PerSecond(), "req/s")
		b.ReportMetric(float64(loadgen.Percentile(r.Latencies, 50))/1e6, "p50-ms")
		b.ReportMetric(float64(loadgen.Percentile(r.Latencies, 99))/1e6, "p99-ms")
		b.ReportMetric(float64(r.Failed), "failed")
	}
	b.Run("GET-tenant", func(b *testing.B) {
		run(b, func(ctx context.Context, i int) (time.Duration, error) {
			t0 := time.Now()
			code, raw, err := s.do(ctx, http.MethodGet, "/tenants/"+ids[i%len(ids)], "")
			if err != nil || code != http.StatusOK {
				return 0, fmt.Errorf("GET: %d %s %v", code, raw, err)
			}
			return time.Since(t0), nil
		})
	})
	b.Run("POST-tenants", func(b *testing.B) {
		run(b, func(ctx context.Context, i int) (time.Duration, error) {
			t0 := time.Now()
			_, err := s.create(ctx, s.key("p"))
			return time.Since(t0), err
		})
	})
}

// watcher follows the topic and closes a stream's channel when its
// provisioning finished (activated, or rolled back).
type watcher struct {
	mu      sync.Mutex
	waiting map[string]chan struct{}
	done    map[string]bool
}

func (w *watcher) expect(stream string) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	ch := make(chan struct{})
	if w.done[stream] {
		close(ch)
		return ch
	}
	w.waiting[stream] = ch
	return ch
}

func watch(brokers []string, topic string) (*watcher, error) {
	c, err := sarama.NewConsumer(brokers, kafka.SaramaConfig("bench-watcher"))
	if err != nil {
		return nil, err
	}
	parts, err := c.Partitions(topic)
	if err != nil {
		return nil, err
	}
	w := &watcher{waiting: map[string]chan struct{}{}, done: map[string]bool{}}
	for _, p := range parts {
		pc, err := c.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			return nil, err
		}
		go func() {
			for m := range pc.Messages() {
				var typ string
				for _, h := range m.Headers {
					if string(h.Key) == "ce_type" {
						typ = string(h.Value)
					}
				}
				if typ != domain.TypeTenantActivated && typ != domain.TypeProvisioningRolledBack {
					continue
				}
				stream := string(m.Key)
				w.mu.Lock()
				w.done[stream] = true
				if ch, ok := w.waiting[stream]; ok {
					close(ch)
					delete(w.waiting, stream)
				}
				w.mu.Unlock()
			}
		}()
	}
	return w, nil
}
