package eventstore

import (
	"context"
	"log/slog"
	"time"
)

// The event store's ports, declared here once. Postgres implements every
// one; Memory implements Store (the in-memory store for unit tests); the
// contract suite (contract_test.go) runs against both. Nothing outside this
// package reads or writes the store's tables (events, checkpoints, seals,
// relay_held): code that needs the log takes the narrowest port it uses.

// Streams appends to and loads aggregates' streams: what a repository
// in app/ needs.
type Streams interface {
	// Append appends events to stream at the expected version, atomically;
	// a mismatch is a *ConcurrencyError, a retry of stored events succeeds.
	Append(ctx context.Context, stream string, expected ExpectedVersion, events ...NewEvent) (int64, error)
	// AppendStreams appends to several streams in one transaction, all or
	// nothing.
	AppendStreams(ctx context.Context, parts ...StreamAppend) error
	// Load returns every event of stream in version order.
	Load(ctx context.Context, stream string) ([]Event, error)
	// LoadFrom returns stream's events from version from on.
	LoadFrom(ctx context.Context, stream string, from int64) ([]Event, error)
	// StreamVersion is stream's current version (0: no events).
	StreamVersion(ctx context.Context, stream string) (int64, error)
}

// Log reads the whole log in commit order: what subscriptions, the relay
// and projections need.
type Log interface {
	// ReadAll returns up to limit events after a cursor; it never skips an
	// event whose transaction commits later (see ReadAll on Postgres).
	ReadAll(ctx context.Context, after Cursor, limit int) ([]Event, error)
	// Head is the cursor just past the last event a reader can see now.
	Head(ctx context.Context) (Cursor, error)
	// LoadFrom returns stream's events from version from on.
	LoadFrom(ctx context.Context, stream string, from int64) ([]Event, error)
	// StreamVersion is stream's current version (0: no events).
	StreamVersion(ctx context.Context, stream string) (int64, error)
	// Wakeups signals, at most once per burst, that events may have been
	// appended (by any process): readers poll less while nothing happens.
	Wakeups(ctx context.Context) <-chan struct{}
}

// Checkpoints keeps named readers' places in the log.
type Checkpoints interface {
	Checkpoint(ctx context.Context, name string) (Cursor, error)
	SaveCheckpoint(ctx context.Context, name string, c Cursor) error
}

// Counts are the log's sizes, for progress and metrics.
type Counts interface {
	// Count is the number of events in the log.
	Count(ctx context.Context) (int64, error)
	// Behind is the number of events after checkpoint name (all of them
	// when it has none): the relay's backlog.
	Behind(ctx context.Context, name string) (int64, error)
	// Tip is the global position and recording time of the last event
	// appended (zero when the log is empty).
	Tip(ctx context.Context) (position int64, recordedAt time.Time, err error)
}

// Deadlines finds requests past their deadline that nothing answered (the
// deploy step's watcher), subscriptions that ended and offboardings whose
// retention period is over (the lifecycle watcher's).
type Deadlines interface {
	Overdue(ctx context.Context, requestTypes []string, answeredBy string) ([]string, error)
	// SubscriptionsEnded names the streams whose latest provisioning
	// request's subscription ended at or before before, and that no later event
	// of one of endedBy types followed (expiry's watcher).
	SubscriptionsEnded(ctx context.Context, endedBy []string, before time.Time) ([]string, error)
	// OffboardingsDue names the streams whose latest offboarding request's
	// retention period ended at or before before, and that no later event
	// of one of endedBy types followed (the purges due).
	OffboardingsDue(ctx context.Context, endedBy []string, before time.Time) ([]string, error)
}

// Subscribed is what a Subscription follows: the log and its checkpoints.
type Subscribed interface {
	Log
	Checkpoints
}

// Store is every port above: Postgres and Memory.
type Store interface {
	Streams
	Log
	Checkpoints
	Counts
	Deadlines
}

// RelayLog is what the relay needs besides the log: one active relay per
// topic (Lead), and the records set aside because the broker refused them
// (relay_held). PostgreSQL only: the relay exists to publish a durable log.
type RelayLog interface {
	Subscribed
	// Lead blocks until this process holds the named lease, polling every
	// poll. The returned context ends when the lease is lost; release gives
	// it up.
	Lead(ctx context.Context, name string, poll time.Duration, logger *slog.Logger) (leading context.Context, release func(), err error)
	// HeldStreams lists the streams of topic with held records (only those
	// an operator asked to release, with releaseRequested).
	HeldStreams(ctx context.Context, topic string, releaseRequested bool) ([]string, error)
	// Hold sets e aside for topic; reason is the broker's refusal, or ""
	// when e is held only behind an earlier record of its stream.
	Hold(ctx context.Context, topic string, e Event, reason string) error
	// HeldPositions lists stream's held positions in topic, in order.
	HeldPositions(ctx context.Context, topic, stream string) ([]int64, error)
	// HoldAgain keeps stream held after its record at position was refused
	// again, clearing the release request.
	HoldAgain(ctx context.Context, topic, stream string, position int64, reason string) error
	// Unhold forgets the held record at position once it is published.
	Unhold(ctx context.Context, topic string, position int64) error
}

var (
	_ Store    = (*Postgres)(nil)
	_ Store    = (*Memory)(nil)
	_ RelayLog = (*Postgres)(nil)
)
