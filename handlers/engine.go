package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/tenantflow/tenantflow/adapters/kafka"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/internal/metrics"
	"github.com/tenantflow/tenantflow/internal/repo"
	"github.com/tenantflow/tenantflow/internal/telemetry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Action does and undoes one step for a tenant. Both run again after a
// crash or a redelivery, so Do treats "already exists and is ours" as done
// and Undo treats "already gone" as done. Errors are retried unless marked
// Permanent.
type Action interface {
	Do(ctx context.Context, t *domain.Tenant) (Result, error)
	Undo(ctx context.Context, t *domain.Tenant) error
}

// Result is what a step's Do made.
type Result struct {
	Skipped   bool // the step is not configured: nothing made, nothing to undo
	Resources []domain.Resource
	Outputs   map[string]string // handed to later steps (recorded in the outcome)
	// The dns step's addressing, recorded in its outcome.
	PlatformHost  string
	CustomDomains []domain.CustomDomain
}

// Notifier sends the tenant's mails: the welcome after activation, the
// failure notice after a rollback.
type Notifier interface {
	Welcome(ctx context.Context, t *domain.Tenant) error
	Failure(ctx context.Context, t *domain.Tenant, step, reason string) error
}

// Config is what the handlers need.
type Config struct {
	Brokers     []string
	Topic       string // default eventstore.Topic
	GroupPrefix string // consumer groups are <prefix>.<handler>; default "tenantflow"
	Store       repo.Store
	// Actions by step; a step without one is skipped ("not configured").
	Actions  map[string]Action
	Notifier Notifier
	Retry    Retry
	// MaxTries overrides Retry.MaxTries per step; TryTimeouts overrides
	// Retry.TryTimeout per step (infrastructure runs take minutes).
	MaxTries    map[string]int
	TryTimeouts map[string]time.Duration
	Faults      *Faults
	// DeadLetters keeps what no handler could decode; nil: such a record is
	// retried forever (it blocks its partition), so configure it.
	DeadLetters *DeadLetters
	// Deployment makes the deploy step ask the application plane and wait
	// for its report; nil: the deploy step runs Actions[deploy] (or skips).
	Deployment *Deployment
	Logger     *slog.Logger
}

// handler is one consumer group: it reacts to some event types of a tenant
// and decides, from the tenant's log (never from the message alone), whether
// it has anything to do.
type handler struct {
	name     string // durable: it keys the consumer group
	triggers func(eventType string) bool
	run      func(ctx context.Context, tenantID string, md eventstore.Metadata) error
}

// Run starts every handler, each in its own consumer group, and blocks
// until ctx ends.
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
	e := &engine{cfg: cfg, tenants: repo.Tenants(cfg.Store)}
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 30 * time.Second}, kafka.SlogAdapter(cfg.Logger))
	if err != nil {
		return err
	}
	for _, h := range e.handlers() {
		group := cfg.GroupPrefix + "." + h.name
		sub, err := kafka.NewSubscriber(cfg.Brokers, group, kafka.SlogAdapter(cfg.Logger))
		if err != nil {
			return err
		}
		router.AddConsumerHandler(group, cfg.Topic, sub, e.consume(group, h))
	}
	if cfg.Deployment != nil {
		go e.watchDeadlines(ctx)
	}
	return router.Run(ctx)
}

type engine struct {
	cfg     Config
	tenants repo.Repository[*domain.Tenant]
}

// consume adapts a handler to watermill: an error means "retry this
// message" (watermill nacks it and it comes again).
func (e *engine) consume(group string, h handler) message.NoPublishHandlerFunc {
	return func(msg *message.Message) error {
		eventType, stream := msg.Metadata.Get("ce_type"), msg.Metadata.Get("ce_subject")
		dl := e.cfg.DeadLetters
		deadLetter := func(reason string) error {
			e.cfg.Logger.Error("dead letter: record cannot be decoded; its stream is held back", "handler", h.name, "stream", stream, "reason", reason)
			return dl.put(msg.Context(), group, stream, e.cfg.Topic, false, reason, msg)
		}
		if reason := missingHeader(msg); reason != "" && dl != nil {
			return deadLetter(reason)
		}
		tenantID, isTenant := strings.CutPrefix(stream, "tenant-")
		// A record this handler does not react to is neither decoded nor
		// held: the handler decides from the folded log, so skipping it loses
		// nothing (an event the log cannot fold fails the fold, below), and
		// most records are such (eleven groups see every event).
		if !isTenant || !h.triggers(eventType) {
			return nil
		}
		if reason := undecodablePayload(msg); reason != "" && dl != nil {
			return deadLetter(reason)
		}
		if dl != nil {
			held, err := dl.holding(msg.Context(), group, stream)
			if err != nil {
				return err
			}
			if held {
				return dl.put(msg.Context(), group, stream, e.cfg.Topic, true, "held behind a dead letter of this stream", msg)
			}
		}
		// Continue the trigger's trace; the events this handler appends carry
		// its span, so the next handler continues from here.
		ctx := telemetry.Continue(msg.Context(), msg.Metadata.Get("ce_traceparent"), msg.Metadata.Get("ce_tracestate"))
		ctx, span := telemetry.Tracer().Start(ctx, "handler "+h.name, trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithAttributes(attribute.String("tenantflow.tenant_id", tenantID), attribute.String("tenantflow.trigger", eventType)))
		defer span.End()
		md := eventstore.Metadata{
			CorrelationID: msg.Metadata.Get("ce_correlationid"),
			CausationID:   msg.Metadata.Get("ce_id"),
			Actor:         "handler:" + h.name,
		}
		md.TraceParent, md.TraceState = telemetry.Carrier(ctx)
		log := e.cfg.Logger.With("tenant_id", tenantID, "event_id", msg.Metadata.Get("ce_id"), "correlation_id", md.CorrelationID,
			"handler", h.name, "trace_id", telemetry.TraceID(ctx))
		err := runRecovered(ctx, h, tenantID, md)
		var p *panicked
		if errors.As(err, &p) {
			// A bug, not an outage: retrying the same record panics again and
			// would hold the partition for ever. The record goes to the dead
			// letters and its stream is held; every other tenant goes on.
			log.Error("handler panicked; the record is dead-lettered and its tenant held", "type", eventType, "panic", p.value, "stack", p.stack)
			if dl != nil {
				return dl.put(msg.Context(), group, stream, e.cfg.Topic, false, "handler panicked: "+fmt.Sprint(p.value), msg)
			}
		}
		if err != nil {
			span.RecordError(err)
		}
		if errors.Is(err, domain.ErrNotFound) {
			// The log holds every event the topic carries, so this is a record
			// from another log (a topic shared across databases): not ours.
			log.Warn("event for a tenant this log does not hold; ignored", "stream", stream)
			return nil
		}
		if errors.Is(err, domain.ErrUndecodable) && e.cfg.DeadLetters != nil {
			// The tenant's log holds an event this version cannot read.
			return e.cfg.DeadLetters.put(msg.Context(), group, stream, e.cfg.Topic, false, err.Error(), msg)
		}
		if err != nil {
			log.Warn("handler failed; the event will be redelivered", "type", eventType, "error", err)
		}
		return err
	}
}

// panicked is a handler's recovered panic.
type panicked struct {
	value any
	stack string
}

func (p *panicked) Error() string { return fmt.Sprintf("handler panicked: %v", p.value) }

// runRecovered runs the handler, turning a panic into a *panicked error.
func runRecovered(ctx context.Context, h handler, tenantID string, md eventstore.Metadata) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &panicked{value: v, stack: string(debug.Stack())}
		}
	}()
	return h.run(ctx, tenantID, md)
}

// missingHeader names a CloudEvents header the record lacks, or "": the
// cheap half of "is this a tenantflow event?", checked on every record.
func missingHeader(msg *message.Message) string {
	for _, h := range []string{"ce_id", "ce_type", "ce_subject", "ce_specversion"} {
		if msg.Metadata.Get(h) == "" {
			return "header " + h + " is missing"
		}
	}
	return ""
}

// undecodablePayload says why a record's payload is not its type's event,
// or "": decoded only for the records a handler reacts to.
func undecodablePayload(msg *message.Message) string {
	var p eventstore.Payload
	if err := json.Unmarshal(msg.Payload, &p); err != nil || p.StreamVersion < 1 || len(p.Data) == 0 {
		return fmt.Sprintf("payload is not {streamVersion, data}: %v", err)
	}
	version, _ := strconv.Atoi(msg.Metadata.Get("ce_schemaversion"))
	if _, err := domain.DecodeVersion(msg.Metadata.Get("ce_type"), version, p.Data); err != nil {
		return err.Error()
	}
	return ""
}

func (e *engine) handlers() []handler {
	var hs []handler
	prev := domain.TypeProvisioningRequested
	for _, step := range domain.Steps {
		trigger := []string{prev}
		if prev != domain.TypeProvisioningRequested {
			trigger = []string{prev + "." + domain.OutcomeCompleted, prev + "." + domain.OutcomeSkipped}
		}
		hs = append(hs, e.stepHandler(step, trigger))
		prev = "tenant." + step
	}
	hs = append(hs, e.sagaHandler(), e.notifyHandler())
	return hs
}

// isOutcome reports whether eventType is tenant.<step>.<one of outcomes>.
func isOutcome(eventType string, outcomes ...string) bool {
	for _, o := range outcomes {
		if strings.HasPrefix(eventType, "tenant.") && strings.HasSuffix(eventType, "."+o) {
			return true
		}
	}
	return false
}

// undoTrigger: the events after which an undo may be due.
func undoTrigger(eventType string) bool {
	return eventType == domain.TypeProvisioningFailed || eventType == domain.TypeDeprovisioningRequested ||
		isOutcome(eventType, domain.OutcomeCompensated, domain.OutcomeCompensationFailed)
}

// stepHandler runs one step, and its undo when compensation or
// deprovisioning reaches it.
func (e *engine) stepHandler(step string, trigger []string) handler {
	action := e.cfg.Actions[step]
	// A step without an action still answers its turn in the undo chain: a
	// cancellation can fail it, and the chain must go on past it.
	undoable := slices.Contains(domain.UndoableSteps, step)
	return handler{
		name: "step." + step,
		triggers: func(t string) bool {
			return slices.Contains(trigger, t) || (undoable && undoTrigger(t))
		},
		run: func(ctx context.Context, tenantID string, md eventstore.Metadata) error {
			t, err := e.tenants.Get(ctx, tenantID)
			if err != nil {
				return err
			}
			if next, ok := t.NextStep(); ok && next == step {
				return e.do(ctx, t, step, action, md)
			}
			if next, ok := t.NextUndo(); ok && next == step {
				return e.undo(ctx, t, step, action, md)
			}
			return nil
		},
	}
}

func (e *engine) retryFor(step string) Retry {
	r := e.cfg.Retry
	if n, ok := e.cfg.MaxTries[step]; ok {
		r.MaxTries = n
	}
	if d, ok := e.cfg.TryTimeouts[step]; ok {
		r.TryTimeout = d
	}
	return r
}

// do runs the step and records its one outcome.
func (e *engine) do(ctx context.Context, t *domain.Tenant, step string, action Action, md eventstore.Metadata) error {
	key := fmt.Sprintf("%s/%d/%s/do", t.ID(), t.Attempt(), step)
	outcome := domain.StepOutcome{Step: step, StartedAt: time.Now().UTC()}
	if t.CancelRequested() {
		outcome.Outcome, outcome.Error, outcome.At = domain.OutcomeFailed, domain.ReasonCancelled, time.Now().UTC()
		return e.record(ctx, t, md, key, func(t *domain.Tenant) ([]domain.Event, error) { return t.RecordStep(outcome) })
	}
	e.cfg.Faults.panicFor(step, t.Key())
	if step == domain.StepDeploy && e.cfg.Deployment != nil {
		if err := e.cfg.Faults.check(ctx, step, fmt.Sprintf("%s/%d", t.ID(), t.Attempt())); err != nil {
			outcome.Outcome, outcome.Error, outcome.Tries, outcome.At = domain.OutcomeFailed, err.Error(), 1, time.Now().UTC()
			return e.record(ctx, t, md, key, func(t *domain.Tenant) ([]domain.Event, error) { return t.RecordStep(outcome) })
		}
		return e.requestDeployment(ctx, t, md)
	}
	var res Result
	tries, err := e.retryFor(step).run(ctx, func(ctx context.Context) error {
		if err := e.cfg.Faults.check(ctx, step, fmt.Sprintf("%s/%d", t.ID(), t.Attempt())); err != nil {
			return err
		}
		var err error
		switch {
		case step == domain.StepResources:
			res = Result{Resources: t.Resources()} // the record of every resource is this event
		case step == domain.StepActivate:
			res = Result{}
		case action == nil:
			res = Result{Skipped: true} // not configured
		default:
			ctx, span := telemetry.Tracer().Start(ctx, step+" do")
			res, err = action.Do(ctx, t)
			if err != nil {
				span.RecordError(err)
			}
			span.End()
		}
		return err
	})
	if ctx.Err() != nil {
		return ctx.Err() // shutting down: the step runs again after redelivery
	}
	outcome.Tries, outcome.Resources, outcome.Outputs = tries, res.Resources, res.Outputs
	outcome.PlatformHost, outcome.CustomDomains = res.PlatformHost, res.CustomDomains
	switch {
	case err != nil:
		outcome.Outcome, outcome.Error = domain.OutcomeFailed, err.Error()
		e.cfg.Logger.Warn("step failed", "tenant_id", t.ID(), "step", step, "tries", tries, "error", err, "trace_id", telemetry.TraceID(ctx))
	case step == domain.StepActivate:
		return e.record(ctx, t, md, key, func(t *domain.Tenant) ([]domain.Event, error) {
			if t.CancelRequested() {
				cancelled := outcome
				cancelled.Outcome, cancelled.Error, cancelled.At = domain.OutcomeFailed, domain.ReasonCancelled, time.Now().UTC()
				return t.RecordStep(cancelled)
			}
			return t.Activate()
		})
	case res.Skipped:
		outcome.Outcome = domain.OutcomeSkipped
	default:
		outcome.Outcome = domain.OutcomeCompleted
	}
	outcome.At = time.Now().UTC()
	err = e.record(ctx, t, md, key, func(t *domain.Tenant) ([]domain.Event, error) { return t.RecordStep(outcome) })
	if err == nil {
		metrics.StepOutcomes.WithLabelValues(step, outcome.Outcome).Inc()
		metrics.StepDuration.WithLabelValues(step).Observe(outcome.At.Sub(outcome.StartedAt).Seconds())
		metrics.StepRetries.WithLabelValues(step).Add(float64(max(tries-1, 0)))
	}
	return err
}

// undo runs the step's undo and records compensated or compensation_failed.
func (e *engine) undo(ctx context.Context, t *domain.Tenant, step string, action Action, md eventstore.Metadata) error {
	started := time.Now().UTC()
	if step == domain.StepDeploy && e.cfg.Deployment != nil {
		outcome := domain.StepOutcome{Tries: 1, StartedAt: started, At: started}
		return e.record(ctx, t, md, fmt.Sprintf("%s/%d/%s/undo", t.ID(), t.Attempt(), step), func(t *domain.Tenant) ([]domain.Event, error) {
			return t.UndoDeployment(outcome)
		})
	}
	tries, err := e.retryFor(step).run(ctx, func(ctx context.Context) error {
		if action == nil {
			return nil // not configured: it made nothing
		}
		ctx, span := telemetry.Tracer().Start(ctx, step+" undo")
		defer span.End()
		return action.Undo(ctx, t)
	})
	if ctx.Err() != nil {
		return ctx.Err()
	}
	outcome := domain.StepOutcome{Step: step, Outcome: domain.OutcomeCompensated, Tries: tries, StartedAt: started, At: time.Now().UTC()}
	if err != nil {
		outcome.Outcome, outcome.Error = domain.OutcomeCompensationFailed, err.Error()
		e.cfg.Logger.Error("undo failed: resource left behind", "tenant_id", t.ID(), "step", step, "tries", tries, "error", err, "trace_id", telemetry.TraceID(ctx))
	}
	key := fmt.Sprintf("%s/%d/%s/undo", t.ID(), t.Attempt(), step)
	err = e.record(ctx, t, md, key, func(t *domain.Tenant) ([]domain.Event, error) { return t.RecordUndo(outcome) })
	if err == nil {
		metrics.Compensations.WithLabelValues(step, outcome.Outcome).Inc()
	}
	return err
}

// sagaHandler turns a failed step into provisioning.failed, and ends the
// undo chain (rolled back, or deactivated) when nothing is left to undo.
func (e *engine) sagaHandler() handler {
	return handler{
		name: "saga",
		triggers: func(t string) bool {
			return isOutcome(t, domain.OutcomeFailed) || undoTrigger(t)
		},
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
				if t.Status() == domain.StatusDeprovisioning {
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
	return handler{
		name: "step." + domain.StepNotify,
		triggers: func(t string) bool {
			return t == domain.TypeTenantActivated || t == domain.TypeProvisioningRolledBack
		},
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
					step, reason, _ := t.FailedStep()
					return e.cfg.Notifier.Failure(ctx, t, step, reason)
				})
				if ctx.Err() != nil {
					return ctx.Err()
				}
				outcome.Outcome, outcome.Tries = domain.OutcomeCompleted, tries
				if err != nil {
					outcome.Outcome, outcome.Error = domain.OutcomeFailed, err.Error()
				}
			}
			outcome.At = time.Now().UTC()
			return e.record(ctx, t, md, fmt.Sprintf("%s/%d/notify", tenantID, t.Attempt()),
				func(t *domain.Tenant) ([]domain.Event, error) { return t.RecordNotification(outcome) })
		},
	}
}

// record appends what decide returns, with ids derived from key, deciding
// first on loaded (the handler's own fold: a step folds the tenant once) and
// appending at its version. A concurrent append (another handler, a cancel
// request, a duplicate delivery racing this one) makes it fold again and
// decide on the new fold; a decision that is no longer due (ErrNotYourTurn)
// is done. decide may change loaded.
func (e *engine) record(ctx context.Context, loaded *domain.Tenant, md eventstore.Metadata, key string, decide func(*domain.Tenant) ([]domain.Event, error)) error {
	tenantID, t := loaded.ID(), loaded
	for try := 0; ; try++ {
		if try > 0 {
			var err error
			if t, err = e.tenants.Get(ctx, tenantID); err != nil {
				return err
			}
		}
		events, err := decide(t)
		if errors.Is(err, domain.ErrNotYourTurn) || (err == nil && len(events) == 0) {
			return nil
		}
		if err != nil {
			return err
		}
		err = e.tenants.AppendAt(ctx, tenantID, t.Version()-int64(len(events)), md, events, repo.IDs(key, len(events)))
		var ce *eventstore.ConcurrencyError
		if (errors.As(err, &ce) || errors.Is(err, eventstore.ErrEventConflict)) && try < 20 {
			continue
		}
		return err
	}
}
