package api

import (
	"net/http"
	"testing"

	"github.com/tenantflow/tenantflow/app"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/internal/testkit/tenanttest"
	"github.com/tenantflow/tenantflow/platform/auth"
)

// A plan change through the API: to the catalogue's plan of the tenant's
// tier it starts the change (billing, infrastructure, application plane)
// and, once done, the subscription is the new plan's, with the change in
// its history; another tier's plan, the plan the tenant is on, an unknown
// plan id or a caller without 7002 is refused and changes nothing.
func TestPlanChangeThroughTheAPI(t *testing.T) {
	e := newAPI(t)
	admin := e.token(t, auth.CreateTenant, auth.ViewTenant, auth.UpdateSubscription, auth.ViewSubscription, auth.CreatePlan)
	id := e.do(t, "POST", "/tenants", admin, js, tenantBody("plch")).body["id"].(string)
	e.billed(t, id) // on plan p, tier pooled
	for _, plan := range []string{
		`{"id":"p-larger","name":"Larger","price":20,"currencyId":"eur","tier":"pooled","billingCycleId":"monthly","size":"LARGE"}`,
		`{"id":"p-silo","name":"Silo","price":90,"currencyId":"eur","tier":"silo","billingCycleId":"monthly"}`,
	} {
		if r := e.do(t, "POST", "/plans", admin, js, []byte(plan)); r.status != http.StatusCreated {
			t.Fatalf("plan: %d %v", r.status, r.body)
		}
	}

	before := e.eventCount(t)
	for name, c := range map[string]struct {
		token, body string
		want        int
	}{
		"another tier":    {admin, `{"planId":"p-silo"}`, http.StatusConflict},
		"the same plan":   {admin, `{"plan":{"id":"p","name":"P","price":10,"currencyId":"eur","tier":"pooled","billingCycleId":"monthly"}}`, http.StatusConflict},
		"an unknown plan": {admin, `{"planId":"p-none"}`, http.StatusBadRequest},
		"no plan":         {admin, `{}`, http.StatusBadRequest},
		"without 7002":    {e.token(t, auth.ViewTenant), `{"planId":"p-larger"}`, http.StatusForbidden},
	} {
		if r := e.do(t, "POST", "/tenants/"+id+"/plan", c.token, js, []byte(c.body)); r.status != c.want {
			t.Errorf("%s: %d %v, want %d", name, r.status, r.body, c.want)
		}
	}
	if after := e.eventCount(t); after != before {
		t.Fatalf("refused plan changes stored %d events", after-before)
	}

	r := e.do(t, "POST", "/tenants/"+id+"/plan", admin, js, []byte(`{"planId":"p-larger"}`))
	if r.status != http.StatusAccepted || r.body["change"] != domain.ChangePlan || r.body["status"] != "ACTIVE" {
		t.Fatalf("plan change: %d %v", r.status, r.body)
	}
	if r := e.do(t, "POST", "/tenants/"+id+"/plan", admin, js, []byte(`{"planId":"p-larger"}`)); r.status != http.StatusConflict {
		t.Fatalf("a second plan change while one runs: %d %v", r.status, r.body)
	}
	c := e.do(t, "GET", "/tenants/"+id+"/change", admin, "", nil).body
	if steps, _ := c["steps"].([]any); c["state"] != "running" || len(steps) != 3 {
		t.Fatalf("the change: %v", c)
	}
	tenanttest.FinishChange(t, app.Tenants(e.store), id)
	sub := e.do(t, "GET", "/tenants/"+id+"/subscription", admin, "", nil).body
	current, _ := sub["current"].(map[string]any)
	history, _ := sub["history"].([]any)
	if plan, _ := current["plan"].(map[string]any); current["planId"] != "p-larger" || plan["size"] != "LARGE" || len(history) != 2 ||
		history[1].(map[string]any)["planChange"] != float64(1) {
		t.Fatalf("the subscription after the change: %v", sub)
	}
}
