package service

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/tenantflow/tenantflow/platform/idempotency"
	"golang.org/x/sync/errgroup"
)

// component is one part of tenantd (a role, or what a role needs): it runs
// until ctx ends and returns an error only when it cannot go on. Parts that
// wait out an outage (a broker down, a database restarting) retry inside
// Run and never return for it.
type component struct {
	name string
	// afterStartup makes it wait until the event log is up (migrated, the
	// topic there): the relay, the sealer, the handlers and the projections.
	afterStartup bool
	run          func(ctx context.Context) error
}

// supervise runs front (the HTTP server) and the workers under one errgroup
// until ctx ends or one of them fails. On ctx's end front drains first —
// requests in flight finish — and only then do the workers stop, so a
// request never finds the parts it needs gone. The first failure stops
// everything, and supervise returns it: tenantd exits non-zero and its
// supervisor (systemd, Kubernetes) starts it again, rather than it running
// on without one of its parts.
func supervise(ctx context.Context, logger *slog.Logger, up *startup, front component, workers []component) error {
	g, failed := errgroup.WithContext(context.WithoutCancel(ctx))
	workCtx, stopWorkers := context.WithCancel(failed)
	defer stopWorkers()
	frontCtx, stopFront := context.WithCancel(failed)
	defer stopFront()
	stopOnSignal := context.AfterFunc(ctx, stopFront)
	defer stopOnSignal()

	start := func(ctx context.Context, c component) {
		g.Go(func() error {
			if c.afterStartup && !up.wait(ctx) {
				return nil
			}
			if err := c.run(ctx); err != nil && ctx.Err() == nil {
				logger.Error("a part of tenantd stopped; stopping the others", "part", c.name, "error", err)
				return fmt.Errorf("%s: %w", c.name, err)
			}
			return nil
		})
	}
	for _, c := range workers {
		start(workCtx, c)
	}
	g.Go(func() error {
		defer stopWorkers() // front has drained: the workers may stop now
		if err := front.run(frontCtx); err != nil {
			logger.Error("a part of tenantd stopped; stopping the others", "part", front.name, "error", err)
			return fmt.Errorf("%s: %w", front.name, err)
		}
		return nil
	})
	return g.Wait()
}

// purge deletes expired Idempotency-Key records every hour.
func purge(s *idempotency.Store, logger *slog.Logger) component {
	return component{name: "purge", run: func(ctx context.Context) error {
		t := time.NewTicker(time.Hour)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
				if n, err := s.Purge(ctx); err != nil {
					logger.Warn("purging expired idempotency keys failed", "error", err)
				} else if n > 0 {
					logger.Info("purged expired idempotency keys", "count", n)
				}
			}
		}
	}}
}
