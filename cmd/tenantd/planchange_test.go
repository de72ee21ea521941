package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/tenantflow/tenantflow/internal/testkit/wait"
)

// Plan changes through the real tenantd on the `make run` configuration,
// for a silo tenant (a realm, real OpenTofu, billing on the stand-in):
// a change to a larger plan of the tier reaches OpenTofu (the module's
// size output) and the application plane's agent (its deploy command run
// again with the new size) and becomes the subscription's while the tenant
// stays ACTIVE; then, with the application plane's step made to fail
// (TENANTFLOW_FAULTS), the next change is undone — OpenTofu back at the
// plan in effect, billing back — and the tenant keeps its plan.
func TestPlanChangeThroughTenantd(t *testing.T) {
	env, p, op, apps := makeRun(t, "plan-change-test")
	key := "pc" + strings.ReplaceAll(uuid.NewString(), "-", "")[:8]
	t.Cleanup(func() { deleteRealm(t, env, "tenant-"+key) })
	id := p.post(t, op, "/tenants", `{"key":"`+key+`","name":"Plan change","contact":{"email":"`+key+`@example.com","firstName":"P","lastName":"C"}}`)["id"].(string)
	plan := func(id, size string, users int) string {
		return fmt.Sprintf(`{"id":%q,"name":%q,"price":%d,"currencyId":"EUR","tier":"silo","billingCycleId":"monthly","size":%q,"sizeConfig":{"maxUsers":%d}}`,
			id, id, users, size, users)
	}
	p.post(t, op, "/tenants/"+id+"/provision", `{"id":"s","subscriberId":"c","planId":"p-s","startDate":"2026-11-26T00:00:00Z","status":1,"plan":`+plan("p-s", "SMALL", 10)+`}`)
	p.waitStatus(t, op, id, "ACTIVE")
	waitBilled(t, p, op, id) // a plan change waits for billing after activation (409 before)

	// changed waits until the latest change has ended, and returns it.
	changed := func(p *proc) map[string]any {
		t.Helper()
		return wait.Value(t, 120*time.Second, func() (map[string]any, error) {
			_, c := p.send(t, op, http.MethodGet, "/tenants/"+id+"/change", "")
			if c["state"] == "completed" || c["state"] == "rolled_back" {
				return c, nil
			}
			return nil, fmt.Errorf("the change is %v", c)
		})
	}
	// sized is what the change's infrastructure step applied (the module's
	// size output).
	sized := func(c map[string]any) string {
		for _, s := range c["steps"].([]any) {
			if st := s.(map[string]any); st["Step"] == "plan_infra" {
				outputs, _ := st["Outputs"].(map[string]any)
				size, _ := outputs["size"].(string)
				return size
			}
		}
		return ""
	}
	currentPlan := func(p *proc) string {
		_, sub := p.send(t, op, http.MethodGet, "/tenants/"+id+"/subscription", "")
		current, _ := sub["current"].(map[string]any)
		return fmt.Sprint(current["planId"])
	}

	p.post(t, op, "/tenants/"+id+"/plan", `{"plan":`+plan("p-l", "LARGE", 100)+`}`)
	if tn := p.tenant(t, op, id); tn["status"] != "ACTIVE" {
		t.Fatalf("during the plan change: %v", tn["status"])
	}
	c := changed(p)
	if c["state"] != "completed" || sized(c) != `{"config":{"maxUsers":100},"size":"LARGE"}` || currentPlan(p) != "p-l" {
		t.Fatalf("the plan change: %v (applied %s), plan %s", c, sized(c), currentPlan(p))
	}
	agentWrote(t, apps, key, "size", `LARGE {"maxUsers":100}`) // the agent deployed again with the new size
	if code, out := p.send(t, op, http.MethodPost, "/tenants/"+id+"/plan", `{"plan":{"id":"p-b","name":"B","price":1,"currencyId":"EUR","tier":"bridge","billingCycleId":"monthly"}}`); code != http.StatusConflict {
		t.Fatalf("another tier's plan: %d %v", code, out)
	}

	p.stop(t)
	env["TENANTFLOW_FAULTS"] = "plan_app=permanent"
	faulty := start(t, env)
	faulty.readyzUntil(t, "ready", isReady)
	faulty.post(t, op, "/tenants/"+id+"/plan", `{"plan":`+plan("p-xl", "XLARGE", 500)+`}`)
	c = changed(faulty)
	if c["state"] != "rolled_back" || c["failedStep"] != "plan_app" || currentPlan(faulty) != "p-l" {
		t.Fatalf("the failed plan change: %v, plan %s", c, currentPlan(faulty))
	}
	for _, s := range c["steps"].([]any) {
		st := s.(map[string]any)
		if (st["Step"] == "plan_billing" || st["Step"] == "plan_infra") && st["Undo"] != "compensated" {
			t.Errorf("%s was not undone: %v", st["Step"], st)
		}
	}
	if tn := faulty.tenant(t, op, id); tn["status"] != "ACTIVE" {
		t.Fatalf("after the rollback: %v", tn["status"])
	}
}
