package eventstore

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// LeaseTimeout is how long a lease's holder may go quiet (no ping, no
// acknowledgement) before PostgreSQL ends its session and the lease is free
// for a standby: four polls, at least 5 s.
func LeaseTimeout(poll time.Duration) time.Duration { return max(5*time.Second, 4*poll) }

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
	// The server ends the session — and so releases the lock — when its
	// holder goes quiet: a frozen process (SIGSTOP, a stalled VM) sends no
	// pings, so idle_session_timeout fires; a host that is gone stops
	// acknowledging, so the keepalives and tcp_user_timeout fire. Either way
	// a standby takes over within about LeaseTimeout(poll), not after the
	// kernel's two hours.
	timeout := LeaseTimeout(poll)
	if _, err := conn.Exec(ctx, fmt.Sprintf(`set idle_session_timeout = %d; set tcp_user_timeout = %d;
		set tcp_keepalives_idle = %d; set tcp_keepalives_interval = 1; set tcp_keepalives_count = 3`,
		timeout.Milliseconds(), timeout.Milliseconds(), max(1, int(timeout.Seconds())/2))); err != nil {
		conn.Close(context.Background())
		return nil, nil, fmt.Errorf("lease %s session settings: %w", name, err)
	}
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
		pingTimeout := max(10*time.Second, 3*poll)
		for sleep(leaderCtx, poll) {
			pctx, pcancel := context.WithTimeout(leaderCtx, pingTimeout)
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
