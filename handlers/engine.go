package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/tenantflow/tenantflow/adapters/kafka"
	"github.com/tenantflow/tenantflow/app"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/eventstore/wire"
	"github.com/tenantflow/tenantflow/handlers/faults"
	"github.com/tenantflow/tenantflow/handlers/platform"
	"github.com/tenantflow/tenantflow/handlers/step"
	"github.com/tenantflow/tenantflow/platform/metrics"
	"github.com/tenantflow/tenantflow/platform/pii"
	"github.com/tenantflow/tenantflow/platform/telemetry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Notifier sends the tenant's mails: the welcome after activation, the
// failure notice after a rollback.
type Notifier interface {
	Welcome(ctx context.Context, t *domain.Tenant) error
	// Failure tells the customer that provisioning failed and was rolled
	// back (t.FailedStep, t.Orphans), in the customer's words.
	Failure(ctx context.Context, t *domain.Tenant) error
}

// Config is what the handlers need.
type Config struct {
	Brokers     []string
	Topic       string // default eventstore.Topic
	GroupPrefix string // the consumer group is GroupName(prefix, Hosted); default "tenantflow"
	// Hosted names the handlers this process runs (HandlerNames); none: all.
	Hosted []string
	// Concurrency bounds the records handled at once (default 512): one
	// tenant's records run in order, different tenants' side by side. A
	// record waiting for its handler's StepConcurrency slot holds one of
	// these, so this bound stays well above the handlers' slots together
	// (11 × 4): at 64, a burst for one step held every slot waiting and
	// starved the steps after it (an open loop at 200 arrivals/s went from
	// 109 to 137 tenants/s when it was raised to 512).
	Concurrency int
	// StepConcurrency bounds the records one handler works on at once
	// (default 4), so that a back end sees at most that many calls from
	// this process however many tenants are waiting.
	StepConcurrency int
	// InstanceID makes the process a static member of its consumer group,
	// so that a restart takes its partitions back without a rebalance.
	InstanceID string
	// MaxFailures bounds the tries of a handler that keeps failing on a
	// record (its store unreachable, say) before the record is dead-lettered
	// and its tenant held (default 10); delays double from 100 ms up to
	// MaxFailureDelay (default 10 s).
	MaxFailures     int
	MaxFailureDelay time.Duration
	Store           eventstore.Streams
	// Actions by step, as Actions builds them: a step without one is
	// step.NotConfigured (skipped, saying why). The platform's own steps
	// (package platform) are filled in where none is named.
	Actions  map[string]step.Action
	Notifier Notifier
	Retry    Retry
	// MaxTries overrides Retry.MaxTries per step; TryTimeouts overrides
	// Retry.TryTimeout per step (infrastructure runs take minutes).
	MaxTries    map[string]int
	TryTimeouts map[string]time.Duration
	// DeadLetters keeps what no handler could decode or handle (required):
	// the table (package deadletters), a map in the in-memory tests.
	DeadLetters DeadLetterStore
	// Personal opens the tenant's sealed contacts, so that a back end's
	// error that quotes a person (an SMTP server's "<ada@x>: rejected",
	// Keycloak's "user ada@x exists") is recorded without them; nil: the
	// contacts are not sealed (in-memory tests).
	Personal pii.Opener
	// feed replaces Kafka in the choreography's in-memory tests.
	feed   func(ctx context.Context, handle kafka.KeyedHandler) error
	Logger *slog.Logger
}

// handler reacts to some event types of a tenant and decides, from the
// tenant's log (never from the message alone), whether it has anything to
// do. Its name is durable: it keys its dead letters and its metrics.
type handler struct {
	name     string
	step     string // the step it runs, if it is a step's handler
	triggers func(eventType string) bool
	run      func(ctx context.Context, tenantID string, md eventstore.Metadata) error
}

// Run hosts the handlers (cfg.Hosted, or all) behind one consumer and
// blocks until ctx ends. The consumer reads each record once and hands it to
// the handlers whose trigger it is, by its ce_type header, one tenant's
// records in order and different tenants' concurrently; the record's offset
// is committed only when every reacting handler has appended its outcome (or
// dead-lettered the record).
func Run(ctx context.Context, cfg Config) error {
	if cfg.Topic == "" {
		cfg.Topic = eventstore.Topic
	}
	if cfg.GroupPrefix == "" {
		cfg.GroupPrefix = "tenantflow"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.DeadLetters == nil {
		return errors.New("handlers: Config.DeadLetters is required (a record no handler can decode must be set aside, not dropped)")
	}
	if cfg.MaxFailures < 1 {
		cfg.MaxFailures = 10
	}
	if cfg.MaxFailureDelay <= 0 {
		cfg.MaxFailureDelay = 10 * time.Second
	}
	cfg.Actions = withEveryStep(cfg.Actions)
	if cfg.StepConcurrency < 1 {
		cfg.StepConcurrency = 4
	}
	if cfg.Concurrency < 1 {
		cfg.Concurrency = 512
	}
	e := &engine{cfg: cfg, tenants: app.Tenants(cfg.Store), holds: newHolds(cfg.DeadLetters), busy: map[string]chan struct{}{}}
	hosted, err := e.hosted()
	if err != nil {
		return err
	}
	for _, h := range hosted {
		e.busy[h.name] = make(chan struct{}, cfg.StepConcurrency)
	}
	for _, h := range hosted {
		if w, ok := step.As[step.Watcher](cfg.Actions[h.step]); ok {
			go w.Watch(ctx, e.recordDecided)
		}
	}
	consumer := kafka.Consumer{Brokers: cfg.Brokers, Group: GroupName(cfg.GroupPrefix, cfg.Hosted), Topic: cfg.Topic,
		InstanceID: cfg.InstanceID, Logger: cfg.Logger}
	if cfg.feed != nil {
		if err := e.holds.load(ctx); err != nil {
			return err
		}
		return cfg.feed(ctx, consumer.Wrap(e.dispatch(hosted)))
	}
	return consumer.Keyed(ctx, kafka.KeyedOptions{Concurrency: cfg.Concurrency, OnAssign: e.holds.load}, e.dispatch(hosted))
}

// GroupName is the consumer group of a process hosting the named handlers
// (all when none are named): processes hosting the same handlers share the
// partitions; a process hosting other ones reads every record itself.
func GroupName(prefix string, hosted []string) string {
	if len(hosted) == 0 {
		return prefix + ".handlers"
	}
	names := slices.Clone(hosted)
	slices.Sort(names)
	return prefix + ".handlers." + strings.Join(slices.Compact(names), "+")
}

// HandlerNames are the names Config.Hosted takes: every step, and saga.
func HandlerNames() []string {
	return append(slices.Clone(domain.AllSteps), "saga", "domains")
}

// Actions is every step's action as Run takes them, built where the
// process is composed: the platform's own steps filled in, step.NotConfigured
// for a step given none, each in its tracing span and behind injector's
// fault for it (nil: none).
func Actions(given map[string]step.Action, injector *faults.Injector) map[string]step.Action {
	all := withEveryStep(given)
	for name, a := range all {
		all[name] = step.Traced(name, injector.Wrap(name, a))
	}
	return all
}

// withEveryStep is given with the platform's own steps filled in and
// step.NotConfigured for every other step it lacks.
func withEveryStep(given map[string]step.Action) map[string]step.Action {
	all := platform.With(given)
	for _, name := range domain.Steps {
		if all[name] == nil {
			all[name] = step.NotConfigured{Step: name}
		}
	}
	return all
}

// hosted returns the handlers this process runs.
func (e *engine) hosted() ([]handler, error) {
	all := e.handlers()
	if len(e.cfg.Hosted) == 0 {
		return all, nil
	}
	var out []handler
	for _, name := range e.cfg.Hosted {
		i := slices.IndexFunc(all, func(h handler) bool { return h.name == name || h.name == "step."+name })
		if i < 0 {
			return nil, fmt.Errorf("handlers: %q is not a handler (%v)", name, HandlerNames())
		}
		out = append(out, all[i])
	}
	return out, nil
}

type engine struct {
	cfg     Config
	tenants app.Repository[*domain.Tenant]
	holds   *holds
	busy    map[string]chan struct{} // per handler: StepConcurrency slots
}

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
// the stream; else run, with a failure retried with exponential backoff up
// to MaxFailures times and then dead-lettered, like a panic.
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
	delay := 100 * time.Millisecond
	for failures := 1; ; failures++ {
		err := runRecovered(ctx, h, tenantID, md)
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
		case failures >= e.cfg.MaxFailures:
			span.RecordError(err)
			return e.deadLetter(ctx, []handler{h}, r, fmt.Sprintf("failed %d times; last: %v", failures, err))
		}
		metrics.HandlerFailures.WithLabelValues(h.name).Inc()
		log.Warn("handler failed; retrying", "type", eventType, "failures", failures, "retry_in", delay.String(), "error", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, e.cfg.MaxFailureDelay)
	}
}

// runRecovered runs one handler, turning its panic into a
// *kafka.PanicError: the consumer's own Recover would fail the record for
// every handler, where this dead-letters it for the one that panicked.
func runRecovered(ctx context.Context, h handler, tenantID string, md eventstore.Metadata) (err error) {
	return kafka.Recover()(func(ctx context.Context, _ []kafka.Record) error { return h.run(ctx, tenantID, md) })(ctx, nil)
}

// handlers are the flow's steps (domain.Flow), the saga and the domains'
// reconciler. Notify is a row of the flow with its own handler: it acts
// after the attempt, never undoes anything.
func (e *engine) handlers() []handler {
	var hs []handler
	for _, row := range domain.Flow {
		if !row.AfterAttempt {
			hs = append(hs, e.stepHandler(row))
		}
	}
	return append(hs, e.sagaHandler(), e.notifyHandler(), e.reconcileHandler())
}

// stepHandler runs one step, and its undo when compensation or
// deprovisioning reaches it.
func (e *engine) stepHandler(row domain.FlowStep) handler {
	name := row.Step
	action := e.cfg.Actions[name]
	// A step without an action still answers its turn in the undo chain: a
	// cancellation can fail it, and the chain must go on past it.
	return handler{
		name: "step." + name,
		step: name,
		triggers: func(t string) bool {
			return domain.Triggers(row.TriggeredBy, t) || (row.Undo && domain.Triggers(domain.UndoTriggers, t))
		},
		run: func(ctx context.Context, tenantID string, md eventstore.Metadata) error {
			t, err := e.tenants.Get(ctx, tenantID)
			if err != nil {
				return err
			}
			if next, ok := t.NextStep(); ok && next == name {
				return e.do(ctx, t, name, action, md)
			}
			if next, ok := t.NextUndo(); ok && next == name {
				return e.undo(ctx, t, name, action, md)
			}
			return nil
		},
	}
}

func (e *engine) retryFor(name string) Retry {
	r := e.cfg.Retry
	if n, ok := e.cfg.MaxTries[name]; ok {
		r.MaxTries = n
	}
	if d, ok := e.cfg.TryTimeouts[name]; ok {
		r.TryTimeout = d
	}
	return r
}

// do runs the step and records its one outcome.
func (e *engine) do(ctx context.Context, t *domain.Tenant, name string, action step.Action, md eventstore.Metadata) error {
	key := domain.StepKey(t.ID(), t.Attempt(), name)
	outcome := domain.StepOutcome{Step: name, StartedAt: time.Now().UTC()}
	if t.CancelRequested() {
		outcome.Outcome, outcome.Error, outcome.At = domain.OutcomeFailed, domain.ReasonCancelled, time.Now().UTC()
		return e.record(ctx, t, md, key, func(t *domain.Tenant) ([]domain.Event, error) { return t.RecordStep(outcome) })
	}
	var res step.Result
	tries, err := e.retryFor(name).run(ctx, func(ctx context.Context) error {
		var err error
		res, err = action.Do(ctx, t)
		return err
	})
	if ctx.Err() != nil {
		return ctx.Err() // shutting down: the step runs again after redelivery
	}
	if _, none := step.As[step.NotConfigured](action); none {
		tries = 0 // no back end was tried (a fault may still fail the step): it made nothing
	}
	outcome.Tries, outcome.Resources, outcome.Outputs = tries, res.Resources, res.Outputs
	outcome.PlatformHost, outcome.CustomDomains = res.PlatformHost, res.CustomDomains
	switch {
	case err != nil:
		outcome.Outcome, outcome.Error = domain.OutcomeFailed, e.withoutPersonalData(ctx, t, err.Error())
		e.cfg.Logger.Warn("step failed", "tenant_id", t.ID(), "step", name, "tries", tries, "error", err, "trace_id", telemetry.TraceID(ctx))
	case res.Record != nil:
		if res.RecordKey != "" {
			key = res.RecordKey
		}
		outcome.Outcome, outcome.At = domain.OutcomeCompleted, time.Now().UTC()
		return e.record(ctx, t, md, key, func(t *domain.Tenant) ([]domain.Event, error) { return res.Record(t, outcome) })
	case res.Skipped:
		outcome.Outcome, outcome.Error = domain.OutcomeSkipped, res.Reason // said in the tenant's record, not only in a log line
	default:
		outcome.Outcome = domain.OutcomeCompleted
	}
	outcome.At = time.Now().UTC()
	err = e.record(ctx, t, md, key, func(t *domain.Tenant) ([]domain.Event, error) { return t.RecordStep(outcome) })
	if err == nil {
		metrics.StepOutcomes.WithLabelValues(name, outcome.Outcome).Inc()
		metrics.StepDuration.WithLabelValues(name).Observe(outcome.At.Sub(outcome.StartedAt).Seconds())
		metrics.StepRetries.WithLabelValues(name).Add(float64(max(tries-1, 0)))
	}
	return err
}

// undo runs the step's undo and records compensated or compensation_failed.
func (e *engine) undo(ctx context.Context, t *domain.Tenant, name string, action step.Action, md eventstore.Metadata) error {
	started := time.Now().UTC()
	if ur, ok := step.As[step.UndoRecorder](action); ok {
		outcome := domain.StepOutcome{Step: name, Tries: 1, StartedAt: started, At: started}
		return e.record(ctx, t, md, t.UndoKey(name)+"/request", func(t *domain.Tenant) ([]domain.Event, error) {
			return ur.RecordUndo(t, outcome)
		})
	}
	tries, err := e.retryFor(name).run(ctx, func(ctx context.Context) error { return action.Undo(ctx, t) })
	if ctx.Err() != nil {
		return ctx.Err()
	}
	outcome := domain.StepOutcome{Step: name, Outcome: domain.OutcomeCompensated, Tries: tries, StartedAt: started, At: time.Now().UTC()}
	if err != nil {
		outcome.Outcome, outcome.Error = domain.OutcomeCompensationFailed, e.withoutPersonalData(ctx, t, err.Error())
		e.cfg.Logger.Error("undo failed: resource left behind", "tenant_id", t.ID(), "step", name, "tries", tries, "error", err, "trace_id", telemetry.TraceID(ctx))
	}
	err = e.record(ctx, t, md, t.UndoKey(name), func(t *domain.Tenant) ([]domain.Event, error) { return t.RecordUndo(outcome) })
	if err == nil {
		metrics.Compensations.WithLabelValues(name, outcome.Outcome).Inc()
	}
	return err
}

// NotConfigured is the reason a step skipped for want of a back end gives
// in its outcome.
const NotConfigured = step.NotConfiguredReason

// withoutPersonalData is a back end's error text as the log may keep it:
// every contact's email address and names replaced by "[personal data]".
// Step errors go to the topic, the analytics stream and backups, where
// erasure (destroying a person's key) cannot reach plain text.
func (e *engine) withoutPersonalData(ctx context.Context, t *domain.Tenant, text string) string {
	c, cs := t.Contact(), t.Contacts()
	if err := pii.OpenContacts(ctx, e.cfg.Personal, &c, cs); err != nil {
		return "(the back end's error is not recorded: it could not be checked for personal data)"
	}
	var values []string
	for _, p := range append(cs, domain.TenantContact{Contact: c}) {
		for _, v := range []string{p.Email, p.FirstName, p.LastName} {
			if len(v) >= 2 && v != pii.Erased {
				values = append(values, regexp.QuoteMeta(v))
			}
		}
	}
	if len(values) == 0 {
		return text
	}
	slices.SortFunc(values, func(a, b string) int { return len(b) - len(a) }) // the longest first: an address before a name in it
	return regexp.MustCompile(`(?i)`+strings.Join(values, "|")).ReplaceAllString(text, "[personal data]")
}

// sagaHandler turns a failed step into provisioning.failed, and ends the
// undo chain (rolled back, or deactivated) when nothing is left to undo.
func (e *engine) sagaHandler() handler {
	return handler{
		name:     "saga",
		triggers: func(t string) bool { return domain.Triggers(domain.SagaTriggers, t) },
		run: func(ctx context.Context, tenantID string, md eventstore.Metadata) error {
			t, err := e.tenants.Get(ctx, tenantID)
			if err != nil {
				return err
			}
			if _, _, failed := t.FailedStep(); failed && t.Status() == domain.StatusProvisioning && !t.Undoing() {
				return e.record(ctx, t, md, fmt.Sprintf("%s/%d/failed", tenantID, t.Attempt()),
					func(t *domain.Tenant) ([]domain.Event, error) { return t.FailProvisioning() })
			}
			if _, pending := t.NextUndo(); t.Undoing() && !pending {
				phase := "rolled-back"
				switch {
				case t.UndoRound() > 0 && t.Status() != domain.StatusProvisioning:
					phase = fmt.Sprintf("undos-retried/r%d", t.UndoRound()) // or deactivated after them
					if t.Status() == domain.StatusDeprovisioning {
						phase += "/deactivated"
					}
				case t.Status() == domain.StatusDeprovisioning:
					phase = "deactivated"
				}
				return e.record(ctx, t, md, fmt.Sprintf("%s/%d/%s", tenantID, t.Attempt(), phase),
					func(t *domain.Tenant) ([]domain.Event, error) { return t.FinishUndo() })
			}
			return nil
		},
	}
}

// notifyHandler sends the welcome mail after activation and the failure
// notice after a rollback: step 11, recorded as tenant.notify.<outcome>.
func (e *engine) notifyHandler() handler {
	notify, _ := domain.FlowOf(domain.StepNotify)
	return handler{
		name:     "step." + domain.StepNotify,
		triggers: func(t string) bool { return domain.Triggers(notify.TriggeredBy, t) },
		run: func(ctx context.Context, tenantID string, md eventstore.Metadata) error {
			t, err := e.tenants.Get(ctx, tenantID)
			if err != nil || !t.NotificationDue() {
				return err
			}
			started := time.Now().UTC()
			outcome := domain.StepOutcome{Step: domain.StepNotify, Outcome: domain.OutcomeSkipped, StartedAt: started}
			if e.cfg.Notifier != nil {
				tries, err := e.retryFor(domain.StepNotify).run(ctx, func(ctx context.Context) error {
					if t.Status() == domain.StatusActive {
						return e.cfg.Notifier.Welcome(ctx, t)
					}
					return e.cfg.Notifier.Failure(ctx, t)
				})
				if ctx.Err() != nil {
					return ctx.Err()
				}
				outcome.Outcome, outcome.Tries = domain.OutcomeCompleted, tries
				if err != nil {
					outcome.Outcome, outcome.Error = domain.OutcomeFailed, e.withoutPersonalData(ctx, t, err.Error())
				}
			}
			outcome.At = time.Now().UTC()
			return e.record(ctx, t, md, fmt.Sprintf("%s/%d/notify", tenantID, t.Attempt()),
				func(t *domain.Tenant) ([]domain.Event, error) { return t.RecordNotification(outcome) })
		},
	}
}

// record appends what decide returns on the tenant's turn, with ids derived
// from key, deciding first on loaded (the handler's own fold) and again on
// a new fold after a concurrent append (another handler, a cancel request,
// a duplicate delivery racing this one): app.Repository.RecordOn.
func (e *engine) record(ctx context.Context, loaded *domain.Tenant, md eventstore.Metadata, key string, decide func(*domain.Tenant) ([]domain.Event, error)) error {
	return e.tenants.RecordOn(ctx, loaded.ID(), loaded, md, app.Keyed(key, decide))
}

// recordDecided is the step.Recorder a Watcher gets.
func (e *engine) recordDecided(ctx context.Context, tenantID, actor string, decide func(*domain.Tenant) ([]domain.Event, string, error)) error {
	return e.tenants.Record(ctx, tenantID, eventstore.Metadata{Actor: actor}, decide)
}
