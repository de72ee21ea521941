package main

import (
	"context"
	"fmt"
	"regexp"

	"github.com/google/uuid"
	"github.com/tenantflow/tenantflow/eventstore/wire"
)

type relayCmd struct {
	Held    relayHeldCmd    `cmd:"" help:"Show the records the broker refused for good, and the records of their streams held behind them."`
	Release relayReleaseCmd `cmd:"" help:"Ask the active relay to publish a held stream's records again, in order (after fixing the cause, e.g. the topic's max.message.bytes)."`
}

type relayHeldCmd struct{}

func (relayHeldCmd) Run() error {
	ctx := context.Background()
	store, _, closeStore, err := openStore(ctx)
	if err != nil {
		return err
	}
	defer closeStore()
	held, err := store.ListHeld(ctx)
	if err != nil {
		return err
	}
	if len(held) == 0 {
		fmt.Println("no held records")
		return nil
	}
	for _, h := range held {
		kind, reason := "held", "behind a refused record of its stream"
		if h.Reason != "" {
			kind, reason = "REFUSED", h.Reason
		}
		if h.ReleaseRequested {
			kind += " (release requested)"
		}
		fmt.Printf("%s\t%d\t%s\t%s\t%s\t%s\t%s\n", h.Topic, h.Position, kind, h.Stream, h.EventType, h.HeldAt.Format("2006-01-02T15:04:05Z07:00"), reason)
	}
	return nil
}

type relayReleaseCmd struct {
	Stream string `arg:"" help:"The held stream (tenant-<id>, lead-<id>), or a tenant id."`
}

var streamName = regexp.MustCompile(`^(tenant|lead|tenantkey)-[a-z0-9-]{1,64}$`)

func (c relayReleaseCmd) Run() error {
	ctx := context.Background()
	stream := c.Stream
	if _, err := uuid.Parse(stream); err == nil {
		stream = wire.TenantStream(stream)
	}
	if !streamName.MatchString(stream) {
		return fmt.Errorf("%q is neither a stream id (tenant-<id>) nor a tenant id", c.Stream)
	}
	store, cfg, closeStore, err := openStore(ctx)
	if err != nil {
		return err
	}
	defer closeStore()
	n, err := store.RequestRelease(ctx, cfg.KafkaTopic, stream)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%s holds no records on %s", stream, cfg.KafkaTopic)
	}
	fmt.Printf("release of %s requested: the active relay publishes its %d held records in order (tenantctl relay held shows what is left)\n", stream, n)
	return nil
}
