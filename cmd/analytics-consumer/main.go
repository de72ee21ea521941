// Command analytics-consumer is the reference consumer of tenant.events.v1:
// it keeps step durations in a table of its own using only the published
// contract (schemas/README.md). Settings: TENANTFLOW_DATABASE_URL,
// TENANTFLOW_KAFKA_BROKERS, TENANTFLOW_KAFKA_TOPIC, and the brokers'
// sign-in and TLS (TENANTFLOW_KAFKA_SASL_MECHANISM, _USERNAME, _PASSWORD,
// _TLS, _TLS_CA_FILE) as the analytics principal, which may read the event
// topic and write dead letters, nothing else.
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kong"
	"github.com/tenantflow/tenantflow/adapters/kafka"
	"github.com/tenantflow/tenantflow/adapters/postgres"
	"github.com/tenantflow/tenantflow/internal/config"
)

type cli struct {
	Table string `default:"analytics_step_runs" help:"Table for the step runs (and <table>_tiers)."`
	Group string `default:"analytics.step-durations" help:"Kafka consumer group."`
}

func main() {
	var c cli
	kctx := kong.Parse(&c, kong.Name("analytics-consumer"), kong.Description("Keep step durations from tenant.events.v1."))
	cfg, err := config.Load()
	kctx.FatalIfErrorf(err)
	kafka.Configure(cfg.Kafka())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	pool, err := postgres.Open(ctx, cfg.DatabaseURL)
	kctx.FatalIfErrorf(err)
	defer pool.Close()
	err = Consumer{Pool: pool, Table: c.Table, Logger: logger}.Run(ctx, cfg.KafkaBrokers, cfg.KafkaTopic, c.Group)
	if ctx.Err() == nil {
		kctx.FatalIfErrorf(err)
	}
}
