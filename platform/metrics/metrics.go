// Package metrics holds tenantflow's Prometheus metrics (served on GET
// /metrics). Counters and histograms are updated where things happen; the
// gauges that describe stored state (backlog, lag, DLQ, tenants by status)
// are computed when Prometheus scrapes, by Collector.
package metrics

import (
	"context"
	"log/slog"
	"regexp"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Registry holds every tenantflow metric, plus the Go and process collectors.
var Registry = prometheus.NewRegistry()

var (
	HTTPRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tenantflow_http_requests_total",
		Help: "HTTP requests by route template, method and status."}, []string{"route", "method", "status"})
	HTTPDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tenantflow_http_request_duration_seconds",
		Help: "HTTP request latency by route template and method.", Buckets: prometheus.DefBuckets}, []string{"route", "method"})
	StepOutcomes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tenantflow_step_outcomes_total",
		Help: "Step outcomes recorded, by step and outcome (completed, skipped, failed)."}, []string{"step", "outcome"})
	StepDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tenantflow_step_duration_seconds",
		Help: "Duration of a step's work, by step.", Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}}, []string{"step"})
	StepRetries = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tenantflow_step_retries_total",
		Help: "Tries beyond the first, by step."}, []string{"step"})
	Compensations = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tenantflow_compensations_total",
		Help: "Undo outcomes (compensation and deprovisioning), by step and outcome."}, []string{"step", "outcome"})
	Published = prometheus.NewCounter(prometheus.CounterOpts{Name: "tenantflow_relay_published_total",
		Help: "Events the relay published and the broker acknowledged."})
	RelayRefused = prometheus.NewCounter(prometheus.CounterOpts{Name: "tenantflow_relay_refused_total",
		Help: "Records the broker refused for good; each holds its stream (tenantctl relay held)."})
	HandlerFailures = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tenantflow_handler_failures_total",
		Help: "Handler runs that failed and were retried (store unreachable, say), by handler."}, []string{"handler"})
	DeadLettered = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tenantflow_dead_lettered_total",
		Help: "Records set aside as dead letters (their tenant held), by handler."}, []string{"handler"})
	PublishLatency = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "tenantflow_relay_publish_latency_seconds",
		Help: "From an event's commit to the broker's acknowledgement.", Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}})
	ProjectionDelay = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "tenantflow_projection_delay_seconds",
		Help:    "From an event's commit in the log to its commit in the projections (live feed), every event counted.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}})
	ConsumedRecords = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tenantflow_consumed_records_total",
		Help: "Kafka records handed to a consumer's handler, by consumer group and result (ok, error: handed over again)."}, []string{"group", "result"})
	ConsumeSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tenantflow_consume_seconds",
		Help: "Time a consumer's handler took for a record (or a batch), by consumer group.", Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 5, 30}}, []string{"group"})
)

func init() {
	Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		HTTPRequests, HTTPDuration, StepOutcomes, StepDuration, StepRetries, Compensations, Published, RelayRefused, PublishLatency, ProjectionDelay,
		HandlerFailures, DeadLettered, ConsumedRecords, ConsumeSeconds)
}

// Collector computes the state gauges at scrape time.
type Collector struct {
	Pool *pgxpool.Pool // the projections' and the dead letters' tables
	// Log is the event store: the relay's backlog and its held records.
	Log interface {
		Behind(ctx context.Context, checkpoint string) (int64, error)
		HeldCount(ctx context.Context) (int64, error)
	}
	Brokers []string // empty: no consumer lag
	// Kafka is the client configuration the lag reading connects with
	// (kafka.SaramaConfig: the process's principal and TLS).
	Kafka       func() *sarama.Config
	Topic       string
	GroupPrefix string
	RelayName   string // the relay's checkpoint name
	Projections func(ctx context.Context) (map[string][2]float64, error)
	// Orphans counts what undos could not remove, by step and kind (the
	// resources projection); nil: not reported.
	Orphans func(ctx context.Context) (map[[2]string]int, error)
	// TenantsTable names the tenants projection's current table.
	TenantsTable func(ctx context.Context) (string, error)
	Logger       *slog.Logger

	// The last reading, served again for cacheFor: every scrape (several
	// Prometheus replicas, a dashboard) would otherwise query PostgreSQL and
	// list every Kafka consumer group.
	mu     sync.Mutex
	cached []prometheus.Metric
	at     time.Time
}

// cacheFor is how long a reading of the database and Kafka is served again.
const cacheFor = 5 * time.Second

var (
	backlogDesc  = prometheus.NewDesc("tenantflow_relay_backlog_events", "Committed events the relay has not published yet.", nil, nil)
	heldDesc     = prometheus.NewDesc("tenantflow_relay_held_records", "Records the relay set aside (refused by the broker, or held behind one) and not yet released.", nil, nil)
	dlqDesc      = prometheus.NewDesc("tenantflow_dlq_size", "Dead letters and held records not yet redriven.", nil, nil)
	tenantsDesc  = prometheus.NewDesc("tenantflow_tenants", "Tenants by status (from the tenants projection).", []string{"status"}, nil)
	projPosDesc  = prometheus.NewDesc("tenantflow_projection_lag_positions", "Log positions a projection is behind.", []string{"projection"}, nil)
	projSecDesc  = prometheus.NewDesc("tenantflow_projection_lag_seconds", "Seconds between the newest event and the newest applied one.", []string{"projection"}, nil)
	consumerDesc = prometheus.NewDesc("tenantflow_consumer_lag_records", "Records a consumer group has not committed yet.", []string{"group"}, nil)
	stuckDesc    = prometheus.NewDesc("tenantflow_provisioning_oldest_seconds", "Age of the oldest attempt still PROVISIONING.", nil, nil)
	orphansDesc  = prometheus.NewDesc("tenantflow_orphans", "Resources an undo could not remove and no operator has dealt with yet, by step and kind.", []string{"step", "kind"}, nil)
	statusNames  = []string{"ACTIVE", "PENDING_PROVISION", "PROVISIONING", "PROVISION_FAILED", "DEPROVISIONING", "INACTIVE", "SUSPENDED"}
)

func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{backlogDesc, heldDesc, dlqDesc, tenantsDesc, projPosDesc, projSecDesc, consumerDesc, stuckDesc, orphansDesc} {
		ch <- d
	}
}

// Collect serves the last reading while it is younger than cacheFor, and
// reads again otherwise.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cached == nil || time.Since(c.at) > cacheFor {
		fresh := make(chan prometheus.Metric)
		go func() {
			c.collect(fresh)
			close(fresh)
		}()
		c.cached = c.cached[:0]
		for m := range fresh {
			c.cached = append(c.cached, m)
		}
		c.at = time.Now()
	}
	for _, m := range c.cached {
		ch <- m
	}
}

func (c *Collector) collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if backlog, err := c.Log.Behind(ctx, c.RelayName); err == nil {
		ch <- prometheus.MustNewConstMetric(backlogDesc, prometheus.GaugeValue, float64(backlog))
	}
	if held, err := c.Log.HeldCount(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(heldDesc, prometheus.GaugeValue, float64(held))
	}
	var dlq float64
	if err := c.Pool.QueryRow(ctx, `select count(*) from dead_letters where released_at is null`).Scan(&dlq); err == nil {
		ch <- prometheus.MustNewConstMetric(dlqDesc, prometheus.GaugeValue, dlq)
	}
	if c.TenantsTable != nil {
		if table, err := c.TenantsTable(ctx); err == nil {
			c.tenants(ctx, ch, table)
		}
	}
	if c.Orphans != nil {
		if counts, err := c.Orphans(ctx); err == nil {
			for k, n := range counts {
				ch <- prometheus.MustNewConstMetric(orphansDesc, prometheus.GaugeValue, float64(n), k[0], k[1])
			}
		}
	}
	if c.Projections != nil {
		if lags, err := c.Projections(ctx); err == nil {
			for name, l := range lags {
				ch <- prometheus.MustNewConstMetric(projPosDesc, prometheus.GaugeValue, l[0], name)
				ch <- prometheus.MustNewConstMetric(projSecDesc, prometheus.GaugeValue, l[1], name)
			}
		}
	}
	c.consumerLag(ch)
}

// tenants reports the tenants by status and the oldest PROVISIONING attempt
// from the tenants projection's table.
func (c *Collector) tenants(ctx context.Context, ch chan<- prometheus.Metric, table string) {
	var oldest float64
	if err := c.Pool.QueryRow(ctx, `select coalesce(extract(epoch from now() - min(updated_at)), 0) from `+table+` where status = 2`).Scan(&oldest); err == nil {
		ch <- prometheus.MustNewConstMetric(stuckDesc, prometheus.GaugeValue, oldest)
	}
	rows, err := c.Pool.Query(ctx, `select status, count(*) from `+table+` group by status`)
	if err != nil {
		return
	}
	defer rows.Close()
	counts := map[int]float64{}
	for rows.Next() {
		var s int
		var n float64
		if rows.Scan(&s, &n) == nil {
			counts[s] = n
		}
	}
	for i, name := range statusNames {
		ch <- prometheus.MustNewConstMetric(tenantsDesc, prometheus.GaugeValue, counts[i], name)
	}
}

// consumerLag sums, per consumer group of this installation, the records
// between its committed offsets and the partitions' ends.
func (c *Collector) consumerLag(ch chan<- prometheus.Metric) {
	if len(c.Brokers) == 0 || c.Kafka == nil {
		return
	}
	cfg := c.Kafka()
	cfg.Net.DialTimeout, cfg.Net.ReadTimeout = 3*time.Second, 3*time.Second
	client, err := sarama.NewClient(c.Brokers, cfg)
	if err != nil {
		return
	}
	defer client.Close()
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		return
	}
	partitions, err := client.Partitions(c.Topic)
	if err != nil {
		return
	}
	ends := map[int32]int64{}
	for _, p := range partitions {
		if ends[p], err = client.GetOffset(c.Topic, p, sarama.OffsetNewest); err != nil {
			return
		}
	}
	groups, err := admin.ListConsumerGroups()
	if err != nil {
		return
	}
	for g := range groups {
		if len(g) <= len(c.GroupPrefix) || g[:len(c.GroupPrefix)+1] != c.GroupPrefix+"." {
			continue
		}
		offsets, err := admin.ListConsumerGroupOffsets(g, map[string][]int32{c.Topic: partitions})
		if err != nil {
			continue
		}
		var lag float64
		for _, p := range partitions {
			committed := int64(0)
			if b := offsets.GetBlock(c.Topic, p); b != nil && b.Offset > 0 {
				committed = b.Offset
			}
			lag += float64(ends[p] - committed)
		}
		ch <- prometheus.MustNewConstMetric(consumerDesc, prometheus.GaugeValue, lag, g)
	}
}

// Names lists the metric names tenantflow exports (histograms without
// their _bucket, _sum and _count suffixes).
func Names() []string {
	ch := make(chan *prometheus.Desc, 64)
	go func() {
		for _, c := range []prometheus.Collector{HTTPRequests, HTTPDuration, StepOutcomes, StepDuration, StepRetries,
			Compensations, Published, PublishLatency, HandlerFailures, DeadLettered, &Collector{}} {
			c.Describe(ch)
		}
		close(ch)
	}()
	var names []string
	for d := range ch {
		if m := fqName.FindStringSubmatch(d.String()); m != nil {
			names = append(names, m[1])
		}
	}
	return names
}

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)
