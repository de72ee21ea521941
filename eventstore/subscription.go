package eventstore

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Subscription follows the global log from a durable checkpoint: it hands
// batches of events, in log order, to Handle and saves the checkpoint after
// Handle succeeds. Delivery is at-least-once: after a crash between Handle and
// the checkpoint write, the batch is handed over again, so Handle must be
// idempotent. It is woken by appends (LISTEN/NOTIFY) and polls as a fallback.
type Subscription struct {
	// Name keys the checkpoint: a durable id, never renamed casually.
	Name   string
	Store  Subscribed
	Handle func(ctx context.Context, events []Event) error
	// Before, when set, runs before each read of the log, in the same
	// goroutine as Handle (the relay releases held streams there).
	Before func(ctx context.Context)
	Logger *slog.Logger

	BatchSize    int           // default 500
	PollInterval time.Duration // default 250ms; also the retry delay after an error
}

// Run follows the log until ctx ends; it returns ctx's error. Errors reading
// the log or from Handle are logged and retried from the same checkpoint.
func (s Subscription) Run(ctx context.Context) error {
	if s.BatchSize <= 0 {
		s.BatchSize = 500
	}
	if s.PollInterval <= 0 {
		s.PollInterval = 250 * time.Millisecond
	}
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	log := s.Logger.With("subscription", s.Name)
	wake := s.Store.Wakeups(ctx)

	var cursor Cursor
	loaded := false
	held := 0 // reads in a row that found events held back
	for ctx.Err() == nil {
		if !loaded {
			c, err := s.Store.Checkpoint(ctx, s.Name)
			if err != nil {
				log.Warn("read checkpoint failed; retrying", "error", err)
				s.pause(ctx, wake)
				continue
			}
			cursor, loaded = c, true
		}
		if s.Before != nil {
			s.Before(ctx)
		}
		next, n, err := s.step(ctx, cursor)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("subscription step failed; retrying from the checkpoint", "error", err)
			}
			s.pause(ctx, wake)
			continue
		}
		cursor = next
		switch {
		case n == s.BatchSize: // more to read
			held = 0
		case n == 0 && s.heldBack(ctx, cursor):
			// Only a read that found nothing asks: under load reads find
			// events and NOTIFYs come every few milliseconds anyway, and
			// asking after each of them cost a query a cycle.
			s.pauseFor(ctx, wake, min(time.Millisecond<<held, s.PollInterval))
			held = min(held+1, 16)
		default: // caught up: wait for news
			held = 0
			s.pause(ctx, wake)
		}
	}
	return ctx.Err()
}

// horizon is a log whose reads stop at a horizon (Postgres: the oldest
// transaction still running) and can tell whether committed events wait
// behind it.
type horizon interface {
	HeldBack(ctx context.Context, after Cursor) (bool, error)
}

// heldBack reports whether committed events after cursor wait behind the
// log's read horizon. Then the subscription looks again within a few
// milliseconds instead of at its next wakeup: the transaction holding the
// horizon may append nothing (a projection's batch, a checkpoint), so no
// NOTIFY says when it ends, and at low load a poll interval of 100 ms was a
// fifth of the hops between two provisioning steps.
func (s Subscription) heldBack(ctx context.Context, cursor Cursor) bool {
	h, ok := s.Store.(horizon)
	if !ok {
		return false
	}
	held, err := h.HeldBack(ctx, cursor)
	return err == nil && held
}

// step reads one batch after cursor, hands it over and saves the checkpoint.
func (s Subscription) step(ctx context.Context, cursor Cursor) (Cursor, int, error) {
	events, err := s.Store.ReadAll(ctx, cursor, s.BatchSize)
	if err != nil || len(events) == 0 {
		return cursor, 0, err
	}
	if err := s.Handle(ctx, events); err != nil {
		return cursor, 0, fmt.Errorf("handle %d events: %w", len(events), err)
	}
	next := events[len(events)-1].After()
	if err := s.Store.SaveCheckpoint(ctx, s.Name, next); err != nil {
		return cursor, 0, err
	}
	return next, len(events), nil
}

func (s Subscription) pause(ctx context.Context, wake <-chan struct{}) {
	s.pauseFor(ctx, wake, s.PollInterval)
}

func (s Subscription) pauseFor(ctx context.Context, wake <-chan struct{}, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-wake:
	case <-t.C:
	}
}
