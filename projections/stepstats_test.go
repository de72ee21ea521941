package projections_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/projections"
)

// GET /stats/provisioning counts each step run under the tier of its own
// attempt: tenants whose first attempt (tier silo) failed at the database
// step and whose second (tier pooled) went through, written in batches of
// one event (live) and of whole streams, several to a statement (rebuild).
func TestStepRunsCarryTheirAttemptsTier(t *testing.T) {
	e := newEnv(t)
	e.follow(t)
	ctx := context.Background()
	const tenants = 3
	for i := range tenants {
		id, step := e.newTenant(t, fmt.Sprintf("t%d%s", i, uuid.NewString()[:6]), "T")
		for _, tier := range []string{"silo", "pooled"} {
			sub := domain.Subscription{ID: "s", SubscriberID: "c", PlanID: tier, StartDate: time.Now(), Plan: domain.Plan{ID: tier, Name: tier, Tier: tier}}
			step(func(t *domain.Tenant) ([]domain.Event, error) { return t.RequestProvisioning(sub, domain.DefaultTiers) })
			for _, s := range domain.Steps[:len(domain.Steps)-1] {
				now := time.Now().UTC()
				o := domain.StepOutcome{Step: s, Outcome: domain.OutcomeCompleted, Tries: 1, StartedAt: now, At: now.Add(time.Millisecond)}
				if tier == "silo" && s == domain.StepDatabase {
					o.Outcome, o.Error = domain.OutcomeFailed, "boom"
				}
				step(func(t *domain.Tenant) ([]domain.Event, error) { return t.RecordStep(o) })
				if o.Outcome == domain.OutcomeFailed {
					break
				}
			}
			if tier == "pooled" {
				step(func(t *domain.Tenant) ([]domain.Event, error) { return t.Activate() })
				continue
			}
			step(func(t *domain.Tenant) ([]domain.Event, error) { return t.FailProvisioning() })
			e.undoAll(t, id, step, nil)
		}
	}
	e.caughtUp(t)

	// step/tier: runs/failures
	want := map[string]string{"idp/silo": "3/0", "database/silo": "3/3", "idp/pooled": "3/0", "database/pooled": "3/0", "storage/pooled": "3/0"}
	check := func(how string) {
		t.Helper()
		stats, err := e.engine.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, s := range stats {
			if s.Tier != "" {
				got[s.Step+"/"+s.Tier] = fmt.Sprintf("%d/%d", s.Count, s.Failures)
			}
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: %s has %q runs/failures, want %q (all: %v)", how, k, got[k], v, got)
			}
		}
		if i := slices.IndexFunc(stats, func(s projections.StepStat) bool { return s.Step == domain.StepStorage && s.Tier == "silo" }); i >= 0 {
			t.Errorf("%s: a storage run counted under silo, whose attempt failed before it: %+v", how, stats[i])
		}
	}
	check("live")
	if _, err := e.engine.Rebuild(ctx, projections.NameStats, nil); err != nil {
		t.Fatal(err)
	}
	check("rebuilt")
}
