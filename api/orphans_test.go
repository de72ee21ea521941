package api

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/tenantflow/tenantflow/app"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/internal/testkit/wait"
	"github.com/tenantflow/tenantflow/platform/auth"
)

// rolledBackWithOrphan is a tenant whose storage step completed, whose dns
// step failed, and whose storage undo failed: PROVISION_FAILED with the
// bucket as its orphan.
func (e *apiEnv) rolledBackWithOrphan(t *testing.T) *domain.Tenant {
	t.Helper()
	ctx := context.Background()
	key := "o" + uuid.NewString()[:8]
	tn, evs, err := domain.NewTenant(uuid.NewString(), "", domain.TenantInput{Key: key, Name: "Orphaned " + key,
		Contact: domain.Contact{Email: key + "@example.com", FirstName: "A", LastName: "B"}, Domains: []string{key + ".example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := app.CreateTenant(ctx, e.store, tn, eventstore.Metadata{}, evs); err != nil {
		t.Fatal(err)
	}
	sub := domain.Subscription{ID: "s", SubscriberID: "c", PlanID: "p", StartDate: time.Now(), Plan: domain.Plan{ID: "p", Name: "P", Tier: "silo"}}
	tenants := app.Tenants(e.store)
	steps := []func(*domain.Tenant) ([]domain.Event, error){
		func(t *domain.Tenant) ([]domain.Event, error) { return t.RequestProvisioning(sub, domain.DefaultTiers) },
	}
	for _, s := range domain.Steps[:slices.Index(domain.Steps, domain.StepDNS)] {
		steps = append(steps, func(t *domain.Tenant) ([]domain.Event, error) {
			return t.RecordStep(domain.StepOutcome{Step: s, Outcome: domain.OutcomeCompleted, Tries: 1, At: time.Now(),
				Resources: []domain.Resource{{Kind: s, ID: s + "-" + key}}})
		})
	}
	steps = append(steps,
		func(t *domain.Tenant) ([]domain.Event, error) {
			return t.RecordStep(domain.StepOutcome{Step: domain.StepDNS, Outcome: domain.OutcomeFailed, Tries: 1, Error: "refused", At: time.Now()})
		},
		func(t *domain.Tenant) ([]domain.Event, error) { return t.FailProvisioning() })
	for _, decide := range steps {
		if tn, err = tenants.Update(ctx, tn.ID(), eventstore.Metadata{}, decide); err != nil {
			t.Fatal(err)
		}
	}
	for {
		next, ok := tn.NextUndo()
		if !ok {
			break
		}
		o := domain.StepOutcome{Step: next, Outcome: domain.OutcomeCompensated, At: time.Now()}
		if next == domain.StepStorage {
			o.Outcome, o.Error = domain.OutcomeCompensationFailed, "bucket not empty"
		}
		if tn, err = tenants.Update(ctx, tn.ID(), eventstore.Metadata{}, func(t *domain.Tenant) ([]domain.Event, error) { return t.RecordUndo(o) }); err != nil {
			t.Fatal(err)
		}
	}
	if tn, err = tenants.Update(ctx, tn.ID(), eventstore.Metadata{}, func(t *domain.Tenant) ([]domain.Event, error) { return t.FinishUndo() }); err != nil {
		t.Fatal(err)
	}
	return tn
}

// Orphans are on the API, each route with its own permission: listed
// (10240), their undos retried (10241), forgotten with a reason (10241) —
// so tenantctl and a dashboard need an operator's token, not the database
// owner's credentials.
func TestOrphansOnTheAPI(t *testing.T) {
	e := newAPI(t)
	tn := e.rolledBackWithOrphan(t)
	view, manage, other := e.token(t, auth.ViewOrphans), e.token(t, auth.ManageOrphans), e.token(t, auth.ViewTenant, auth.DeleteTenant)

	for _, c := range []struct {
		method, path, token string
		want                int
	}{
		{"GET", "/orphans", "", http.StatusUnauthorized},
		{"GET", "/orphans", other, http.StatusForbidden},
		{"GET", "/orphans", manage, http.StatusForbidden},
		{"GET", "/orphans?tenant=not-a-uuid", view, http.StatusBadRequest},
		{"POST", "/tenants/" + tn.ID() + "/orphans/retry", view, http.StatusForbidden},
		{"POST", "/tenants/" + tn.ID() + "/orphans/forget", other, http.StatusForbidden},
		{"POST", "/tenants/" + uuid.NewString() + "/orphans/retry", manage, http.StatusNotFound},
	} {
		if r := e.do(t, c.method, c.path, c.token, "application/json", []byte(`{}`)); r.status != c.want {
			t.Errorf("%s %s: %d, want %d (%v)", c.method, c.path, r.status, c.want, r.body)
		}
	}

	// The list catches up with the log (the resources projection).
	listed := wait.Value(t, 15*time.Second, func() ([]any, error) {
		r := e.do(t, "GET", "/orphans?tenant="+tn.ID(), view, "", nil)
		if listed, _ := r.body["orphans"].([]any); r.status == http.StatusOK && len(listed) == 1 {
			return listed, nil
		}
		return nil, fmt.Errorf("GET /orphans does not list the bucket: %d %v", r.status, r.body)
	})
	o := listed[0].(map[string]any)
	if o["step"] != domain.StepStorage || o["id"] != "storage-"+tn.Key() || o["tenantId"] != tn.ID() {
		t.Fatalf("listed %v", o)
	}

	// Forget: a reason is required; an orphan the tenant lacks is 404;
	// nothing is recorded for either.
	before, _ := e.store.Load(context.Background(), "tenant-"+tn.ID())
	forget := "/tenants/" + tn.ID() + "/orphans/forget"
	if r := e.do(t, "POST", forget, manage, "application/json", []byte(`{"step":"storage","kind":"storage","id":"storage-`+tn.Key()+`","reason":" "}`)); r.status != http.StatusBadRequest {
		t.Errorf("forget without a reason: %d %v", r.status, r.body)
	}
	if r := e.do(t, "POST", forget, manage, "application/json", []byte(`{"step":"storage","kind":"storage","id":"someone-else","reason":"gone"}`)); r.status != http.StatusNotFound {
		t.Errorf("forget of an orphan the tenant lacks: %d %v", r.status, r.body)
	}
	if after, _ := e.store.Load(context.Background(), "tenant-"+tn.ID()); len(after) != len(before) {
		t.Fatalf("refused requests recorded %d events", len(after)-len(before))
	}

	// Retry: recorded as the operator's, with the storage step to undo again.
	if r := e.do(t, "POST", "/tenants/"+tn.ID()+"/orphans/retry", manage, "", nil); r.status != http.StatusAccepted {
		t.Fatalf("retry: %d %v", r.status, r.body)
	}
	evs, _ := e.store.Load(context.Background(), "tenant-"+tn.ID())
	if last := evs[len(evs)-1]; last.Type != domain.TypeUndoRetryRequested || last.Metadata.Actor != "tester" {
		t.Fatalf("retry recorded %s by %q", last.Type, last.Metadata.Actor)
	}
	// While it runs, a second retry and a forget wait (409).
	if r := e.do(t, "POST", "/tenants/"+tn.ID()+"/orphans/retry", manage, "", nil); r.status != http.StatusConflict {
		t.Errorf("a second retry while the first runs: %d %v", r.status, r.body)
	}
	// Forget: recorded with the operator and the reason; the list empties.
	if r := e.do(t, "POST", forget, manage, "application/json", []byte(`{"step":"storage","kind":"storage","id":"storage-`+tn.Key()+`","reason":"emptied and removed by hand"}`)); r.status != http.StatusAccepted {
		t.Fatalf("forget: %d %v", r.status, r.body)
	}
	evs, _ = e.store.Load(context.Background(), "tenant-"+tn.ID())
	if last := evs[len(evs)-1]; last.Type != domain.TypeOrphanForgotten || last.Metadata.Actor != "tester" || !strings.Contains(string(last.Data), "removed by hand") {
		t.Fatalf("forget recorded %s by %q: %s", last.Type, last.Metadata.Actor, last.Data)
	}
	wait.For(t, 15*time.Second, func() error {
		r := e.do(t, "GET", "/orphans?tenant="+tn.ID(), view, "", nil)
		if listed, _ := r.body["orphans"].([]any); r.status == http.StatusOK && len(listed) == 0 {
			return nil
		}
		return fmt.Errorf("the forgotten orphan is still listed: %v", r.body)
	})
}
