package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/eventstore/wire"
)

// ExpiryWarner tells a tenant's contact that a stage of its subscription's
// expiry is due at dueAt (handlers/notify's MailNotifier and Novu).
type ExpiryWarner interface {
	ExpiryWarning(ctx context.Context, t *domain.Tenant, stage string, dueAt time.Time) error
}

// Leaser grants one process at a time the lease name
// (eventstore.Postgres.Lead): the returned context ends when the lease is
// lost.
type Leaser interface {
	Lead(ctx context.Context, name string, poll time.Duration, logger *slog.Logger) (context.Context, func(), error)
}

// Lifecycle carries out the deadlines of live tenants: subscriptions'
// expiry (domain.Tenant.ExpiryDue) and the purge of offboardings whose
// retention period is over (domain.Tenant.PurgeDue). Every Every it asks
// the log for the tenants whose subscription ended or whose purge is due,
// and for each does what is due — warns its contact, asks for its
// suspension, for its offboarding or for its purge. One process at a time
// does it (the lease "lifecycle"), so a contact is not warned by two
// replicas at once. Everything it did is in the tenants' streams, so a
// restart, or another replica taking the lease, carries on where it
// stopped. A warning is sent, then recorded: a
// crash between the two sends it once more, and a mail server that refuses
// leaves it for the next tick.
type Lifecycle struct {
	Tenants Repository[*domain.Tenant]
	Log     eventstore.Deadlines
	Lease   Leaser
	Warner  ExpiryWarner        // nil: a warning is recorded, not sent
	Policy  domain.ExpiryPolicy // expiry's periods
	// Now is the clock (nil: time.Now); tests move it through the periods.
	Now    func() time.Time
	Every  time.Duration // default: a minute
	Logger *slog.Logger
}

// Run leads and checks every Every until ctx ends; a lost lease is taken
// again. It never fails: a database that cannot be reached is tried again
// every few seconds, so tenantd's other parts keep running meanwhile.
func (x *Lifecycle) Run(ctx context.Context) error {
	every := x.Every
	if every <= 0 {
		every = time.Minute
	}
	for ctx.Err() == nil {
		leading, release, err := x.Lease.Lead(ctx, "lifecycle", 5*time.Second, x.Logger)
		if err != nil {
			if ctx.Err() == nil {
				x.Logger.Warn("lifecycle lease not taken; trying again", "error", err)
				select {
				case <-ctx.Done():
				case <-time.After(5 * time.Second):
				}
			}
			continue
		}
		tick := time.NewTicker(every)
		for leading.Err() == nil {
			if _, err := x.Check(leading); err != nil && leading.Err() == nil {
				x.Logger.Warn("lifecycle check failed; trying again at the next tick", "error", err)
			}
			select {
			case <-leading.Done():
			case <-tick.C:
			}
		}
		tick.Stop()
		release()
	}
	return nil
}

// Check does, once, what is due now of every tenant, and returns how many
// tenants it recorded something for.
func (x *Lifecycle) Check(ctx context.Context) (int, error) {
	now := time.Now()
	if x.Now != nil {
		now = x.Now()
	}
	// The earliest thing expiry does is warn before the end of the grace.
	ended, err := x.Log.SubscriptionsEnded(ctx, []string{domain.TypeDeprovisioningRequested, domain.TypeProvisioningRolledBack},
		now.Add(x.Policy.Warning-x.Policy.Grace))
	if err != nil {
		return 0, err
	}
	purges, err := x.Log.OffboardingsDue(ctx, []string{domain.TypeOffboardingCancelled, domain.TypeDeprovisioningRequested}, now)
	if err != nil {
		return 0, err
	}
	acted := 0
	for _, s := range ended {
		acted += x.act(ctx, s, "expiry", func(t *domain.Tenant) ([]domain.Event, string, error) { return x.expire(ctx, t, now) })
	}
	for _, s := range purges {
		acted += x.act(ctx, s, "offboarding", func(t *domain.Tenant) ([]domain.Event, string, error) {
			events, err := t.Purge(now)
			return events, fmt.Sprintf("%s/purge/%d", t.ID(), t.Version()), err
		})
	}
	return acted, nil
}

// act records what decide decides for the tenant of stream, as actor; 1
// when it recorded something.
func (x *Lifecycle) act(ctx context.Context, stream, actor string, decide Decision[*domain.Tenant]) int {
	id, ok := wire.TenantOf(stream)
	if !ok {
		return 0
	}
	did := false
	err := x.Tenants.Record(ctx, id, eventstore.Metadata{Actor: actor}, func(t *domain.Tenant) ([]domain.Event, string, error) {
		events, key, err := decide(t)
		did = len(events) > 0
		return events, key, err
	})
	if err != nil {
		x.Logger.Warn("a tenant's deadline could not be acted on; trying again at the next tick", "tenant_id", id, "by", actor, "error", err)
		return 0
	}
	if did {
		return 1
	}
	return 0
}

// expire does what expiry asks of t at now: a warning is sent, then
// recorded.
func (x *Lifecycle) expire(ctx context.Context, t *domain.Tenant, now time.Time) ([]domain.Event, string, error) {
	a, due := t.ExpiryDue(now, x.Policy)
	if !due {
		return nil, "", nil
	}
	if a.Do == domain.ExpiryWarn && x.Warner != nil {
		if err := x.Warner.ExpiryWarning(ctx, t, a.Stage, a.DueAt); err != nil {
			return nil, "", fmt.Errorf("warning of %s: %w", a.Stage, err)
		}
	}
	events, err := t.ActOnExpiry(a, now)
	return events, fmt.Sprintf("%s/expiry/%d/%s/%s/%d", t.ID(), t.Attempt(), a.Do, a.Stage, t.Version()), err
}
