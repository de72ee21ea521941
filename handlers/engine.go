package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/tenantflow/tenantflow/adapters/kafka"
	"github.com/tenantflow/tenantflow/app"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/handlers/faults"
	"github.com/tenantflow/tenantflow/handlers/middleware"
	"github.com/tenantflow/tenantflow/handlers/platform"
	"github.com/tenantflow/tenantflow/handlers/step"
	"github.com/tenantflow/tenantflow/platform/pii"
	"golang.org/x/sync/errgroup"
)

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
	// and its tenant held (default 10); delays follow Retry's policy from
	// 100 ms up to MaxFailureDelay (default 10 s).
	MaxFailures     int
	MaxFailureDelay time.Duration
	Store           eventstore.Streams
	// Actions by step, as Actions builds them: a step without one is
	// step.NotConfigured (skipped, saying why). The platform's own steps
	// (package platform) are filled in where none is named.
	Actions map[string]step.Action
	Retry   Retry
	// MaxTries overrides Retry.MaxTries per step; TryTimeouts overrides
	// Retry.TryTimeout per step (infrastructure runs take minutes).
	MaxTries    map[string]int
	TryTimeouts map[string]time.Duration
	// DeadLetters keeps what no handler could decode or handle (required):
	// the table (package deadletters), a map in the in-memory tests.
	DeadLetters middleware.Store
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
	e := &engine{cfg: cfg, tenants: app.Tenants(cfg.Store), dl: middleware.NewDeadLetters(cfg.DeadLetters, cfg.GroupPrefix, cfg.Topic, cfg.Logger)}
	hosted, err := e.hosted()
	if err != nil {
		return err
	}
	// The consumer and the steps' watchers run as one group: Run returns
	// only once every one has stopped, and the first to fail stops the rest.
	g, ctx := errgroup.WithContext(ctx)
	for _, h := range hosted {
		if w, ok := step.As[step.Watcher](cfg.Actions[h.step]); ok {
			g.Go(func() error { w.Watch(ctx, e.recordDecided); return nil })
		}
	}
	consumer := kafka.Consumer{Brokers: cfg.Brokers, Group: GroupName(cfg.GroupPrefix, cfg.Hosted), Topic: cfg.Topic,
		InstanceID: cfg.InstanceID, Logger: cfg.Logger}
	g.Go(func() error {
		var err error
		if cfg.feed != nil {
			if err = e.dl.Load(ctx); err == nil {
				err = cfg.feed(ctx, consumer.Wrap(e.dispatch(hosted)))
			}
		} else {
			err = consumer.Keyed(ctx, kafka.KeyedOptions{Concurrency: cfg.Concurrency, OnAssign: e.dl.Load}, e.dispatch(hosted))
		}
		if err == nil && ctx.Err() == nil {
			err = errors.New("handlers: the consumer stopped") // the watchers stop with it
		}
		return err
	})
	return g.Wait()
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
	for _, name := range domain.AllSteps {
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
	dl      *middleware.DeadLetters
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
