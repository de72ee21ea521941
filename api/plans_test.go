package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/internal/testkit/wait"
	"github.com/tenantflow/tenantflow/platform/auth"
)

// arcPlan is ARC's plan body as its admin portal posts it: no id, ARC's
// tier, bookkeeping fields.
const arcPlan = `{"name": "Premium", "description": "For large teams", "price": 100, "currencyId": "cur-usd", "tier": "PREMIUM",
  "billingCycleId": "bc-monthly", "size": "LARGE", "sizeConfig": {"maxUsers": 100}, "metaData": {"pipelineName": "premium-pipeline"},
  "createdOn": "2024-12-01T10:00:00.000Z", "createdBy": "a1b2", "deleted": false}`

// The catalogue: plans are added, read, listed, changed within their tier
// and archived (never deleted); each refusal changes nothing.
func TestPlanCatalogue(t *testing.T) {
	e := newAPI(t)
	admin := e.token(t, auth.CreatePlan, auth.ViewPlan, auth.UpdatePlan, auth.DeletePlan)
	viewer := e.token(t, auth.ViewTenant)

	if r := e.do(t, "POST", "/plans", viewer, js, []byte(arcPlan)); r.status != http.StatusForbidden {
		t.Fatalf("without 7005: %d", r.status)
	}
	created := e.do(t, "POST", "/plans", admin, js, []byte(arcPlan))
	id, _ := created.body["id"].(string)
	if created.status != http.StatusCreated || len(id) != 36 || created.header.Get("Location") != "/plans/"+id ||
		created.body["tier"] != "PREMIUM" || created.body["archived"] != false {
		t.Fatalf("ARC's plan body: %d %v", created.status, created.body)
	}
	named := e.do(t, "POST", "/plans", admin, js, []byte(`{"id": "plan-basic", "name": "Basic", "price": 10, "tier": "BASIC"}`))
	if named.status != http.StatusCreated || named.body["id"] != "plan-basic" {
		t.Fatalf("a plan with its own id: %d %v", named.status, named.body)
	}
	before := e.eventCount(t)
	for name, body := range map[string]string{
		"the same id again": `{"id": "plan-basic", "name": "Again", "tier": "BASIC"}`,
		"an unknown tier":   `{"id": "plan-x", "name": "X", "tier": "platinum"}`,
		"an id with spaces": `{"id": "plan x", "name": "X", "tier": "BASIC"}`,
		"an unknown field":  `{"id": "plan-y", "name": "Y", "tier": "BASIC", "colour": "red"}`,
	} {
		r := e.do(t, "POST", "/plans", admin, js, []byte(body))
		want := http.StatusBadRequest
		if name == "the same id again" {
			want = http.StatusConflict
		}
		if r.status != want {
			t.Errorf("%s: %d %v, want %d", name, r.status, r.body, want)
		}
	}
	if after := e.eventCount(t); after != before {
		t.Errorf("refused plans stored %d events", after-before)
	}

	if r := e.do(t, "PATCH", "/plans/"+id, admin, js, []byte(`{"tier": "BASIC"}`)); r.status != http.StatusConflict {
		t.Errorf("a tier change: %d %v, want 409", r.status, r.body)
	}
	if r := e.do(t, "PATCH", "/plans/"+id, admin, js, []byte(`{"price": 120, "tier": "PREMIUM"}`)); r.status != http.StatusOK || r.body["price"] != 120.0 {
		t.Errorf("a price change: %d %v", r.status, r.body)
	}
	if r := e.do(t, "DELETE", "/plans/"+id, admin, "", nil); r.status != http.StatusNoContent {
		t.Fatalf("archive: %d %v", r.status, r.body)
	}
	if r := e.do(t, "GET", "/plans/"+id, viewer, "", nil); r.status != http.StatusForbidden {
		t.Errorf("without 7008: %d", r.status)
	}
	if r := e.do(t, "GET", "/plans/"+id, admin, "", nil); r.status != http.StatusOK || r.body["archived"] != true || r.body["price"] != 120.0 {
		t.Errorf("the archived plan: %d %v", r.status, r.body)
	}
	if r := e.do(t, "PATCH", "/plans/"+id, admin, js, []byte(`{"price": 130}`)); r.status != http.StatusConflict {
		t.Errorf("terms of an archived plan: %d %v, want 409", r.status, r.body)
	}
	// The list comes from the projection: archived plans only when asked for.
	wait.For(t, 10*time.Second, func() error {
		all := e.do(t, "GET", "/plans?archived=true", admin, "", nil)
		offered := e.do(t, "GET", "/plans", admin, "", nil)
		if s := fmt.Sprint(all.body["plans"]); !strings.Contains(s, id) || !strings.Contains(s, "archived:true") {
			return fmt.Errorf("archived=true: %v", all.body)
		}
		if strings.Contains(fmt.Sprint(offered.body["plans"]), id) {
			return fmt.Errorf("the archived plan is offered: %v", offered.body)
		}
		return nil
	})
	for _, q := range []string{"archived=maybe", "archived=", "limit=", "limit=1&limit=2", "tier=%00", "tier=%ff", "cursor=__main__"} {
		if r := e.do(t, "GET", "/plans?"+q, admin, "", nil); r.status != http.StatusBadRequest {
			t.Errorf("GET /plans?%s: %d %v, want 400", q, r.status, r.body)
		}
	}
	if r := e.do(t, "PATCH", "/plans/"+id, admin, js, []byte(`null`)); r.status != http.StatusBadRequest {
		t.Errorf("a null body: %d %v, want 400", r.status, r.body)
	}
}

// A subscription may name its plan only by planId: the catalogue's plan is
// recorded; an unknown one is a 400, an archived one a 409. The tenant's
// subscription and its history are served.
func TestSubscriptionFromTheCatalogue(t *testing.T) {
	e := newAPI(t)
	admin := e.token(t, auth.CreateTenant, auth.ProvisionTenant, auth.CreatePlan, auth.UpdatePlan, auth.ViewSubscription)
	if r := e.do(t, "POST", "/plans", admin, js, []byte(strings.Replace(arcPlan, `"name"`, `"id": "plan-premium", "name"`, 1))); r.status != http.StatusCreated {
		t.Fatalf("plan: %d %v", r.status, r.body)
	}
	r := e.do(t, "POST", "/tenants", admin, js, tenantBody("6acme"))
	tenantID, _ := r.body["id"].(string)
	if s := e.do(t, "GET", "/tenants/"+tenantID+"/subscription", admin, "", nil); s.status != http.StatusOK || s.body["current"] != nil ||
		len(s.body["history"].([]any)) != 0 {
		t.Fatalf("before provisioning: %d %v", s.status, s.body)
	}
	byID := func(planID string) []byte {
		return []byte(`{"id": "sub-9", "subscriberId": "` + tenantID + `", "planId": "` + planID + `", "invoiceId": "inv-9", "startDate": "2026-01-01", "status": 1}`)
	}
	before := e.eventCount(t)
	if r := e.do(t, "POST", "/tenants/"+tenantID+"/provision", admin, js, byID("plan-nowhere")); r.status != http.StatusBadRequest ||
		r.body["errors"].(map[string]any)["planId"] == nil {
		t.Errorf("an unknown plan: %d %v", r.status, r.body)
	}
	if r := e.do(t, "PATCH", "/plans/plan-premium", admin, js, []byte(`{"archived": true}`)); r.status != http.StatusOK {
		t.Fatalf("archive: %d %v", r.status, r.body)
	}
	before++ // the archive
	if r := e.do(t, "POST", "/tenants/"+tenantID+"/provision", admin, js, byID("plan-premium")); r.status != http.StatusConflict {
		t.Errorf("an archived plan: %d %v, want 409", r.status, r.body)
	}
	if after := e.eventCount(t); after != before {
		t.Errorf("refused subscriptions stored %d events", after-before)
	}
	if r := e.do(t, "PATCH", "/plans/plan-premium", admin, js, []byte(`{"archived": false}`)); r.status != http.StatusOK {
		t.Fatalf("offer again: %d %v", r.status, r.body)
	}
	if r := e.do(t, "POST", "/tenants/"+tenantID+"/provision", admin, js, byID("plan-premium")); r.status != http.StatusAccepted {
		t.Fatalf("the catalogue's plan: %d %v", r.status, r.body)
	}
	s := e.do(t, "GET", "/tenants/"+tenantID+"/subscription", admin, "", nil)
	raw, _ := json.Marshal(s.body)
	var got struct {
		Current *domain.Subscription
		History []struct {
			Attempt      int
			RequestedAt  time.Time
			Subscription domain.Subscription
		}
	}
	if err := json.Unmarshal(raw, &got); err != nil || got.Current == nil || len(got.History) != 1 {
		t.Fatalf("subscription: %s %v", raw, err)
	}
	c := got.Current
	if c.InvoiceID != "inv-9" || c.Plan.ID != "plan-premium" || c.Plan.Tier != "PREMIUM" || c.Plan.Size != "LARGE" ||
		c.Plan.PipelineName() != "premium-pipeline" || got.History[0].Attempt != 1 || got.History[0].RequestedAt.IsZero() {
		t.Errorf("subscription: %s", raw)
	}
	if r := e.do(t, "GET", "/tenants/"+tenantID+"/subscription", e.token(t, auth.ViewTenant), "", nil); r.status != http.StatusForbidden {
		t.Errorf("without 7004: %d", r.status)
	}
}
