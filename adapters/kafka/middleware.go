package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/tenantflow/tenantflow/eventstore/wire"
	"github.com/tenantflow/tenantflow/platform/metrics"
	"github.com/tenantflow/tenantflow/platform/telemetry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Middleware wraps the handling of records. A KeyedHandler is wrapped as a
// batch of one record, so one chain serves both shapes of consumer.
type Middleware func(next BatchHandler) BatchHandler

// chain wraps h in mw, the first outermost.
func chain(h BatchHandler, mw ...Middleware) BatchHandler {
	for i := len(mw) - 1; i >= 0; i-- {
		h = mw[i](h)
	}
	return h
}

// Consumer reads a topic in a consumer group. Every consumer tenantflow
// runs (the step handlers, the projections, the reference consumers) is
// built here, so all of them measure, log, continue traces and recover from
// panics the same way: the standard chain is Measure, Log, Trace, then
// Middleware (dead letters, for those that set records aside), then
// Recover around the handler.
type Consumer struct {
	Brokers []string
	Group   string
	Topic   string
	// InstanceID, when set, makes the member static (KIP-345): a restarted
	// process with the same id takes its partitions back without a
	// rebalance of the group.
	InstanceID string
	Logger     *slog.Logger
	Middleware []Middleware
}

func (c Consumer) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.Default().With("group", c.Group)
	}
	return c.Logger.With("group", c.Group)
}

func (c Consumer) wrap(h BatchHandler) BatchHandler {
	mw := append([]Middleware{Measure(c.Group), Log(c.logger()), Trace(c.Group)}, c.Middleware...)
	return chain(h, append(mw, Recover())...)
}

// Wrap is handle in the consumer's middleware, as Keyed runs it (for a
// feed that is not Kafka: tests of the choreography on an in-process bus).
func (c Consumer) Wrap(handle KeyedHandler) KeyedHandler {
	wrapped := c.wrap(func(ctx context.Context, rs []Record) error { return handle(ctx, rs[0]) })
	return func(ctx context.Context, r Record) error { return wrapped(ctx, []Record{r}) }
}

// Keyed follows the topic handing every record to handle, per key in order
// and different keys concurrently (see KeyedHandler and KeyedOptions). A
// partition's offset is committed up to the first record not yet handled.
func (c Consumer) Keyed(ctx context.Context, opt KeyedOptions, handle KeyedHandler) error {
	if opt.Concurrency < 1 {
		opt.Concurrency = 64
	}
	if opt.MaxPending < 1 {
		opt.MaxPending = 4096
	}
	logger := c.logger()
	h := &keyedHandler{opt: opt, handle: c.Wrap(handle), slots: make(chan struct{}, opt.Concurrency), logger: logger}
	return consumeGroup(ctx, c.Brokers, c.Group, c.Topic, ConsumerConfig("tenantflow-"+c.Group, c.InstanceID), logger, h)
}

// Batches follows the topic handing each partition's records to handle in
// batches of up to max: once a record has arrived, every record already
// fetched joins it. A batch's offsets are committed only after handle
// succeeds; a failed batch is handed over again after a pause.
func (c Consumer) Batches(ctx context.Context, max int, handle BatchHandler) error {
	return consumeGroup(ctx, c.Brokers, c.Group, c.Topic, ConsumerConfig("tenantflow-"+c.Group, c.InstanceID), c.logger(),
		batchHandler{max: max, handle: c.wrap(handle)})
}

// PanicError is a handler's recovered panic.
type PanicError struct {
	Value any
	Stack string
}

func (p *PanicError) Error() string { return fmt.Sprintf("handler panicked: %v", p.Value) }

// Recover turns a panic of the handler into a *PanicError, so a bug in one
// record's handling fails that record (and whatever the chain does with a
// failure) instead of the process.
func Recover() Middleware {
	return func(next BatchHandler) BatchHandler {
		return func(ctx context.Context, rs []Record) (err error) {
			defer func() {
				if v := recover(); v != nil {
					err = &PanicError{Value: v, Stack: string(debug.Stack())}
				}
			}()
			return next(ctx, rs)
		}
	}
}

// Trace continues the trace a record carries (ce_traceparent) in a consumer
// span, so whatever the handler appends or calls joins the trace of the
// request that started it. A batch's span continues its first record's
// trace and links the others' (up to 128, when spans are exported). The
// trace is continued even when nothing exports spans, so the events a
// handler appends still carry the request's traceparent.
func Trace(group string) Middleware {
	return func(next BatchHandler) BatchHandler {
		return func(ctx context.Context, rs []Record) error {
			ctx = telemetry.Continue(ctx, rs[0].Headers[wire.HeaderTraceParent], rs[0].Headers[wire.HeaderTraceState])
			opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer),
				trace.WithAttributes(attribute.String("messaging.consumer.group.name", group), attribute.Int("messaging.batch.message_count", len(rs)))}
			for _, r := range rs[1:min(len(rs), linkLimit(telemetry.Enabled()))] {
				if sc := trace.SpanContextFromContext(telemetry.Continue(context.Background(), r.Headers[wire.HeaderTraceParent], r.Headers[wire.HeaderTraceState])); sc.IsValid() {
					opts = append(opts, trace.WithLinks(trace.Link{SpanContext: sc}))
				}
			}
			ctx, span := telemetry.Tracer().Start(ctx, "consume "+group, opts...)
			defer span.End()
			err := next(ctx, rs)
			if err != nil {
				span.RecordError(err)
			}
			return err
		}
	}
}

// linkLimit bounds a batch span's links: none when nobody exports spans.
func linkLimit(exporting bool) int {
	if exporting {
		return 128
	}
	return 1
}

// Log logs a failed handling with what identifies its records; the
// consumer hands them over again after a pause. A panic is logged with its
// stack.
func Log(logger *slog.Logger) Middleware {
	return func(next BatchHandler) BatchHandler {
		return func(ctx context.Context, rs []Record) error {
			err := next(ctx, rs)
			if err != nil && ctx.Err() == nil {
				args := []any{"partition", rs[0].Partition, "offset", rs[0].Offset, "records", len(rs), "key", rs[0].Key,
					wire.HeaderID, rs[0].Headers[wire.HeaderID], wire.HeaderType, rs[0].Headers[wire.HeaderType], "trace_id", telemetry.TraceID(ctx), "error", err}
				if p := (*PanicError)(nil); errors.As(err, &p) {
					args = append(args, "stack", p.Stack)
				}
				logger.Warn("handling records failed; they are handed over again", args...)
			}
			return err
		}
	}
}

// Measure counts the records a group handled and failed, and times each
// handling (tenantflow_consumed_records_total, tenantflow_consume_seconds).
func Measure(group string) Middleware {
	ok, failed := metrics.ConsumedRecords.WithLabelValues(group, "ok"), metrics.ConsumedRecords.WithLabelValues(group, "error")
	seconds := metrics.ConsumeSeconds.WithLabelValues(group)
	return func(next BatchHandler) BatchHandler {
		return func(ctx context.Context, rs []Record) error {
			start := time.Now()
			err := next(ctx, rs)
			seconds.Observe(time.Since(start).Seconds())
			if err != nil {
				failed.Add(float64(len(rs)))
			} else {
				ok.Add(float64(len(rs)))
			}
			return err
		}
	}
}

// DLQTopic names the dead-letter topic of a topic: dlq.<topic>. The prefix
// (not a suffix) lets the brokers' ACLs grant writing dead letters by a
// prefixed pattern without granting writes to the topic itself, which only
// the relay's principal may write.
func DLQTopic(topic string) string { return "dlq." + topic }

// DeadLetterMessage is r as published to a dead-letter topic: its key,
// headers and value, plus dlq_reason and dlq_handler (who set it aside).
func DeadLetterMessage(r Record, id, handler, reason string) *message.Message {
	out := messageOf(r)
	out.UUID = id
	out.Metadata.Set("dlq_reason", reason)
	out.Metadata.Set("dlq_handler", handler)
	return out
}
