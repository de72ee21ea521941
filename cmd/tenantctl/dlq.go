package main

import (
	"context"
	"fmt"

	"github.com/tenantflow/tenantflow/adapters/kafka"
	"github.com/tenantflow/tenantflow/adapters/postgres"
	"github.com/tenantflow/tenantflow/eventstore/wire"
	"github.com/tenantflow/tenantflow/handlers/deadletters"
	"github.com/tenantflow/tenantflow/internal/config"
)

type dlqCmd struct {
	List    dlqListCmd    `cmd:"" help:"Show the dead letters and the records held back behind them."`
	Redrive dlqRedriveCmd `cmd:"" help:"Release held streams and publish their records again, in order."`
}

type dlqListCmd struct{}

func (dlqListCmd) Run() error {
	ctx := context.Background()
	dl, closeAll, err := deadLetters(ctx)
	if err != nil {
		return err
	}
	defer closeAll()
	letters, err := dl.List(ctx)
	if err != nil {
		return err
	}
	if len(letters) == 0 {
		fmt.Println("no dead letters")
		return nil
	}
	for _, l := range letters {
		kind := "DEAD"
		if l.Held {
			kind = "held"
		}
		fmt.Printf("%d\t%s\t%s\t%s\t%s\t%s\n", l.ID, kind, l.Handler, l.Stream, l.Headers[wire.HeaderType], l.Reason)
	}
	return nil
}

type dlqRedriveCmd struct {
	Stream      string `help:"Only this stream (e.g. tenant-<id>); default: every held stream."`
	DiscardDead bool   `help:"Drop the dead letters themselves instead of publishing them again (for records that will never decode); the records held behind them are published."`
}

func (c dlqRedriveCmd) Run() error {
	ctx := context.Background()
	dl, closeAll, err := deadLetters(ctx)
	if err != nil {
		return err
	}
	defer closeAll()
	n, err := dl.Redrive(ctx, dl.Publisher, c.Stream, c.DiscardDead)
	if err != nil {
		return err
	}
	fmt.Printf("republished %d records\n", n)
	return nil
}

// deadLetters connects to the database and the brokers of the configuration.
func deadLetters(ctx context.Context) (*deadletters.Table, func(), error) {
	cfg, err := config.Load()
	if err != nil {
		return nil, nil, err
	}
	if cfg.EmbeddedKafka() {
		return nil, nil, fmt.Errorf("TENANTFLOW_KAFKA_BROKERS is not set: dead letters are redriven through the real brokers")
	}
	pool, err := postgres.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, nil, err
	}
	// Redriven records go back onto the event topic, which only the relay's
	// principal may write: tenantctl signs in as it (TENANTFLOW_KAFKA_RELAY_*).
	kafka.Configure(cfg.Kafka())
	pub, err := kafka.NewRelayPublisher(cfg.KafkaBrokers)
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	return &deadletters.Table{Pool: pool, Publisher: pub}, func() { _ = pub.Close(); pool.Close() }, nil
}
