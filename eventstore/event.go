// Package eventstore is tenantflow's append-only event log in PostgreSQL — the
// single source of truth for tenant state — and the relay that publishes every
// committed event to Kafka.
//
// # Guarantees
//
//   - Append writes a batch to one stream atomically, at gapless versions
//     starting at 1, or not at all. Writers of one stream are serialised; a
//     wrong expected version is a *ConcurrencyError carrying the actual version.
//   - Appending events whose ids are already stored in that stream, at that
//     place, with the same type, schema version and data, succeeds without
//     writing (a retry). The same id elsewhere or with other content is
//     ErrEventConflict. Metadata is not compared: a retry may carry a new trace.
//   - ReadAll never skips an event whose transaction commits late (below).
//
// # How ReadAll stays gap-free
//
// Positions come from a sequence at insert time, so a transaction holding
// position 5 can commit after one holding position 6: a reader that
// checkpointed 6 would never see 5. Each event therefore also records its
// writing transaction (tx_id, xid8), and readers follow the order
// (tx_id, position) up to the horizon pg_snapshot_xmin(pg_current_snapshot()):
// every transaction below it has ended, and every later transaction gets a
// larger id, so nothing can appear behind a reader's cursor. Within one stream
// the order is the version order, because append_events takes the stream's
// lock before its first write and transaction ids are assigned at first write.
//
// Limits, by design:
//   - A long-running transaction that has written anything anywhere in the
//     cluster holds the horizon back: readers and the relay wait (latency),
//     they never skip. Keep unrelated write transactions short.
//   - Transaction ids are not preserved by a logical dump and restore into a
//     new cluster: its ids restart below the stored ones, so readers would see
//     none of the restored events (they lie beyond the horizon) and new events
//     would sort before them. CheckHorizon reports this, and tenantd will not
//     start its relay until it is repaired; RepairAfterRestore
//     (run by `tenantctl migrate --repair-after-restore`) rewrites the stored
//     ids to 0 — keeping per-stream order, which follows positions — and
//     moves every checkpoint so that nothing is skipped (some events may be
//     delivered again). A physical backup (pg_basebackup) keeps ids and needs
//     nothing.
package eventstore

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/tenantflow/tenantflow/eventstore/wire"
)

// ExpectedVersion is the stream version an append requires.
type ExpectedVersion int64

const (
	// Any appends whatever the stream's version.
	Any ExpectedVersion = -1
	// NoStream requires that the stream has no events yet.
	NoStream ExpectedVersion = 0
)

// Exactly requires that the stream is at version v.
func Exactly(v int64) ExpectedVersion { return ExpectedVersion(v) }

// Metadata travels with every event; it never holds secrets.
type Metadata = wire.Metadata

// NewEvent is an event to append. ID must be a UUID; handlers derive it
// deterministically so that a redelivered trigger appends nothing new.
type NewEvent struct {
	ID            string
	Type          string
	SchemaVersion int // 0 means 1
	Data          json.RawMessage
	Metadata      Metadata
}

// Event is a stored event: what the topic carries (wire.Event) and where
// the log keeps it.
type Event struct {
	wire.Event
	TxID uint64
	// Hash chains the event to the previous one of its stream (PostgreSQL
	// only; see audit.go). Nil in the in-memory store.
	Hash []byte
}

// Cursor is a place in the global log: readers resume after it. The zero
// Cursor is the start of the log.
type Cursor struct {
	TxID     uint64
	Position int64
}

// After returns the cursor just past e.
func (e Event) After() Cursor { return Cursor{TxID: e.TxID, Position: e.Position} }

// Less orders cursors as the global log does.
func (c Cursor) Less(o Cursor) bool {
	return c.TxID < o.TxID || (c.TxID == o.TxID && c.Position < o.Position)
}

// ConcurrencyError reports an append whose expected version did not match.
type ConcurrencyError struct {
	Stream   string
	Expected ExpectedVersion
	Actual   int64
}

func (e *ConcurrencyError) Error() string {
	return fmt.Sprintf("stream %s is at version %d, expected %d", e.Stream, e.Actual, e.Expected)
}

// ErrEventConflict means an event id is already stored elsewhere or with other content.
var ErrEventConflict = errors.New("event id already stored in another place or with other content")

// ErrInvalidEvent means the batch cannot be appended as given (no events, bad id, no type, data not JSON).
var ErrInvalidEvent = errors.New("invalid event")

// DefaultMaxEventBytes caps the data of one event unless the store is given
// another cap (TENANTFLOW_MAX_EVENT_BYTES). Every event is published as one
// Kafka record, and a record the broker refuses would hold its stream: so
// the cap sits far below a broker's default message size (1 MB) and one
// input can never produce an event the bus cannot carry.
const DefaultMaxEventBytes = 64 << 10

// EventTooLargeError refuses an append whose event data is over the cap.
// Nothing of the batch is stored.
type EventTooLargeError struct {
	Type      string
	Size, Max int
}

func (e *EventTooLargeError) Error() string {
	return fmt.Sprintf("event %s would hold %d bytes of data, over the cap of %d", e.Type, e.Size, e.Max)
}

// checkSize refuses a batch holding an event whose data exceeds max
// (DefaultMaxEventBytes when max <= 0).
func checkSize(events []NewEvent, max int) error {
	if max <= 0 {
		max = DefaultMaxEventBytes
	}
	for _, e := range events {
		if len(e.Data) > max {
			return &EventTooLargeError{Type: e.Type, Size: len(e.Data), Max: max}
		}
	}
	return nil
}

// normalize checks a batch before anything is written and returns it with
// canonical (lower-case) ids and schema versions filled in.
func normalize(stream string, events []NewEvent) ([]NewEvent, error) {
	if stream == "" {
		return nil, fmt.Errorf("%w: empty stream id", ErrInvalidEvent)
	}
	if len(events) == 0 {
		return nil, fmt.Errorf("%w: no events to append to %s", ErrInvalidEvent, stream)
	}
	out := make([]NewEvent, len(events))
	seen := make(map[string]bool, len(events))
	for i, e := range events {
		id, err := uuid.Parse(e.ID)
		if err != nil || len(e.ID) != 36 {
			return nil, fmt.Errorf("%w: event %d has id %q, not a UUID", ErrInvalidEvent, i, e.ID)
		}
		e.ID = id.String()
		if seen[e.ID] {
			return nil, fmt.Errorf("%w: event id %s appears twice in one batch", ErrInvalidEvent, e.ID)
		}
		seen[e.ID] = true
		if e.Type == "" {
			return nil, fmt.Errorf("%w: event %d has no type", ErrInvalidEvent, i)
		}
		if e.SchemaVersion < 0 {
			return nil, fmt.Errorf("%w: event %d has schema version %d", ErrInvalidEvent, i, e.SchemaVersion)
		}
		if e.SchemaVersion == 0 {
			e.SchemaVersion = 1
		}
		if !json.Valid(e.Data) {
			return nil, fmt.Errorf("%w: event %d data is not JSON", ErrInvalidEvent, i)
		}
		out[i] = e
	}
	return out, nil
}
