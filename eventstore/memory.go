package eventstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/tenantflow/tenantflow/eventstore/wire"
)

// Memory is an in-memory event store with the same guarantees as Postgres,
// for unit tests of code built on the store. It is not durable.
type Memory struct {
	mu      sync.Mutex
	streams map[string][]Event
	byID    map[string]Event
	log     []Event
	txs     uint64
	// checkpoints and wake serve subscriptions (Subscribed).
	checkpoints map[string]Cursor
	wake        []chan struct{}
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	return &Memory{streams: map[string][]Event{}, byID: map[string]Event{}, checkpoints: map[string]Cursor{}}
}

// Append implements the same contract as Postgres.Append.
func (m *Memory) Append(_ context.Context, stream string, expected ExpectedVersion, events ...NewEvent) (int64, error) {
	batch, err := normalize(stream, events)
	if err != nil {
		return 0, err
	}
	if err := checkSize(batch, 0); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()

	current := int64(len(m.streams[stream]))
	if v, done, err := m.retried(stream, expected, batch); done || err != nil {
		return v, err
	}
	if expected >= 0 && int64(expected) != current {
		return 0, &ConcurrencyError{Stream: stream, Expected: expected, Actual: current}
	}
	m.appendLocked(stream, batch)
	return current + int64(len(batch)), nil
}

// appendLocked stores a checked batch; m.mu must be held.
func (m *Memory) appendLocked(stream string, batch []NewEvent) {
	m.txs++
	now := time.Now().UTC()
	current := int64(len(m.streams[stream]))
	for i, e := range batch {
		stored := Event{Event: wire.Event{
			ID: e.ID, Stream: stream, Version: current + int64(i) + 1, Type: e.Type,
			SchemaVersion: e.SchemaVersion, Data: compact(e.Data), Metadata: e.Metadata,
			RecordedAt: now, Position: int64(len(m.log)) + 1,
		}, TxID: m.txs}
		m.streams[stream] = append(m.streams[stream], stored)
		m.byID[e.ID] = stored
		m.log = append(m.log, stored)
	}
	for _, w := range m.wake {
		select {
		case w <- struct{}{}:
		default: // a signal is pending already
		}
	}
}

// retried reports whether batch is a retry of events already stored (done),
// or an id conflict (err).
func (m *Memory) retried(stream string, expected ExpectedVersion, batch []NewEvent) (int64, bool, error) {
	found := 0
	for _, e := range batch {
		if _, ok := m.byID[e.ID]; ok {
			found++
		}
	}
	if found == 0 {
		return 0, false, nil
	}
	first, ok := m.byID[batch[0].ID]
	same := found == len(batch) && ok && (expected < 0 || first.Version == int64(expected)+1)
	for i, e := range batch {
		s, ok := m.byID[e.ID]
		if !same || !ok || s.Stream != stream || s.Version != first.Version+int64(i) ||
			s.Type != e.Type || s.SchemaVersion != e.SchemaVersion || !bytes.Equal(s.Data, compact(e.Data)) {
			return 0, false, fmt.Errorf("append to %s: %w", stream, ErrEventConflict)
		}
	}
	return first.Version + int64(len(batch)) - 1, true, nil
}

// compact gives JSON one canonical spelling, as jsonb does for comparison.
func compact(raw json.RawMessage) json.RawMessage {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return raw
	}
	out, _ := json.Marshal(v)
	return out
}

// Load returns every event of stream in version order.
func (m *Memory) Load(ctx context.Context, stream string) ([]Event, error) {
	return m.LoadFrom(ctx, stream, 1)
}

// StreamVersion is the stream's current version (0: no events).
func (m *Memory) StreamVersion(_ context.Context, stream string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return int64(len(m.streams[stream])), nil
}

// LoadFrom returns the events of stream from version from on.
func (m *Memory) LoadFrom(_ context.Context, stream string, from int64) ([]Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	evs := m.streams[stream]
	if from < 1 {
		from = 1
	}
	if from > int64(len(evs)) {
		return nil, nil
	}
	return append([]Event(nil), evs[from-1:]...), nil
}

// Head is the cursor just past the last event appended.
func (m *Memory) Head(context.Context) (Cursor, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.log) == 0 {
		return Cursor{}, nil
	}
	return m.log[len(m.log)-1].After(), nil
}

// ReadAll returns up to limit events after cursor in global order.
func (m *Memory) ReadAll(_ context.Context, after Cursor, limit int) ([]Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Event
	for _, e := range m.log {
		if after.Less(e.After()) {
			out = append(out, e)
			if len(out) == limit {
				break
			}
		}
	}
	return out, nil
}
