package eventstore

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/tenantflow/tenantflow/eventstore/wire"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Topic is where the relay publishes every committed event.
const Topic = wire.Topic

// relayLockClass is the first key of the relay's advisory lock (the second is
// the topic's hash), distinct from append_events' stream locks.
const relayLockClass = 1952805749

// Publisher is what the relay needs from the bus: Publish returns once the
// broker acknowledged every message (watermill-kafka's sync publisher).
type Publisher interface {
	Publish(topic string, msgs ...*message.Message) error
}

// Relay publishes every committed event, in log order, to Topic as a
// CloudEvents 1.0 binary-mode record keyed by stream id. The events table is
// the outbox: the relay is a Subscription whose checkpoint advances only after
// the broker acknowledged the batch, so a crash repeats records, never skips
// them. Exactly one relay per topic is active (a PostgreSQL session advisory
// lock); the others stand by and take over when its session ends.
type Relay struct {
	Store     RelayLog
	Publisher Publisher
	Logger    *slog.Logger
	Topic     string // default Topic
	// OnPublished, when set, sees every batch the broker acknowledged
	// (metrics: count and commit-to-ack latency).
	OnPublished func(events []Event)
	Source      string // CloudEvents source; default "tenantflow"

	// Lanes publish different streams concurrently; one stream always uses
	// the same lane, in order, so its records stay in version order.
	Lanes        int           // default 16
	BatchSize    int           // default 500
	PollInterval time.Duration // default 100ms
	StandbyPoll  time.Duration // how often a standby tries to take over; default 1s

	// Refused reports whether a publish error means the broker refuses the
	// record for good (adapters/kafka.Refused): the record is set aside and
	// its stream held (relayhold.go). Nil: every error is retried.
	Refused func(error) bool
	// OnHeld, when set, sees every record set aside (metrics); reason is ""
	// for a record held behind a refused one of its stream.
	OnHeld func(e Event, reason string)
	// ReleaseCheck is how often the active relay looks for streams an
	// operator released; default 1s.
	ReleaseCheck time.Duration

	held             map[string]bool // streams held; only the Run goroutine touches it
	releaseCheckedAt time.Time

	active atomic.Bool
	// afterAck, for tests, runs after the broker acknowledged a batch and
	// before the checkpoint is written.
	afterAck func(context.Context, []Event)
}

// Active reports whether this instance currently holds the relay lock.
func (r *Relay) Active() bool { return r.active.Load() }

// Run relays until ctx ends, standing by while another instance is active.
func (r *Relay) Run(ctx context.Context) error {
	r.defaults()
	for ctx.Err() == nil {
		leaderCtx, release, err := r.Store.Lead(ctx, r.Topic, r.StandbyPoll, r.Logger)
		if err != nil {
			if ctx.Err() == nil {
				r.Logger.Warn("relay: cannot take the lead; retrying", "error", err)
				sleep(ctx, r.StandbyPoll)
			}
			continue
		}
		if err := r.loadHeld(leaderCtx); err != nil {
			release()
			r.Logger.Warn("relay: cannot start; retrying", "error", err)
			sleep(ctx, r.StandbyPoll)
			continue
		}
		r.Logger.Info("relay active", "topic", r.Topic)
		r.active.Store(true)
		_ = Subscription{
			Name: "relay:" + r.Topic, Store: r.Store, Logger: r.Logger, Handle: r.relayBatch, Before: r.releaseRequested,
			BatchSize: r.BatchSize, PollInterval: r.PollInterval,
		}.Run(leaderCtx)
		r.active.Store(false)
		release()
		if ctx.Err() == nil {
			r.Logger.Warn("relay lost the lead; standing by", "topic", r.Topic)
		}
	}
	return ctx.Err()
}

// Republish publishes stored events again, exactly as the relay did (same
// ce_id, key and headers): consumers must treat them as the duplicates they
// are. For operators' replays and for redelivery tests; it takes no lock
// and moves no checkpoint.
func (r *Relay) Republish(ctx context.Context, events []Event) error {
	r.defaults()
	return r.publish(ctx, events)
}

func (r *Relay) defaults() {
	if r.Topic == "" {
		r.Topic = Topic
	}
	if r.Source == "" {
		r.Source = "tenantflow"
	}
	if r.Lanes <= 0 {
		r.Lanes = 16
	}
	if r.BatchSize <= 0 {
		r.BatchSize = 500
	}
	if r.PollInterval <= 0 {
		r.PollInterval = 100 * time.Millisecond
	}
	if r.StandbyPoll <= 0 {
		r.StandbyPoll = time.Second
	}
	if r.ReleaseCheck <= 0 {
		r.ReleaseCheck = time.Second
	}
	if r.Logger == nil {
		r.Logger = slog.Default()
	}
}

// publish sends one batch, lane by lane, and returns once every record is
// acknowledged.
func (r *Relay) publish(ctx context.Context, events []Event) error {
	if len(events) == 0 {
		return nil
	}
	lanes := make([][]*message.Message, r.Lanes)
	// Each event's publication is a span in the event's own trace.
	spans := make([]trace.Span, 0, len(events))
	defer func() {
		for _, s := range spans {
			s.End()
		}
	}()
	for _, e := range events {
		if e.Metadata.TraceParent != "" {
			ectx := otel.GetTextMapPropagator().Extract(ctx, propagation.MapCarrier{"traceparent": e.Metadata.TraceParent, "tracestate": e.Metadata.TraceState})
			_, s := otel.Tracer("github.com/tenantflow/tenantflow").Start(ectx, "relay publish "+e.Type, trace.WithSpanKind(trace.SpanKindProducer))
			spans = append(spans, s)
		}
		msg, err := r.toMessage(e)
		if err != nil {
			return err
		}
		h := fnv.New32a()
		h.Write([]byte(e.Stream))
		i := int(h.Sum32() % uint32(r.Lanes))
		lanes[i] = append(lanes[i], msg)
	}
	var wg sync.WaitGroup
	errs := make([]error, r.Lanes)
	for i, msgs := range lanes {
		if len(msgs) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = r.Publisher.Publish(r.Topic, msgs...)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("publish to %s: %w", r.Topic, err)
	}
	if r.OnPublished != nil {
		r.OnPublished(events)
	}
	if r.afterAck != nil {
		r.afterAck(ctx, events)
	}
	return nil
}

// toMessage maps an event onto the CloudEvents Kafka binding, binary mode.
// Extension names are lower-case letters and digits, as the spec requires.
func (r *Relay) toMessage(e Event) (*message.Message, error) {
	headers, value, err := wire.Encode(e.Event, r.Source)
	if err != nil {
		return nil, err
	}
	m := message.NewMessage(e.ID, value)
	for k, v := range headers {
		m.Metadata.Set(k, v)
	}
	m.Metadata.Set("partition_key", e.Stream) // = adapters/kafka.KeyMetadata: the record key
	return m, nil
}

// sleep waits d or until ctx ends; it reports whether ctx is still alive.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
