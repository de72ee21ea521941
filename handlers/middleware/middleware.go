// Package middleware is what runs around each of the engine's handlers,
// per record, so that the engine itself only dispatches: the dead letters'
// holds, the handler's span, its slots, the one retry policy
// (platform/backoff), recovery from a panic, and the dead letter of what
// cannot be handled. The engine chains them once per handler.
package middleware

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/tenantflow/tenantflow/adapters/kafka"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore/wire"
	"github.com/tenantflow/tenantflow/platform/backoff"
	"github.com/tenantflow/tenantflow/platform/metrics"
	"github.com/tenantflow/tenantflow/platform/telemetry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Func handles one record for one handler.
type Func func(ctx context.Context, r kafka.Record) error

// Middleware wraps a handler's Func.
type Middleware func(Func) Func

// Chain wraps f in mw, the first outermost.
func Chain(f Func, mw ...Middleware) Func {
	for i := len(mw) - 1; i >= 0; i-- {
		f = mw[i](f)
	}
	return f
}

// Trace runs the handler in a consumer span, "handler <name>": the consumer
// continued the trigger's trace, and the events the handler appends carry
// this span, so the next handler continues here.
func Trace(handler string) Middleware {
	return func(next Func) Func {
		return func(ctx context.Context, r kafka.Record) error {
			tenantID, _ := wire.TenantOf(r.Headers[wire.HeaderSubject])
			ctx, span := telemetry.Tracer().Start(ctx, "handler "+handler, trace.WithSpanKind(trace.SpanKindConsumer),
				trace.WithAttributes(attribute.String("tenantflow.tenant_id", tenantID), attribute.String("tenantflow.trigger", r.Headers[wire.HeaderType])))
			defer span.End()
			return next(ctx, r)
		}
	}
}

// Limit lets at most n records through at once, so that a back end sees at
// most that many calls from this process however many tenants wait.
func Limit(n int) Middleware {
	slots := make(chan struct{}, n)
	return func(next Func) Func {
		return func(ctx context.Context, r kafka.Record) error {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return ctx.Err()
			}
			defer func() { <-slots }()
			return next(ctx, r)
		}
	}
}

// Recover turns the handler's panic into a *kafka.PanicError for this one
// handler: the consumer's own Recover would fail the record for every
// handler it triggers.
func Recover() Middleware {
	return func(next Func) Func {
		return func(ctx context.Context, r kafka.Record) error {
			return kafka.Recover()(func(ctx context.Context, rs []kafka.Record) error { return next(ctx, rs[0]) })(ctx, []kafka.Record{r})
		}
	}
}

// Exhausted is a handler's failure after every try of the policy.
type Exhausted struct {
	Tries int
	Err   error
}

func (e *Exhausted) Error() string { return fmt.Sprintf("failed %d times; last: %v", e.Tries, e.Err) }
func (e *Exhausted) Unwrap() error { return e.Err }

// final says whether retrying cannot change err: a record of another log
// (its tenant is not here), a panic (a bug: it panics again), an event this
// version cannot read.
func final(err error) bool {
	var p *kafka.PanicError
	return errors.Is(err, domain.ErrNotFound) || errors.As(err, &p) || errors.Is(err, domain.ErrUndecodable)
}

// Retry tries a failing handler again by policy (platform/backoff), counting
// and logging each failure; what retrying cannot mend ends the tries at
// once, and the last failure of all the tries comes back as *Exhausted.
func Retry(policy backoff.Policy, handler string, logger *slog.Logger) Middleware {
	policy.Stop = final
	failures := metrics.HandlerFailures.WithLabelValues(handler)
	return func(next Func) Func {
		return func(ctx context.Context, r kafka.Record) error {
			tries, err := policy.Run(ctx, func(ctx context.Context) error {
				err := next(ctx, r)
				if err != nil && ctx.Err() == nil && !final(err) {
					failures.Inc()
					logger.Warn("handler failed; retrying", "handler", handler, "type", r.Headers[wire.HeaderType],
						"event_id", r.Headers[wire.HeaderID], "trace_id", telemetry.TraceID(ctx), "error", err)
				}
				return err
			})
			if err != nil && ctx.Err() == nil && !final(err) {
				return &Exhausted{Tries: tries, Err: err}
			}
			return err
		}
	}
}
