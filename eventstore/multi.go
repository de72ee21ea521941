package eventstore

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// StreamAppend is one stream's part of an AppendStreams call.
type StreamAppend struct {
	Stream   string
	Expected ExpectedVersion
	Events   []NewEvent
}

// sortedStreams orders the parts by stream id: every writer takes the stream
// locks in the same order, so two multi-stream appends cannot deadlock.
func sortedStreams(parts []StreamAppend) []StreamAppend {
	out := slices.Clone(parts)
	slices.SortFunc(out, func(a, b StreamAppend) int { return strings.Compare(a.Stream, b.Stream) })
	return out
}

// AppendStreams appends to several streams in one transaction: all or
// nothing. It exists for invariants across streams, such as a tenant key
// reserved (its own stream, expected NoStream) together with the tenant's
// first event. All stream locks are taken before the first write, so the
// per-stream order guarantee of Append holds for every stream.
func (s *Postgres) AppendStreams(ctx context.Context, parts ...StreamAppend) error {
	parts = sortedStreams(parts)
	for i := range parts {
		events, err := s.sealed(ctx, parts[i].Events)
		if err != nil {
			return err
		}
		parts[i].Events = events
	}
	for _, p := range parts {
		if _, err := normalize(p.Stream, p.Events); err != nil {
			return err
		}
		if err := checkSize(p.Events, s.maxEventBytes); err != nil {
			return err
		}
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, p := range parts {
			if _, err := tx.Exec(ctx, `select pg_advisory_xact_lock(1952805748, hashtext($1))`, p.Stream); err != nil {
				return fmt.Errorf("lock %s: %w", p.Stream, err)
			}
		}
		for _, p := range parts {
			if _, err := appendWith(ctx, tx, p.Stream, p.Expected, p.Events); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.appended()
	return nil
}

// AppendStreams implements the same contract as Postgres.AppendStreams.
func (m *Memory) AppendStreams(_ context.Context, parts ...StreamAppend) error {
	parts = sortedStreams(parts)
	m.mu.Lock()
	defer m.mu.Unlock()
	batches := make([][]NewEvent, len(parts))
	for i, p := range parts {
		b, err := normalize(p.Stream, p.Events)
		if err != nil {
			return err
		}
		if err := checkSize(b, 0); err != nil {
			return err
		}
		// A part already stored (a retry) is skipped, as append_events does.
		_, done, err := m.retried(p.Stream, p.Expected, b)
		if err != nil {
			return err
		}
		if done {
			continue
		}
		if current := int64(len(m.streams[p.Stream])); p.Expected >= 0 && int64(p.Expected) != current {
			return &ConcurrencyError{Stream: p.Stream, Expected: p.Expected, Actual: current}
		}
		batches[i] = b
	}
	for i, p := range parts {
		if batches[i] != nil {
			m.appendLocked(p.Stream, batches[i])
		}
	}
	return nil
}
