package handlers

import (
	"context"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/tenantflow/tenantflow/adapters/kafka"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/eventstore/wire"
	"github.com/tenantflow/tenantflow/handlers/middleware"
	"github.com/tenantflow/tenantflow/platform/backoff"
	"github.com/tenantflow/tenantflow/platform/telemetry"
)

// dispatch hands a record to the handlers that trigger on its type, each
// in its middleware (chain). A record no handler reacts to is neither
// decoded nor held: the handlers decide from the folded log, so skipping it
// loses nothing, and most records are such.
func (e *engine) dispatch(hosted []handler) message.NoPublishHandlerFunc {
	chains := make(map[string]middleware.Func, len(hosted))
	for _, h := range hosted {
		chains[h.name] = e.chain(h)
	}
	return func(msg *message.Message) error {
		ctx, r := msg.Context(), kafka.RecordOf(msg)
		if reason := wire.Missing(r.Headers); reason != "" {
			return e.dl.SetAside(ctx, r, reason)
		}
		if _, isTenant := wire.TenantOf(r.Headers[wire.HeaderSubject]); !isTenant {
			return nil
		}
		// Every record of a tenant, reacted to or not, keeps the handlers'
		// memory of its stream current (app.Repository.Saw).
		version, _ := strconv.ParseInt(r.Headers[wire.HeaderStreamVersion], 10, 64)
		e.tenants.Saw(r.Headers[wire.HeaderSubject], version, func() (eventstore.Event, error) {
			ev, err := wire.Decode(r.Headers, r.Value)
			return eventstore.Event{Event: ev}, err
		})
		var reacting []string
		for _, h := range hosted {
			if h.triggers(r.Headers[wire.HeaderType]) {
				reacting = append(reacting, h.name)
			}
		}
		if len(reacting) == 0 {
			return nil
		}
		if taken, err := e.dl.Screen(ctx, r, reacting, e.cfg.Store.LoadFrom); taken || err != nil {
			return err
		}
		for _, name := range reacting {
			if err := chains[name](ctx, r); err != nil {
				return err
			}
		}
		return nil
	}
}

// chain is handler h in its middleware, outermost first: held back behind
// a dead letter of the stream; in its span; in one of its slots; then run
// on the tenant's folded log, a failure retried by the one backoff policy up
// to MaxFailures times and then dead-lettered, like a panic.
func (e *engine) chain(h handler) middleware.Func {
	run := func(ctx context.Context, r kafka.Record) error {
		tenantID, _ := wire.TenantOf(r.Headers[wire.HeaderSubject])
		version, _ := strconv.ParseInt(r.Headers[wire.HeaderStreamVersion], 10, 64)
		t, err := e.tenants.GetSeen(ctx, tenantID, version) // the tenant as of this record, at least
		if err != nil {
			return err
		}
		md := eventstore.Metadata{CorrelationID: r.Headers[wire.HeaderCorrelationID], CausationID: r.Headers[wire.HeaderID], Actor: "handler:" + h.name}
		md.TraceParent, md.TraceState = telemetry.Carrier(ctx)
		return h.run(ctx, t, md)
	}
	policy := backoff.Policy{MaxTries: e.cfg.MaxFailures, BaseDelay: 100 * time.Millisecond, MaxDelay: e.cfg.MaxFailureDelay}
	return middleware.Chain(run, e.dl.Hold(h.name), middleware.Trace(h.name), middleware.Limit(e.cfg.StepConcurrency),
		e.dl.Catch(h.name), middleware.Retry(policy, h.name, e.cfg.Logger), middleware.Recover())
}
