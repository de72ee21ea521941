package api

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/internal/testkit/wait"
	"github.com/tenantflow/tenantflow/platform/auth"
)

// waitForList polls GET /tenants until check holds: the list is a
// projection and catches up with the log asynchronously.
func (e *apiEnv) waitForList(t *testing.T, token, query string, check func(response) bool) response {
	t.Helper()
	return wait.Value(t, 15*time.Second, func() (response, error) {
		r := e.do(t, "GET", "/tenants"+query, token, "", nil)
		if r.status == http.StatusOK && check(r) {
			return r, nil
		}
		return r, fmt.Errorf("GET /tenants%s does not satisfy the check; last: %d %v", query, r.status, r.body)
	})
}

func keysOf(r response) []string {
	var keys []string
	items, _ := r.body["tenants"].([]any)
	for _, it := range items {
		m, _ := it.(map[string]any)
		k, _ := m["key"].(string)
		keys = append(keys, k)
	}
	return keys
}

func TestListTenants(t *testing.T) {
	e := newAPI(t)
	admin := e.token(t, auth.CreateTenant, auth.ViewTenant, auth.ProvisionTenant)
	var ids []string
	for _, k := range []string{"beta", "alpha", "alpine", "gamma", "alps"} {
		r := e.do(t, "POST", "/tenants", admin, js, tenantBody(k))
		if r.status != http.StatusCreated {
			t.Fatal(r.body)
		}
		ids = append(ids, r.body["id"].(string))
	}
	if r := e.do(t, "POST", "/tenants/"+ids[3]+"/provision", admin, js, subscriptionBody()); r.status != http.StatusAccepted {
		t.Fatal(r.body)
	}

	all := e.waitForList(t, admin, "?status=PROVISIONING", func(r response) bool { return len(keysOf(r)) == 1 })
	if got := keysOf(all); got[0] != "gamma" {
		t.Fatalf("status filter: %v", got)
	}
	r := e.waitForList(t, admin, "", func(r response) bool { return len(keysOf(r)) == 5 })
	if got := strings.Join(keysOf(r), ","); got != "alpha,alpine,alps,beta,gamma" {
		t.Fatalf("not in key order: %s", got)
	}
	if got := strings.Join(keysOf(e.do(t, "GET", "/tenants?keyPrefix=alp", admin, "", nil)), ","); got != "alpha,alpine,alps" {
		t.Fatalf("prefix filter: %s", got)
	}

	// Pages of two walk the whole list once, following next.
	var walked []string
	next := "/tenants?limit=2"
	for pages := 0; next != ""; pages++ {
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		page := e.do(t, "GET", next, admin, "", nil)
		walked = append(walked, keysOf(page)...)
		next, _ = page.body["next"].(string)
	}
	if got := strings.Join(walked, ","); got != "alpha,alpine,alps,beta,gamma" {
		t.Fatalf("pages: %s", got)
	}

	for _, q := range []string{"?status=RUNNING", "?keyPrefix=A%25", "?limit=0", "?limit=201", "?limit=x", "?cursor=***", "?cursor=tw" /* base64 of a byte that is not UTF-8 */} {
		if r := e.do(t, "GET", "/tenants"+q, admin, "", nil); r.status != http.StatusBadRequest {
			t.Errorf("GET /tenants%s: %d, want 400", q, r.status)
		}
	}
	if r := e.do(t, "GET", "/tenants", e.token(t, auth.CreateTenant), "", nil); r.status != http.StatusForbidden {
		t.Errorf("list without 10207: %d", r.status)
	}
}

func TestTenantEvents(t *testing.T) {
	e := newAPI(t)
	admin := e.token(t, auth.CreateTenant, auth.ViewTenant, auth.ProvisionTenant)
	id := e.do(t, "POST", "/tenants", admin, js, tenantBody("hist")).body["id"].(string)
	e.do(t, "POST", "/tenants/"+id+"/provision", admin, js, subscriptionBody())

	all := e.do(t, "GET", "/tenants/"+id+"/events", admin, "", nil)
	evs, _ := all.body["events"].([]any)
	if all.status != 200 || len(evs) != 2 || all.body["next"] != nil {
		t.Fatalf("events: %d %v", all.status, all.body)
	}
	types := []string{}
	for _, ev := range evs {
		types = append(types, ev.(map[string]any)["type"].(string))
	}
	if strings.Join(types, ",") != domain.TypeTenantCreated+","+domain.TypeProvisioningRequested {
		t.Fatalf("types %v", types)
	}

	first := e.do(t, "GET", "/tenants/"+id+"/events?limit=1", admin, "", nil)
	next, _ := first.body["next"].(string)
	if want := fmt.Sprintf("/tenants/%s/events?after=1&limit=1", id); next != want {
		t.Fatalf("next = %q, want %q", next, want)
	}
	second := e.do(t, "GET", next, admin, "", nil)
	if evs, _ := second.body["events"].([]any); len(evs) != 1 || evs[0].(map[string]any)["version"] != 2.0 || second.body["next"] != nil {
		t.Fatalf("second page %v", second.body)
	}
	if r := e.do(t, "GET", "/tenants/"+uuid.NewString()+"/events", admin, "", nil); r.status != http.StatusNotFound {
		t.Errorf("unknown tenant: %d", r.status)
	}
	if r := e.do(t, "GET", "/tenants/"+id+"/events?after=-1", admin, "", nil); r.status != http.StatusBadRequest {
		t.Errorf("after=-1: %d", r.status)
	}
}

// Concurrent provisioning requests: one 202; every other is a 409, and a
// lost optimistic-concurrency race says which version is now stored.
func TestConcurrentProvisioning(t *testing.T) {
	e := newAPI(t)
	admin := e.token(t, auth.CreateTenant, auth.ProvisionTenant)
	id := e.do(t, "POST", "/tenants", admin, js, tenantBody("conc")).body["id"].(string)
	results := make(chan response, 8)
	for range 8 {
		go func() { results <- e.do(t, "POST", "/tenants/"+id+"/provision", admin, js, subscriptionBody()) }()
	}
	accepted := 0
	for range 8 {
		r := <-results
		switch {
		case r.status == http.StatusAccepted:
			accepted++
		case r.status == http.StatusConflict && r.body["currentVersion"] != nil && r.body["currentVersion"] != 2.0:
			t.Errorf("409 names version %v, want 2", r.body["currentVersion"])
		case r.status != http.StatusConflict:
			t.Errorf("status %d %v", r.status, r.body)
		}
	}
	if accepted != 1 {
		t.Fatalf("%d provisioning attempts accepted", accepted)
	}
}

func TestConcurrencyErrorCarriesCurrentVersion(t *testing.T) {
	w := httptest.NewRecorder()
	writeError(w, quietLogger(), &eventstore.ConcurrencyError{Stream: "tenant-x", Expected: 1, Actual: 3})
	if w.Code != http.StatusConflict || !strings.Contains(w.Body.String(), `"currentVersion":3`) {
		t.Fatalf("%d %s", w.Code, w.Body.String())
	}
}

func TestCancelAndDeprovisionCommands(t *testing.T) {
	e := newAPI(t)
	admin := e.token(t, auth.CreateTenant, auth.ViewTenant, auth.ProvisionTenant, auth.DeleteTenant)
	id := e.do(t, "POST", "/tenants", admin, js, tenantBody("cmds")).body["id"].(string)

	if r := e.do(t, "POST", "/tenants/"+id+"/provision/cancel", admin, "", nil); r.status != http.StatusConflict {
		t.Fatalf("cancel while pending: %d, want 409", r.status)
	}
	e.do(t, "POST", "/tenants/"+id+"/provision", admin, js, subscriptionBody())
	if r := e.do(t, "DELETE", "/tenants/"+id, admin, "", nil); r.status != http.StatusConflict {
		t.Fatalf("deprovision while provisioning: %d, want 409", r.status)
	}
	if r := e.do(t, "POST", "/tenants/"+id+"/provision/cancel", e.token(t, auth.ViewTenant), "", nil); r.status != http.StatusForbidden {
		t.Fatalf("cancel without 10216: %d", r.status)
	}
	if r := e.do(t, "POST", "/tenants/"+id+"/provision/cancel", admin, "", nil); r.status != http.StatusAccepted || r.body["status"] != "PROVISIONING" {
		t.Fatalf("cancel: %d %v", r.status, r.body)
	}
	evs := e.do(t, "GET", "/tenants/"+id+"/events", admin, "", nil).body["events"].([]any)
	if last := evs[len(evs)-1].(map[string]any)["type"]; last != domain.TypeProvisioningCancelRequested {
		t.Fatalf("last event %v", last)
	}

	other := e.do(t, "POST", "/tenants", admin, js, tenantBody("gone")).body["id"].(string)
	if r := e.do(t, "DELETE", "/tenants/"+other, e.token(t, auth.ViewTenant), "", nil); r.status != http.StatusForbidden {
		t.Fatalf("delete without 10206: %d", r.status)
	}
	if r := e.do(t, "DELETE", "/tenants/"+other, admin, "", nil); r.status != http.StatusAccepted || r.body["status"] != "DEPROVISIONING" {
		t.Fatalf("delete: %d %v", r.status, r.body)
	}
	view := e.do(t, "GET", "/tenants/"+other, admin, "", nil)
	if steps, _ := view.body["steps"].([]any); len(steps) != len(domain.ProvisioningSteps) || view.body["status"] != "DEPROVISIONING" {
		t.Fatalf("view %v", view.body)
	}
}
