package handlers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/tenantflow/tenantflow/adapters/kafka"
	"github.com/tenantflow/tenantflow/app"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/eventstore/wire"
	"github.com/tenantflow/tenantflow/handlers/middleware"
	"github.com/tenantflow/tenantflow/handlers/platform"
	"github.com/tenantflow/tenantflow/handlers/step"
	"golang.org/x/sync/errgroup"
)

// Config is what the handlers need.
type Config struct {
	Brokers     []string
	Topic       string // default wire.Topic
	GroupPrefix string // the consumer group is GroupName(prefix, Hosted); default "tenantflow"
	Hosted      []string
	// Concurrency bounds the records handled at once (default 512): one
	// tenant's in order, different tenants' side by side. A record waiting
	// for its handler's slot holds one of these, so the bound stays well
	// above the handlers' slots together: at 64 a burst for one step held
	// them all and starved the steps after it.
	Concurrency int
	// StepConcurrency bounds one handler's records at once (default 4):
	// the calls a back end sees from this process.
	StepConcurrency int
	// InstanceID makes the process a static member of its consumer group.
	InstanceID string
	// A handler that keeps failing on a record (its store unreachable, say)
	// tries MaxFailures times (default 10), delays from 100 ms up to
	// MaxFailureDelay (default 10 s); then the record is dead-lettered.
	MaxFailures     int
	MaxFailureDelay time.Duration
	Store           eventstore.Streams
	// Actions by step, as platform.Actions builds them; a step without one
	// is step.NotConfigured.
	Actions map[string]step.Action
	Steps   step.Runner // a step's tries, and how its errors are recorded
	// DeadLetters keeps what no handler could decode or handle (required).
	DeadLetters middleware.Store
	feed        message.Subscriber // in place of Kafka, in the in-memory tests
	Logger      *slog.Logger
}

// handler reacts to some event types of a tenant and decides from the
// tenant's log, never from the message alone, whether it has anything to
// do. Its name is durable: it keys its dead letters and its metrics.
type handler struct {
	name     string
	step     string // the step it runs, if it is a step's handler
	triggers func(eventType string) bool
	run      func(ctx context.Context, t *domain.Tenant, md eventstore.Metadata) error
}

type engine struct {
	cfg     Config
	tenants app.Repository[*domain.Tenant]
	dl      *middleware.DeadLetters
}

// Run hosts the handlers (cfg.Hosted, or all) behind one consumer, under
// watermill's Router over the per-tenant lanes of kafka.KeyedSubscriber,
// until ctx ends. A record's offset is committed only when every reacting
// handler has appended its outcome (or dead-lettered the record).
func Run(ctx context.Context, cfg Config) error {
	if cfg.DeadLetters == nil {
		return errors.New("handlers: Config.DeadLetters is required (a record no handler can decode must be set aside, not dropped)")
	}
	cfg.Topic, cfg.GroupPrefix = cmp.Or(cfg.Topic, wire.Topic), cmp.Or(cfg.GroupPrefix, "tenantflow")
	cfg.Logger, cfg.Actions = cmp.Or(cfg.Logger, slog.Default()), platform.With(cfg.Actions)
	cfg.MaxFailures, cfg.MaxFailureDelay = cmp.Or(cfg.MaxFailures, 10), cmp.Or(cfg.MaxFailureDelay, 10*time.Second)
	cfg.StepConcurrency, cfg.Concurrency = cmp.Or(cfg.StepConcurrency, 4), cmp.Or(cfg.Concurrency, 512)
	cfg.Steps.Logger = cfg.Logger
	e := &engine{cfg: cfg, tenants: app.Tenants(cfg.Store).Remembering(rememberedTenants), dl: middleware.NewDeadLetters(cfg.DeadLetters, cfg.GroupPrefix, cfg.Topic, cfg.Logger)}
	hosted, err := e.hosted()
	if err != nil {
		return err
	}
	sub := cfg.feed
	if sub == nil {
		sub = kafka.KeyedSubscriber{Options: kafka.KeyedOptions{Concurrency: cfg.Concurrency, OnAssign: e.dl.Load},
			Consumer: kafka.Consumer{Brokers: cfg.Brokers, Group: GroupName(cfg.GroupPrefix, cfg.Hosted), InstanceID: cfg.InstanceID, Logger: cfg.Logger}}
	} else if err := e.dl.Load(ctx); err != nil {
		return err
	}
	router, err := kafka.NewRouter(nil, cfg.Topic, cfg.Logger)
	if err != nil {
		return err
	}
	router.AddConsumerHandler("handlers", cfg.Topic, sub, e.dispatch(hosted))
	// The consumer and the steps' watchers run as one group: Run returns
	// only once every one has stopped, and the first to fail stops the rest.
	g, ctx := errgroup.WithContext(ctx)
	for _, h := range hosted {
		if w, ok := step.As[step.Watcher](cfg.Actions[h.step]); ok {
			g.Go(func() error { w.Watch(ctx, e.recordDecided); return nil })
		}
	}
	g.Go(func() error {
		if err := router.Run(ctx); err != nil || ctx.Err() != nil {
			return cmp.Or(err, ctx.Err())
		}
		return errors.New("handlers: the consumer stopped") // the watchers stop with it
	})
	return g.Wait()
}

// rememberedTenants is how many tenants' decoded events the handlers keep
// (app.Repository.Remembering): the tenants in flight, with room to spare
// (at most Concurrency records, 512 by default, are handled at once). About
// 15 events a tenant, a few hundred bytes each once decoded: some 10 MB.
const rememberedTenants = 2048

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

// HandlerNames are the names Config.Hosted takes: every step, saga, domains.
func HandlerNames() []string { return append(slices.Clone(domain.AllSteps), "saga", "domains") }

// hosted returns the handlers this process runs: the flow's steps
// (domain.Flow; notify, after the attempt, has its own), the saga and the
// domains' reconciler.
func (e *engine) hosted() ([]handler, error) {
	var all []handler
	for _, row := range domain.Flow {
		if !row.AfterAttempt {
			all = append(all, e.stepHandler(row))
		}
	}
	all = append(all, e.sagaHandler(), e.notifyHandler(), e.reconcileHandler())
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

// record appends a step.Turn's events, deciding first on loaded (the
// handler's own fold) and again on a new fold after a concurrent append
// (app.Repository.RecordOn); a turn's error (the context's) is returned.
func (e *engine) record(ctx context.Context, loaded *domain.Tenant, md eventstore.Metadata) func(step.Turn, error) error {
	return func(turn step.Turn, err error) error {
		if err != nil {
			return err
		}
		return e.tenants.RecordOn(ctx, loaded.ID(), loaded, md, app.Keyed(turn.Key, turn.Decide))
	}
}

// recordDecided is the step.Recorder a Watcher gets.
func (e *engine) recordDecided(ctx context.Context, tenantID, actor string, decide func(*domain.Tenant) ([]domain.Event, string, error)) error {
	return e.tenants.Record(ctx, tenantID, eventstore.Metadata{Actor: actor}, decide)
}
