// Package e2e benchmarks tenantflow end to end on the dev stack's real
// PostgreSQL and Kafka, with every external adapter (Keycloak, tenant
// database, storage, infrastructure, deployment, DNS, mail) replaced by a
// no-op at its port, so that the figures are the system's own: the API, the
// event log, the relay, eleven handler groups and the projections. The
// Temporal baseline (bench/temporal, a module of its own) runs the same
// eleven steps with the same no-op activities under the same load.
//
// tenantflow runs as a process of its own in its production configuration
// (tenantd_test.go); this process is the load generator, so the CPU split
// names each apart.
//
// Run through `make bench`; these are benchmarks, not tests, and assert no
// timing.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
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
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/internal/loadgen"
	"github.com/tenantflow/tenantflow/internal/testkit/kafkatest"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
	"github.com/tenantflow/tenantflow/platform/auth"
)

// system is one running tenantflow, as a child process (tenantd_test.go),
// and the benchmark's side of it: the URLs it serves, an operator's RS256
// token, the database (as its owner: the rollback's records, VACUUM
// ANALYZE, commit counts) and the topic watcher.
type system struct {
	base, control string
	token         string
	client        *http.Client
	pool          *pgxpool.Pool
	watch         *watcher
	tenantd       int // its pid
	created       atomic.Int64
	ids           []string
	idsMu         sync.Mutex

	brokers       []string
	topic, groups string
}

func boot(b *testing.B) (*system, error) {
	ctx := context.Background()
	brokers := testenv.KafkaBrokers(b)
	url := testenv.NewDatabase(b)
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, err
	}
	b.Cleanup(pool.Close)
	run := uuid.NewString()[:8]
	topic, groups := "tenant.events.bench-"+run, "bench-"+run
	if err := kafka.CreateTopic(brokers, topic, 6); err != nil {
		return nil, err
	}
	keys, err := newOperators()
	if err != nil {
		return nil, err
	}
	jwks := httptest.NewServer(keys)
	b.Cleanup(jwks.Close)
	token, err := keys.mint([]string{auth.CreateTenant, auth.ProvisionTenant, auth.ViewTenant})
	if err != nil {
		return nil, err
	}

	child, line, err := loadgen.StartRole("tenantd", childOwnerURL+"="+url, childURL+"="+testenv.RuntimeURL(b, url),
		childTopic+"="+topic, childGroups+"="+groups, childJWKS+"="+jwks.URL)
	if err != nil {
		return nil, err
	}
	b.Cleanup(child.Stop)
	var apiURL, controlURL string
	if _, err := fmt.Sscanf(line, "api=%s control=%s", &apiURL, &controlURL); err != nil {
		return nil, fmt.Errorf("tenantd said %q: %w", line, err)
	}
	w, err := watch(brokers, topic)
	if err != nil {
		return nil, err
	}
	s := &system{base: apiURL, control: controlURL, token: token, pool: pool, watch: w, tenantd: child.Pid,
		brokers: brokers, topic: topic, groups: groups,
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
	if method == http.MethodPost { // as a production client does: a retried POST is answered once
		req.Header.Set("Idempotency-Key", uuid.NewString())
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
	// Each run also records every event's projection lag.
	withLag := func(b *testing.B, run func() loadgen.Result) {
		s.vacuum(b)
		s.call(b, "POST", "/delays/start", nil)
		cpu0, pg0 := s.sampleCPU(), s.counts(b)
		r := run()
		s.sampleCPU().Report(b, cpu0, r.Done)
		s.counts(b).report(b, pg0, r.Done)
		// The last tenants' events reach the projections after the loop.
		kafkatest.WaitIdle(b, s.brokers, s.topic, s.groups, 2, 5*time.Minute)
		var lags []time.Duration
		s.call(b, "POST", "/delays/stop", &lags)
		r.Report(b)
		b.ReportMetric(float64(loadgen.Percentile(lags, 50))/1e6, "proj-lag-p50-ms")
		b.ReportMetric(float64(loadgen.Percentile(lags, 99))/1e6, "proj-lag-p99-ms")
		b.ReportMetric(float64(loadgen.Percentile(lags, 100))/1e6, "proj-lag-max-ms")
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

// vacuum runs VACUUM ANALYZE on the benchmark's database before a loop, as
// the baseline's benchmark does on its own: each loop starts from the same
// kind of table, not from the dead rows of the loop before.
func (s *system) vacuum(b *testing.B) {
	if _, err := s.pool.Exec(context.Background(), "vacuum analyze"); err != nil {
		b.Fatal(err)
	}
}

// call asks tenantd's control listener (the benchmark's, not the API) and
// decodes its JSON answer into out, unless out is nil.
func (s *system) call(b *testing.B, method, path string, out any) {
	req, _ := http.NewRequest(method, s.control+path, nil)
	resp, err := s.client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("%s %s: %s", method, path, resp.Status)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			b.Fatal(err)
		}
	}
}

// pgCounts are what PostgreSQL did for tenantd: the transactions that
// wrote (each is given a transaction id; reads are not, so this counts the
// commits that flush the WAL, across the cluster: nothing else writes during
// a loop) and the round trips tenantd's pool made (counted in tenantd by a
// pgx tracer).
type pgCounts struct{ commits, roundTrips int64 }

func (s *system) counts(b *testing.B) pgCounts {
	var c pgCounts
	// Reading the counter takes a transaction id itself: one per sample.
	if err := s.pool.QueryRow(context.Background(), `select pg_current_xact_id()::text::bigint`).Scan(&c.commits); err != nil {
		b.Fatal(err)
	}
	s.call(b, "GET", "/round-trips", &c.roundTrips)
	return c
}

func (after pgCounts) report(b *testing.B, before pgCounts, tenants int) {
	if tenants == 0 {
		return
	}
	b.ReportMetric(float64(after.commits-before.commits-1)/float64(tenants), "commits/tenant")
	b.ReportMetric(float64(after.roundTrips-before.roundTrips)/float64(tenants), "round-trips/tenant")
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
		s.vacuum(b) // as before every provisioning loop: no autovacuum of the loops before inside this one
		window, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		cpu0 := s.sampleCPU()
		r := loadgen.Closed(window, 32, 1<<30, func(_ context.Context, i int) (time.Duration, error) { return op(ctx, i) })
		s.sampleCPU().ReportPer(b, cpu0, r.Done, "request")
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
