package middleware

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/tenantflow/tenantflow/adapters/kafka"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/eventstore/wire"
	"github.com/tenantflow/tenantflow/platform/metrics"
	"go.opentelemetry.io/otel/trace"
)

// Store is where dead letters are kept: the table (package deadletters),
// or a map in the choreography's in-memory tests. Put keeps a record for
// handler (held: it was held back behind an earlier one); Holding says
// whether handler still holds stream back (a redrive, from any process,
// releases it); HoldAll lists every {handler, stream} held.
type Store interface {
	Put(ctx context.Context, handler, stream, topic string, held bool, reason string, r kafka.Record) error
	Holding(ctx context.Context, handler, stream string) (bool, error)
	HoldAll(ctx context.Context) (map[[2]string]bool, error)
}

// DeadLetters sets aside what a handler cannot handle and holds the rest of
// that tenant's stream back from it, so that the tenant's order holds and
// every other tenant goes on. What it holds is known in memory, so a record
// costs no query: loaded when the consumer is given partitions (Load),
// added to when this process dead-letters a record, and confirmed against
// the store before a record is held (a redrive, from any process, releases
// rows).
type DeadLetters struct {
	store  Store
	prefix string // handler h is named prefix.h in the store (its consumer group's name of old)
	topic  string
	logger *slog.Logger
	mu     sync.Mutex
	held   map[[2]string]bool // {name in the store, stream}
}

// NewDeadLetters keeps dead letters in store, naming handler h prefix.h.
func NewDeadLetters(store Store, prefix, topic string, logger *slog.Logger) *DeadLetters {
	return &DeadLetters{store: store, prefix: prefix, topic: topic, logger: logger, held: map[[2]string]bool{}}
}

func (d *DeadLetters) name(handler string) string { return d.prefix + "." + handler }

// Load replaces what is known held with the store's unreleased holds.
func (d *DeadLetters) Load(ctx context.Context) error {
	held, err := d.store.HoldAll(ctx)
	if err != nil {
		return fmt.Errorf("load dead-letter holds: %w", err)
	}
	d.mu.Lock()
	d.held = held
	d.mu.Unlock()
	return nil
}

// Put sets r aside for each of handlers, holding the stream's later records
// back from them, and tells whoever watches the dead-letter topic.
func (d *DeadLetters) Put(ctx context.Context, handlers []string, r kafka.Record, reason string) error {
	stream := r.Headers[wire.HeaderSubject]
	d.logger.Error("dead letter: the record is set aside and its stream held back", "stream", stream, "reason", reason, wire.HeaderID, r.Headers[wire.HeaderID])
	for _, h := range handlers {
		if err := d.store.Put(ctx, d.name(h), stream, d.topic, false, reason, r); err != nil {
			return err
		}
		d.mu.Lock()
		d.held[[2]string{d.name(h), stream}] = true
		d.mu.Unlock()
		metrics.DeadLettered.WithLabelValues(h).Inc()
	}
	return nil
}

// SetAside keeps a record that is not an event of this log — the relay
// never writes one without its headers or its {streamVersion, data}
// payload, so an outside producer (or a bug elsewhere) did — as one dead
// letter naming no stream: operators see it (tenantctl deadletters, the
// dead-letter topic), and no tenant is held behind a record that was never
// its own.
func (d *DeadLetters) SetAside(ctx context.Context, r kafka.Record, reason string) error {
	reason = "not an event of this log: " + reason
	d.logger.Error("dead letter: a record that is not an event of this log is set aside", "claims_stream", r.Headers[wire.HeaderSubject],
		"reason", reason, wire.HeaderID, r.Headers[wire.HeaderID], "partition", r.Partition, "offset", r.Offset)
	metrics.DeadLettered.WithLabelValues("foreign").Inc()
	return d.store.Put(ctx, d.name("handlers"), "", d.topic, false, reason, r)
}

// Log is the log's reading of one stream from a version on.
type Log func(ctx context.Context, stream string, from int64) ([]eventstore.Event, error)

// Screen sets aside a record that is not an event of this log, and
// dead-letters for every one of reacting a record whose payload this version
// cannot read, saying whether it took the record. Such a well-formed record
// holds its stream back only if the log holds an event of that id at that
// version (written by a newer tenantflow, say); otherwise it was never the
// stream's own and is set aside.
func (d *DeadLetters) Screen(ctx context.Context, r kafka.Record, reacting []string, log Log) (taken bool, err error) {
	var p wire.Payload
	if err := json.Unmarshal(r.Value, &p); err != nil || p.StreamVersion < 1 || len(p.Data) == 0 {
		return true, d.SetAside(ctx, r, fmt.Sprintf("payload is not {streamVersion, data}: %v", err))
	}
	_, err = domain.DecodeVersion(r.Headers[wire.HeaderType], wire.SchemaVersion(r.Headers), p.Data)
	if err == nil {
		return false, nil
	}
	reason := err.Error()
	logged, err := log(ctx, r.Headers[wire.HeaderSubject], p.StreamVersion)
	if err == nil && (len(logged) == 0 || logged[0].Version != p.StreamVersion || logged[0].ID != r.Headers[wire.HeaderID]) {
		return true, d.SetAside(ctx, r, reason)
	}
	return true, d.Put(ctx, reacting, r, reason) // ours, or cannot tell: hold (a redrive releases it)
}

// holding reports whether handler holds stream back.
func (d *DeadLetters) holding(ctx context.Context, handler, stream string) (bool, error) {
	k := [2]string{d.name(handler), stream}
	d.mu.Lock()
	known := d.held[k]
	d.mu.Unlock()
	if !known {
		return false, nil
	}
	held, err := d.store.Holding(ctx, k[0], stream)
	if err == nil && !held {
		d.mu.Lock()
		delete(d.held, k)
		d.mu.Unlock()
	}
	return held, err
}

// Hold keeps a record of a stream held behind a dead letter aside for
// handler (recorded as held), without running it.
func (d *DeadLetters) Hold(handler string) Middleware {
	return func(next Func) Func {
		return func(ctx context.Context, r kafka.Record) error {
			stream := r.Headers[wire.HeaderSubject]
			held, err := d.holding(ctx, handler, stream)
			if err != nil {
				return err
			}
			if held {
				return d.store.Put(ctx, d.name(handler), stream, d.topic, true, "held behind a dead letter of this stream", r)
			}
			return next(ctx, r)
		}
	}
}

// Catch dead-letters, for handler, a record whose handling panicked, read
// an event this version cannot, or failed every try (Retry's *Exhausted);
// a record of a tenant this log does not hold is ignored.
func (d *DeadLetters) Catch(handler string) Middleware {
	return func(next Func) Func {
		return func(ctx context.Context, r kafka.Record) error {
			err := next(ctx, r)
			var p *kafka.PanicError
			var ex *Exhausted
			switch {
			case err == nil:
				return nil
			case ctx.Err() != nil:
				return ctx.Err() // shutting down or the partition moved: the record comes again
			case errors.Is(err, domain.ErrNotFound):
				// The log holds every event the topic carries, so this is a record
				// from another log (a topic shared across databases): not ours.
				d.logger.Warn("event for a tenant this log does not hold; ignored", "handler", handler, "stream", r.Headers[wire.HeaderSubject])
				return nil
			case errors.As(err, &p):
				// A bug, not an outage: retrying the same record panics again.
				d.logger.Error("handler panicked; the record is dead-lettered and its tenant held", "handler", handler,
					"type", r.Headers[wire.HeaderType], "panic", p.Value, "stack", p.Stack)
				trace.SpanFromContext(ctx).RecordError(err)
				return d.Put(ctx, []string{handler}, r, p.Error())
			case errors.Is(err, domain.ErrUndecodable), errors.As(err, &ex):
				trace.SpanFromContext(ctx).RecordError(err)
				return d.Put(ctx, []string{handler}, r, err.Error())
			}
			return err
		}
	}
}
