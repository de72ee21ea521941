package eventstore

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Lead blocks until this process holds the lease name (a session-level
// advisory lock: the relay takes one per topic), trying every poll. The
// returned context ends when the lock's session is lost; release gives the
// lock up.
func (s *Postgres) Lead(ctx context.Context, name string, poll time.Duration, logger *slog.Logger) (context.Context, func(), error) {
	pooled, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, nil, err
	}
	conn := pooled.Hijack() // the lock lives as long as this session
	for {
		var got bool
		err := conn.QueryRow(ctx, `select pg_try_advisory_lock($1, hashtext($2))`, relayLockClass, name).Scan(&got)
		if err != nil {
			conn.Close(context.Background())
			return nil, nil, fmt.Errorf("try lease %s: %w", name, err)
		}
		if got {
			break
		}
		if !sleep(ctx, poll) {
			conn.Close(context.Background())
			return nil, nil, ctx.Err()
		}
	}
	leaderCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // lose the lead as soon as the session is gone
		defer wg.Done()
		defer cancel()
		// A ping that times out closes the connection, which really gives up
		// the lock: so allow a busy server plenty of time before that.
		timeout := max(10*time.Second, 3*poll)
		for sleep(leaderCtx, poll) {
			pctx, pcancel := context.WithTimeout(leaderCtx, timeout)
			err := conn.Ping(pctx)
			pcancel()
			if err != nil && leaderCtx.Err() == nil {
				logger.Error("lease session lost", "lease", name, "error", err)
				return
			}
		}
	}()
	release := func() {
		cancel()
		wg.Wait()
		conn.Close(context.Background()) // ends the session: the lock is released
	}
	return leaderCtx, release, nil
}
