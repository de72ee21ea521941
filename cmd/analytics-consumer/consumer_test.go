package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tenantflow/tenantflow/adapters/kafka"
	"github.com/tenantflow/tenantflow/app"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/internal/testkit/kafkatest"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
	"github.com/tenantflow/tenantflow/internal/testkit/wait"
	"github.com/tenantflow/tenantflow/projections"
)

// The reference consumer, reading only the published stream, computes the
// same step statistics as the step-statistics projection.
func TestSameNumbersAsTheProjection(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	r := relayed(t, ctx)
	brokers, pool, store, topic, log := r.brokers, r.pool, r.store, r.topic, r.log
	en := &projections.Engine{Pool: pool, Log: store, Projectors: projections.All(), Logger: log}
	if err := en.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	go func() { _ = en.FollowLog(ctx, store) }()
	// The consumer signs in as the analytics principal, which the ACLs let
	// read the topic and nothing more (the relay above keeps its own).
	before := kafka.Current()
	analytics, _ := kafkatest.Principal(t, "analytics")
	kafka.Configure(analytics)
	t.Cleanup(func() { kafka.Configure(before) })
	consumer := Consumer{Pool: pool, Table: "analytics_step_runs", Logger: log}
	go func() { _ = consumer.Run(ctx, brokers, topic, "test-analytics-"+uuid.NewString()[:8]) }()

	writeTenants(t, store)

	want := wait.Value(t, 60*time.Second, func() ([]projections.StepStat, error) {
		var projected, consumed int
		_ = pool.QueryRow(ctx, `select count(*) from `+mustSchema(t, en)+`.step_runs`).Scan(&projected)
		_ = pool.QueryRow(ctx, `select count(*) from analytics_step_runs`).Scan(&consumed)
		if projected == 0 || projected != consumed {
			return nil, fmt.Errorf("not caught up: projection %d runs, consumer %d", projected, consumed)
		}
		want, err := en.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got, err := projections.StatsFrom(ctx, pool, "analytics_step_runs")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			return nil, fmt.Errorf("consumer %+v\nprojection %+v", got, want)
		}
		return want, nil
	})
	if len(want) < 10 {
		t.Fatalf("too few statistics to compare: %+v", want)
	}
}

func mustSchema(t *testing.T, en *projections.Engine) string {
	s, err := en.Schema(context.Background(), projections.NameStats)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// writeTenants provisions six tenants on two tiers through the domain, each
// step with its own duration, one attempt failing at the database.
func writeTenants(t *testing.T, store *eventstore.Postgres) {
	ctx := context.Background()
	tenants := app.Tenants(store)
	for i := range 6 {
		tier := []string{"silo", "pooled"}[i%2]
		tn, evs, err := domain.NewTenant(uuid.NewString(), "", domain.TenantInput{Key: fmt.Sprintf("a%d%s", i, uuid.NewString()[:5]), Name: "T",
			Contact: domain.Contact{Email: "a@example.com", FirstName: "A", LastName: "B"}})
		if err != nil {
			t.Fatal(err)
		}
		if err := app.CreateTenant(ctx, store, tn, eventstore.Metadata{}, evs); err != nil {
			t.Fatal(err)
		}
		update := func(decide func(*domain.Tenant) ([]domain.Event, error)) {
			if _, err := tenants.Update(ctx, tn.ID(), eventstore.Metadata{}, decide); err != nil {
				t.Fatal(err)
			}
		}
		sub := domain.Subscription{ID: "s", SubscriberID: "c", PlanID: "p", StartDate: time.Now(), Plan: domain.Plan{ID: "p", Name: "P", Tier: tier}}
		update(func(t *domain.Tenant) ([]domain.Event, error) { return t.RequestProvisioning(sub, domain.DefaultTiers) })
		start := time.Now().UTC()
		for j, s := range domain.Steps[:len(domain.Steps)-1] {
			o := domain.StepOutcome{Step: s, Outcome: domain.OutcomeCompleted, Tries: 1, StartedAt: start,
				At: start.Add(time.Duration((i+1)*(j+1)*7) * time.Millisecond)}
			if i == 3 && s == domain.StepDatabase {
				o.Outcome, o.Error = domain.OutcomeFailed, "boom"
			}
			update(func(t *domain.Tenant) ([]domain.Event, error) { return t.RecordStep(o) })
			if o.Outcome == domain.OutcomeFailed {
				break
			}
		}
	}
}

// relay is a migrated database whose log a relay publishes, until ctx
// ends, to a topic of the test's own on the dev stack's brokers.
type relay struct {
	brokers []string
	pool    *pgxpool.Pool
	store   *eventstore.Postgres
	topic   string
	log     *slog.Logger
}

func relayed(t *testing.T, ctx context.Context) relay {
	t.Helper()
	r := relay{brokers: testenv.KafkaBrokers(t), pool: testenv.NewMigratedPool(t), log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		topic: "tenant.events.test-" + uuid.NewString()[:8]}
	r.store = eventstore.NewPostgres(r.pool, r.log)
	t.Cleanup(r.store.Close)
	if err := kafka.CreateTopic(r.brokers, r.topic, 3); err != nil {
		t.Fatal(err)
	}
	pub, err := kafka.NewRelayPublisher(r.brokers)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close() })
	go func() {
		_ = (&eventstore.Relay{Store: r.store, Publisher: pub, Topic: r.topic, Logger: r.log}).Run(ctx)
	}()
	return r
}
