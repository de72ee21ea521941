package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tenantflow/tenantflow/adapters/kafka"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/eventstore/wire"
	"github.com/tenantflow/tenantflow/handlers/step"
	"github.com/tenantflow/tenantflow/platform/metrics"
	"github.com/tenantflow/tenantflow/platform/telemetry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// dispatch hands a record to the handlers that trigger on its type. A record
// no handler reacts to is neither decoded nor held: the handlers decide from
// the folded log, so skipping it loses nothing (an event the log cannot fold
// fails the fold), and most records are such.
func (e *engine) dispatch(hosted []handler) kafka.KeyedHandler {
	return func(ctx context.Context, r kafka.Record) error {
		eventType, stream := r.Headers[wire.HeaderType], r.Headers[wire.HeaderSubject]
		if reason := wire.Missing(r.Headers); reason != "" {
			return e.setAside(ctx, r, reason)
		}
		tenantID, isTenant := wire.TenantOf(stream)
		if !isTenant {
			return nil
		}
		var reacting []handler
		for _, h := range hosted {
			if h.triggers(eventType) {
				reacting = append(reacting, h)
			}
		}
		if len(reacting) == 0 {
			return nil
		}
		if reason, ours := e.undecodable(ctx, r); reason != "" && !ours {
			return e.setAside(ctx, r, reason)
		} else if reason != "" {
			return e.deadLetter(ctx, reacting, r, reason)
		}
		for _, h := range reacting {
			if err := e.handle(ctx, h, tenantID, r); err != nil {
				return err
			}
		}
		return nil
	}
}

// deadLetter sets r aside for each of hs, holding the stream's later
// records back from them, and tells whoever watches the dead-letter topic.
func (e *engine) deadLetter(ctx context.Context, hs []handler, r kafka.Record, reason string) error {
	stream := r.Headers[wire.HeaderSubject]
	e.cfg.Logger.Error("dead letter: the record is set aside and its stream held back", "stream", stream, "reason", reason, wire.HeaderID, r.Headers[wire.HeaderID])
	for _, h := range hs {
		if err := e.cfg.DeadLetters.Put(ctx, e.dlName(h), stream, e.cfg.Topic, false, reason, r); err != nil {
			return err
		}
		e.holds.add(e.dlName(h), stream)
		metrics.DeadLettered.WithLabelValues(h.name).Inc()
	}
	return nil
}

// setAside keeps a record that is not an event of this log — the relay
// never writes one without its headers or its {streamVersion, data}
// payload, so an outside producer (or a bug elsewhere) did — as one dead
// letter naming no stream: operators see it (tenantctl deadletters, the
// dead-letter topic), and no tenant is held behind a record that was never
// its own.
func (e *engine) setAside(ctx context.Context, r kafka.Record, reason string) error {
	reason = "not an event of this log: " + reason
	e.cfg.Logger.Error("dead letter: a record that is not an event of this log is set aside", "claims_stream", r.Headers[wire.HeaderSubject],
		"reason", reason, wire.HeaderID, r.Headers[wire.HeaderID], "partition", r.Partition, "offset", r.Offset)
	metrics.DeadLettered.WithLabelValues("foreign").Inc()
	return e.cfg.DeadLetters.Put(ctx, e.cfg.GroupPrefix+".handlers", "", e.cfg.Topic, false, reason, r)
}

// undecodable says why a record's payload is not its type's event, or "",
// and whether the record is this log's own: a well-formed record whose data
// this version cannot read holds its stream back only if the log holds an
// event of that id at that version (written by a newer tenantflow, say).
func (e *engine) undecodable(ctx context.Context, r kafka.Record) (reason string, ours bool) {
	var p wire.Payload
	if err := json.Unmarshal(r.Value, &p); err != nil || p.StreamVersion < 1 || len(p.Data) == 0 {
		return fmt.Sprintf("payload is not {streamVersion, data}: %v", err), false
	}
	_, err := domain.DecodeVersion(r.Headers[wire.HeaderType], wire.SchemaVersion(r.Headers), p.Data)
	if err == nil {
		return "", true
	}
	reason = err.Error()
	logged, err := e.cfg.Store.LoadFrom(ctx, r.Headers[wire.HeaderSubject], p.StreamVersion)
	if err != nil {
		return reason, true // cannot tell: hold, as before (a redrive releases it)
	}
	return reason, len(logged) > 0 && logged[0].Version == p.StreamVersion && logged[0].ID == r.Headers[wire.HeaderID]
}

// dlName is how a handler is named in the dead letters (the name of the
// consumer group it had when each handler had its own, kept for operators'
// tooling and the rows already stored).
func (e *engine) dlName(h handler) string { return e.cfg.GroupPrefix + "." + h.name }

// handle runs one handler for one record: held back behind a dead letter of
// the stream; else run, with a failure retried with the steps' backoff
// (Retry: exponential, full jitter) up to MaxFailures times and then
// dead-lettered, like a panic.
func (e *engine) handle(ctx context.Context, h handler, tenantID string, r kafka.Record) error {
	eventType, stream := r.Headers[wire.HeaderType], r.Headers[wire.HeaderSubject]
	held, err := e.holds.holding(ctx, e.dlName(h), stream)
	if err != nil {
		return err
	}
	if held {
		return e.cfg.DeadLetters.Put(ctx, e.dlName(h), stream, e.cfg.Topic, true, "held behind a dead letter of this stream", r)
	}
	// The consumer continued the trigger's trace; the events this handler
	// appends carry the handler's span, so the next handler continues here.
	ctx, span := telemetry.Tracer().Start(ctx, "handler "+h.name, trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attribute.String("tenantflow.tenant_id", tenantID), attribute.String("tenantflow.trigger", eventType)))
	defer span.End()
	md := eventstore.Metadata{
		CorrelationID: r.Headers[wire.HeaderCorrelationID],
		CausationID:   r.Headers[wire.HeaderID],
		Actor:         "handler:" + h.name,
	}
	md.TraceParent, md.TraceState = telemetry.Carrier(ctx)
	log := e.cfg.Logger.With("tenant_id", tenantID, "event_id", r.Headers[wire.HeaderID], "correlation_id", md.CorrelationID,
		"handler", h.name, "trace_id", telemetry.TraceID(ctx))
	select {
	case e.busy[h.name] <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-e.busy[h.name] }()
	// One backoff policy (Retry): a failing handler is tried again up to
	// MaxFailures times; what retrying cannot mend ends the tries at once.
	policy := Retry{MaxTries: e.cfg.MaxFailures, BaseDelay: 100 * time.Millisecond, MaxDelay: e.cfg.MaxFailureDelay, Stop: step.IsPermanent}
	failures, err := policy.Run(ctx, func(ctx context.Context) error {
		err := runRecovered(ctx, h, tenantID, md)
		var p *kafka.PanicError
		switch {
		case err == nil || ctx.Err() != nil:
			return err
		case errors.Is(err, domain.ErrNotFound), errors.As(err, &p), errors.Is(err, domain.ErrUndecodable):
			return step.Permanent(err)
		}
		metrics.HandlerFailures.WithLabelValues(h.name).Inc()
		log.Warn("handler failed; retrying", "type", eventType, "error", err)
		return err
	})
	var p *kafka.PanicError
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err() // shutting down or the partition moved: the record comes again
	case errors.Is(err, domain.ErrNotFound):
		// The log holds every event the topic carries, so this is a record
		// from another log (a topic shared across databases): not ours.
		log.Warn("event for a tenant this log does not hold; ignored", "stream", stream)
		return nil
	case errors.As(err, &p):
		// A bug, not an outage: retrying the same record panics again. The
		// record goes to the dead letters and its stream is held; every
		// other tenant goes on.
		log.Error("handler panicked; the record is dead-lettered and its tenant held", "type", eventType, "panic", p.Value, "stack", p.Stack)
		span.RecordError(err)
		return e.deadLetter(ctx, []handler{h}, r, p.Error())
	case errors.Is(err, domain.ErrUndecodable):
		// The tenant's log holds an event this version cannot read.
		span.RecordError(err)
		return e.deadLetter(ctx, []handler{h}, r, err.Error())
	default:
		span.RecordError(err)
		return e.deadLetter(ctx, []handler{h}, r, fmt.Sprintf("failed %d times; last: %v", failures, err))
	}
}

// runRecovered runs one handler, turning its panic into a
// *kafka.PanicError: the consumer's own Recover would fail the record for
// every handler, where this dead-letters it for the one that panicked.
func runRecovered(ctx context.Context, h handler, tenantID string, md eventstore.Metadata) (err error) {
	return kafka.Recover()(func(ctx context.Context, _ []kafka.Record) error { return h.run(ctx, tenantID, md) })(ctx, nil)
}
