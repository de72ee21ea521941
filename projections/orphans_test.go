package projections_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tenantflow/tenantflow/domain"
)

// attemptPlan is one provisioning attempt as a test scripts it.
type attemptPlan struct {
	failAt    string          // the step that fails ("": none, the tenant becomes ACTIVE)
	silent    bool            // the failing step reports no resources
	undoFails map[string]bool // steps whose undo fails
}

// GET /tenants/{id} (the stream's fold, rendered) and tenantctl orphans
// list (the orphans projection) give one answer about orphans, checked here
// for rolled-back, retried and deprovisioned tenants with failed undos, and
// for orphans an operator forgot; the tenant list follows renames.
func TestOrphansAreOneAnswer(t *testing.T) {
	e := newEnv(t)
	e.follow(t)
	ctx := context.Background()
	sub := domain.Subscription{ID: "s", SubscriberID: "c", PlanID: "p", StartDate: time.Now(), Plan: domain.Plan{ID: "p", Name: "P", Tier: "silo"}}
	scenarios := map[string]struct {
		attempts    []attemptPlan
		deprovision map[string]bool // undo failures of a deprovisioning after the last attempt
		forget      bool            // an operator forgets the orphans at the end
		reconcile   bool            // ACTIVE, then its domains and contacts change and the dns step follows
		rename      bool            // ACTIVE, then only its name changes
		orphans     []string        // the expected orphans, as step/kind
	}{
		"active, its domains changed and followed": {attempts: []attemptPlan{{}}, reconcile: true},
		"active, renamed only":                     {attempts: []attemptPlan{{}}, rename: true},
		"rolled back, the failed step's undo failed": {
			attempts: []attemptPlan{{failAt: domain.StepStorage, undoFails: map[string]bool{domain.StepStorage: true}}},
			orphans:  []string{"storage/thing"}},
		"a failed step that reported nothing, two undos failed": {
			attempts: []attemptPlan{{failAt: domain.StepStorage, silent: true, undoFails: map[string]bool{domain.StepStorage: true, domain.StepDatabase: true}}},
			orphans:  []string{"database/thing", "storage/unknown"}},
		"retried after orphans: what it made again is its own": {
			attempts: []attemptPlan{
				{failAt: domain.StepStorage, silent: true, undoFails: map[string]bool{domain.StepStorage: true, domain.StepDatabase: true}},
				{}},
			orphans: []string{"storage/unknown"}},
		"retried and failed the same way again": {
			attempts: []attemptPlan{
				{failAt: domain.StepStorage, silent: true, undoFails: map[string]bool{domain.StepStorage: true, domain.StepDatabase: true}},
				{failAt: domain.StepStorage, silent: true, undoFails: map[string]bool{domain.StepStorage: true}}},
			orphans: []string{"storage/unknown"}},
		"an earlier attempt's orphan, its undo failing again in the next rollback": {
			attempts: []attemptPlan{
				{failAt: domain.StepDNS, undoFails: map[string]bool{domain.StepDNS: true}},
				{failAt: domain.StepStorage, undoFails: map[string]bool{domain.StepDNS: true}}},
			orphans: []string{"dns/thing"}},
		"an earlier attempt's orphan, removed by the next rollback": {
			attempts: []attemptPlan{
				{failAt: domain.StepDNS, undoFails: map[string]bool{domain.StepDNS: true}},
				{failAt: domain.StepStorage}}},
		"rolled back with orphans, then forgotten by an operator": {
			attempts: []attemptPlan{{failAt: domain.StepStorage, silent: true, undoFails: map[string]bool{domain.StepStorage: true, domain.StepDatabase: true}}},
			forget:   true},
		"deprovisioned, one undo failed": {
			attempts:    []attemptPlan{{}},
			deprovision: map[string]bool{domain.StepDNS: true},
			orphans:     []string{"dns/thing"}},
	}
	ids := map[string]string{}
	for name, sc := range scenarios {
		id, step := e.newTenant(t, "o"+uuid.NewString()[:8], name, "a.example.com")
		ids[name] = id
		undoAll := func(fails map[string]bool) { e.undoAll(t, id, step, func(_ int, s string) bool { return fails[s] }) }
		for _, a := range sc.attempts {
			step(func(t *domain.Tenant) ([]domain.Event, error) { return t.RequestProvisioning(sub, domain.DefaultTiers) })
			for _, s := range domain.Steps[:len(domain.Steps)-1] {
				now := time.Now().UTC()
				o := domain.StepOutcome{Step: s, Outcome: domain.OutcomeCompleted, Tries: 1, StartedAt: now, At: now,
					Resources: []domain.Resource{{Step: s, Kind: "thing", ID: s + "-" + id[:8]}}}
				if s == a.failAt {
					o.Outcome, o.Error = domain.OutcomeFailed, "boom"
					if a.silent {
						o.Resources = nil
					}
				}
				step(func(t *domain.Tenant) ([]domain.Event, error) { return t.RecordStep(o) })
				if s == a.failAt {
					break
				}
			}
			if a.failAt == "" {
				step(func(t *domain.Tenant) ([]domain.Event, error) { return t.Activate() })
				continue
			}
			step(func(t *domain.Tenant) ([]domain.Event, error) { return t.FailProvisioning() })
			undoAll(a.undoFails)
		}
		if sc.reconcile {
			step(func(t *domain.Tenant) ([]domain.Event, error) {
				return t.Update(domain.TenantUpdate{Domains: &[]string{"b.example.com"}, Contacts: &[]domain.TenantContact{
					{Contact: domain.Contact{Email: "a@example.com", FirstName: "A", LastName: "B"}},
					{Contact: domain.Contact{Email: "c@example.com", FirstName: "C", LastName: "D"}, Primary: true}}}, time.Now())
			})
			step(func(t *domain.Tenant) ([]domain.Event, error) {
				update, _, _ := t.DomainsReconcileDue()
				return t.RecordReconciled(update, []domain.Reconciled{{Step: domain.StepIdentity},
					{Step: domain.StepDNS, Resources: []domain.Resource{{Step: domain.StepDNS, Kind: "dns-cname", ID: "b.example.com -> lb"}}, PlatformHost: "p.test"}}, time.Now())
			})
		}
		if sc.rename {
			step(func(t *domain.Tenant) ([]domain.Event, error) {
				return t.Update(domain.TenantUpdate{Name: new("Renamed " + name)}, time.Now())
			})
		}
		if sc.deprovision != nil {
			step(func(t *domain.Tenant) ([]domain.Event, error) { return t.RequestDeprovisioning("bye") })
			undoAll(sc.deprovision)
		}
		if sc.forget {
			cur, _ := e.tenants.Get(ctx, id)
			for _, o := range cur.Orphans() {
				step(func(t *domain.Tenant) ([]domain.Event, error) {
					return t.ForgetOrphan(o.Step, o.Kind, o.ID, "removed by hand", time.Now())
				})
			}
		}
	}
	e.caughtUp(t)
	for name, sc := range scenarios {
		tn, err := e.tenants.Get(ctx, ids[name])
		if err != nil {
			t.Fatal(err)
		}
		if s, err := e.engine.SummaryForTest(ctx, ids[name]); err != nil || s.Name != tn.Name() || s.Version != tn.Version() {
			t.Errorf("%s: the list shows %+v (%v), the fold %s v%d", name, s, err, tn.Name(), tn.Version())
		}
		if listed, err := e.engine.Orphans(ctx, ids[name]); err != nil || !sameList(listed, tn.Orphans()) {
			t.Errorf("%s: tenantctl orphans list would show %v (%v), the fold %v", name, listed, err, tn.Orphans())
		}
		var got []string
		for _, o := range tn.Orphans() {
			got = append(got, o.Step+"/"+o.Kind)
		}
		if !slices.Equal(got, sc.orphans) {
			t.Errorf("%s: orphans %v, want %v", name, got, sc.orphans)
		}
		for _, r := range tn.Resources() {
			if slices.ContainsFunc(tn.Orphans(), func(o domain.Resource) bool { return o.Kind == r.Kind && o.ID == r.ID }) {
				t.Errorf("%s: %s/%s is listed as a resource and as an orphan", name, r.Kind, r.ID)
			}
		}
	}
}

// sameList compares two resource lists in order, to PostgreSQL's precision.
func sameList(a, b []domain.Resource) bool {
	norm := func(rs []domain.Resource) []domain.Resource {
		out := slices.Clone(rs)
		for i := range out {
			out[i].CreatedAt = out[i].CreatedAt.UTC().Truncate(time.Microsecond)
		}
		return out
	}
	return slices.Equal(norm(a), norm(b))
}
