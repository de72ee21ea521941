package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tenantflow/tenantflow/adapters/kafka"
	"github.com/tenantflow/tenantflow/eventstore/wire"
)

// Consumer keeps step durations from tenant.events.v1 in a table of its
// own, reading only what schemas/README.md promises: each record a
// CloudEvent in Kafka's binary mode, read with the CloudEvents SDK as any
// downstream consumer would, whose data is {streamVersion, data}. It
// deliberately does not use tenantflow's domain package.
type Consumer struct {
	Pool   *pgxpool.Pool
	Table  string // step runs; <Table>_tiers holds each tenant's plan tier
	Logger *slog.Logger
}

// outcomeType matches tenant.<step>.<outcome> for the outcomes of a step run.
var outcomeType = regexp.MustCompile(`^tenant\.([a-z_]+)\.(completed|skipped|failed)$`)

// Setup creates the tables if they do not exist.
func (c Consumer) Setup(ctx context.Context) error {
	runs, tiers := pgx.Identifier{c.Table}.Sanitize(), pgx.Identifier{c.Table + "_tiers"}.Sanitize()
	_, err := c.Pool.Exec(ctx, `create table if not exists `+tiers+` (tenant_id text primary key, tier text not null);
		create table if not exists `+runs+` (
			tenant_id text not null, attempt integer not null, step text not null, tier text not null,
			outcome text not null, duration_ms double precision not null,
			primary key (tenant_id, attempt, step))`)
	return err
}

// cloudEvent reads a record as the CloudEvent it carries (binary mode: its
// attributes in ce_* headers, its data the record's value).
func cloudEvent(ctx context.Context, msg *message.Message) (*event.Event, error) {
	headers := make(map[string][]byte, len(msg.Metadata))
	for k, v := range msg.Metadata {
		headers[strings.ToLower(k)] = []byte(v)
	}
	ev, err := binding.ToEvent(ctx, kafka_sarama.NewMessage(msg.Payload, msg.Metadata.Get("content-type"), headers))
	if err != nil {
		return nil, err
	}
	return ev, ev.Validate()
}

// Handle applies one event. Duplicates change nothing (primary keys).
func (c Consumer) Handle(ctx context.Context, ev *event.Event) error {
	var payload struct {
		Data json.RawMessage `json:"data"`
	}
	if err := ev.DataAs(&payload); err != nil {
		c.Logger.Warn("skipping an event whose data is not {streamVersion, data}", "id", ev.ID())
		return nil
	}
	typ := ev.Type()
	tenant, ok := wire.TenantOf(ev.Subject())
	if !ok {
		return nil
	}
	if typ == "tenant.provisioning.requested" {
		var d struct {
			Subscription struct {
				Plan struct {
					Tier string `json:"tier"`
				} `json:"plan"`
			} `json:"subscription"`
		}
		if err := json.Unmarshal(payload.Data, &d); err != nil {
			return nil
		}
		_, err := c.Pool.Exec(ctx, `insert into `+pgx.Identifier{c.Table + "_tiers"}.Sanitize()+` (tenant_id, tier) values ($1, $2)
			on conflict (tenant_id) do update set tier = excluded.tier`, tenant, d.Subscription.Plan.Tier)
		return err
	}
	m := outcomeType.FindStringSubmatch(typ)
	if m == nil {
		return nil // other types, and types this consumer does not know
	}
	var d struct {
		Attempt    int       `json:"attempt"`
		StartedAt  time.Time `json:"startedAt"`
		FinishedAt time.Time `json:"finishedAt"`
	}
	if err := json.Unmarshal(payload.Data, &d); err != nil {
		return nil
	}
	ms := 0.0
	if !d.StartedAt.IsZero() && !d.FinishedAt.IsZero() {
		ms = float64(d.FinishedAt.Sub(d.StartedAt).Microseconds()) / 1000
	}
	_, err := c.Pool.Exec(ctx, `insert into `+pgx.Identifier{c.Table}.Sanitize()+` (tenant_id, attempt, step, tier, outcome, duration_ms)
		values ($1, $2, $3, coalesce((select tier from `+pgx.Identifier{c.Table + "_tiers"}.Sanitize()+` where tenant_id = $1), ''), $4, $5)
		on conflict do nothing`, tenant, d.Attempt, m[1], m[2], ms)
	return err
}

// Run consumes topic in consumer group group until ctx ends, one tenant's
// records in order. A record whose handling panics is set aside on the
// topic's dead-letter topic; any other failure (its database unreachable)
// is retried until it passes, so no step run is lost to an outage.
func (c Consumer) Run(ctx context.Context, brokers []string, topic, group string) error {
	if err := c.Setup(ctx); err != nil {
		return fmt.Errorf("create tables: %w", err)
	}
	pub, err := kafka.NewRecordPublisher(brokers)
	if err != nil {
		return err
	}
	defer pub.Close()
	sub, err := kafka.NewSubscriber(brokers, group, c.Logger)
	if err != nil {
		return err
	}
	router, err := kafka.NewRouter(pub, topic, c.Logger)
	if err != nil {
		return err
	}
	router.AddConsumerHandler(group, topic, sub, func(msg *message.Message) error {
		ev, err := cloudEvent(msg.Context(), msg)
		if err != nil {
			c.Logger.Warn("skipping a record that is not a CloudEvent", "error", err, "partition_key", msg.Metadata.Get(kafka.KeyMetadata))
			return nil
		}
		return c.Handle(msg.Context(), ev)
	})
	return router.Run(ctx)
}
