package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tenantflow/tenantflow/adapters/kafka"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/eventstore/wire"
	"github.com/tenantflow/tenantflow/handlers/middleware"
	"github.com/tenantflow/tenantflow/platform/telemetry"
)

// dispatch hands a record to the handlers that trigger on its type, each
// in its middleware (chain). A record no handler reacts to is neither
// decoded nor held: the handlers decide from the folded log, so skipping it
// loses nothing (an event the log cannot fold fails the fold), and most
// records are such.
func (e *engine) dispatch(hosted []handler) kafka.KeyedHandler {
	chains := make(map[string]middleware.Func, len(hosted))
	for _, h := range hosted {
		chains[h.name] = e.chain(h)
	}
	return func(ctx context.Context, r kafka.Record) error {
		if reason := wire.Missing(r.Headers); reason != "" {
			return e.dl.SetAside(ctx, r, reason)
		}
		if _, isTenant := wire.TenantOf(r.Headers[wire.HeaderSubject]); !isTenant {
			return nil
		}
		var reacting []string
		for _, h := range hosted {
			if h.triggers(r.Headers[wire.HeaderType]) {
				reacting = append(reacting, h.name)
			}
		}
		if len(reacting) == 0 {
			return nil
		}
		if reason, ours := e.undecodable(ctx, r); reason != "" && !ours {
			return e.dl.SetAside(ctx, r, reason)
		} else if reason != "" {
			return e.dl.Put(ctx, reacting, r, reason)
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
// a dead letter of the stream; in its span; in one of its slots; then run,
// a failure retried by the one backoff policy up to MaxFailures times and
// then dead-lettered, like a panic.
func (e *engine) chain(h handler) middleware.Func {
	run := func(ctx context.Context, r kafka.Record) error {
		tenantID, _ := wire.TenantOf(r.Headers[wire.HeaderSubject])
		md := eventstore.Metadata{CorrelationID: r.Headers[wire.HeaderCorrelationID], CausationID: r.Headers[wire.HeaderID], Actor: "handler:" + h.name}
		md.TraceParent, md.TraceState = telemetry.Carrier(ctx)
		return h.run(ctx, tenantID, md)
	}
	policy := Retry{MaxTries: e.cfg.MaxFailures, BaseDelay: 100 * time.Millisecond, MaxDelay: e.cfg.MaxFailureDelay}
	return middleware.Chain(run, e.dl.Hold(h.name), middleware.Trace(h.name), middleware.Limit(e.cfg.StepConcurrency),
		e.dl.Catch(h.name), middleware.Retry(policy, h.name, e.cfg.Logger), middleware.Recover())
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
