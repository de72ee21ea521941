package eventstore

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
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
	requests := make([]*appendRequest, len(parts))
	for i, p := range parts {
		events, err := s.sealed(ctx, p.Events)
		if err != nil {
			return err
		}
		if events, err = normalize(p.Stream, events); err != nil {
			return err
		}
		if err := checkSize(events, s.maxEventBytes); err != nil {
			return err
		}
		meta, err := encodeMetadata(events)
		if err != nil {
			return err
		}
		requests[i] = &appendRequest{stream: p.Stream, expected: p.Expected, events: events, meta: meta}
	}
	// One statement: its own transaction, every lock taken before the first
	// write (append_events_all, migration 00018).
	rows, _ := s.pool.Query(ctx, `select append_events_all($1, $2, $3, $4::uuid[], $5, $6, $7::jsonb[], $8::jsonb[])`, partsArgs(requests)...)
	rows.Close()
	if err := rows.Err(); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) { // a part refused names its stream in HINT
			if i := slices.IndexFunc(parts, func(p StreamAppend) bool { return p.Stream == pgErr.Hint }); i >= 0 {
				return appendError(parts[i].Stream, parts[i].Expected, err)
			}
		}
		names := make([]string, len(parts)) // not a part's refusal: an id stored concurrently, the database gone
		for i, p := range parts {
			names[i] = p.Stream
		}
		return appendError(strings.Join(names, ", "), Any, err)
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
