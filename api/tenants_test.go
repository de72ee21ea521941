package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
	"github.com/tenantflow/tenantflow/platform/auth"
)

func (e *apiEnv) token(t *testing.T, perms ...string) string {
	tok, err := e.signer.Mint("tester", perms, "", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

type response struct {
	status int
	header http.Header
	body   map[string]any
}

func (e *apiEnv) do(t *testing.T, method, path, token, contentType string, body []byte) response {
	t.Helper()
	return e.doHeader(t, method, path, token, contentType, body, nil)
}

func (e *apiEnv) doHeader(t *testing.T, method, path, token, contentType string, body []byte, header map[string]string) response {
	t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := response{status: resp.StatusCode, header: resp.Header, body: map[string]any{}}
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &out.body)
	if resp.StatusCode >= 400 && resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("%s %s: %d answered as %s, want application/problem+json", method, path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return out
}

func tenantBody(key string) []byte {
	b, _ := json.Marshal(map[string]any{"key": key, "name": "Acme", "contact": map[string]string{
		"email": "ops@example.com", "firstName": "Ada", "lastName": "Lovelace"}, "domains": []string{"app.acme.io"}})
	return b
}

func subscriptionBody() []byte {
	return []byte(`{"id":"sub-1","subscriberId":"s-1","planId":"p-1","startDate":"2026-11-26T00:00:00Z","endDate":"2027-11-26T00:00:00Z","status":1,
		"plan":{"id":"p-1","name":"Standard","price":10,"currencyId":"EUR","tier":"pooled","billingCycleId":"monthly","metaData":{"seats":5}}}`)
}

func TestTenantCommandsAndQueries(t *testing.T) {
	e := newAPI(t)
	admin := e.token(t, auth.CreateTenant, auth.ViewTenant, auth.ProvisionTenant)
	viewer := e.token(t, auth.ViewTenant)
	const js = "application/json"

	created := e.do(t, "POST", "/tenants", admin, js, tenantBody("acme"))
	if created.status != http.StatusCreated || created.body["status"] != "PENDING_PROVISION" || created.body["statusCode"] != 1.0 {
		t.Fatalf("create: %d %v", created.status, created.body)
	}
	id, _ := created.body["id"].(string)
	if created.header.Get("Location") != "/tenants/"+id {
		t.Errorf("Location = %q", created.header.Get("Location"))
	}

	tests := []struct {
		name, method, path, token, contentType string
		body                                   []byte
		status                                 int
		check                                  func(t *testing.T, r response)
	}{
		{"no token", "POST", "/tenants", "", js, tenantBody("other"), 401, nil},
		{"invalid token", "POST", "/tenants", "nonsense", js, tenantBody("other"), 401, nil},
		{"missing permission", "POST", "/tenants", viewer, js, tenantBody("other"), 403, nil},
		{"key taken", "POST", "/tenants", admin, js, tenantBody("acme"), 409, func(t *testing.T, r response) {
			if r.body["tenantId"] != id {
				t.Errorf("409 does not name the holder: %v", r.body)
			}
		}},
		{"invalid fields", "POST", "/tenants", admin, js, []byte(`{"key":"Bad Key","name":"","contact":{"email":"x"}}`), 400, func(t *testing.T, r response) {
			errs, _ := r.body["errors"].(map[string]any)
			for _, f := range []string{"key", "name", "contact.email", "contact.firstName"} {
				if errs[f] == nil {
					t.Errorf("no error for %s: %v", f, errs)
				}
			}
		}},
		{"unknown field", "POST", "/tenants", admin, js, []byte(`{"key":"zzz","name":"Z","contact":{"email":"z@example.com","firstName":"Z","lastName":"Z"},"color":"red"}`), 400, nil},
		{"malformed JSON", "POST", "/tenants", admin, js, []byte(`{"key":`), 400, nil},
		{"two JSON values", "POST", "/tenants", admin, js, append(tenantBody("two"), tenantBody("two")...), 400, nil},
		{"wrong content type", "POST", "/tenants", admin, "text/plain", tenantBody("other"), 415, nil},
		{"body over 1 MiB", "POST", "/tenants", admin, js, []byte(`{"name":"` + strings.Repeat("x", 1<<20) + `"}`), 413, nil},
		{"read your write", "GET", "/tenants/" + id, viewer, "", nil, 200, func(t *testing.T, r response) {
			if r.body["key"] != "acme" || r.body["status"] != "PENDING_PROVISION" {
				t.Errorf("body %v", r.body)
			}
		}},
		{"unknown tenant", "GET", "/tenants/" + uuid.NewString(), viewer, "", nil, 404, nil},
		{"not a tenant id", "GET", "/tenants/acme", viewer, "", nil, 404, nil},
		{"invalid subscription", "POST", "/tenants/" + id + "/provision", admin, js, []byte(`{"id":"s"}`), 400, nil},
		{"provision", "POST", "/tenants/" + id + "/provision", admin, js, subscriptionBody(), 202, func(t *testing.T, r response) {
			if r.body["status"] != "PROVISIONING" || r.header.Get("Location") != "/tenants/"+id {
				t.Errorf("202: %v %v", r.body, r.header)
			}
		}},
		{"provision again", "POST", "/tenants/" + id + "/provision", admin, js, subscriptionBody(), 409, nil},
		{"provision without permission", "POST", "/tenants/" + id + "/provision", viewer, js, subscriptionBody(), 403, nil},
		{"after provisioning", "GET", "/tenants/" + id, viewer, "", nil, 200, func(t *testing.T, r response) {
			plan, _ := r.body["plan"].(map[string]any)
			if r.body["status"] != "PROVISIONING" || r.body["statusCode"] != 2.0 || plan["tier"] != "pooled" {
				t.Errorf("body %v", r.body)
			}
		}},
		{"method not allowed", "DELETE", "/tenants", admin, "", nil, 405, func(t *testing.T, r response) {
			if r.header.Get("Allow") != "GET, POST" {
				t.Errorf("Allow = %q, want GET, POST", r.header.Get("Allow"))
			}
		}},
		{"unknown route", "GET", "/nope", admin, "", nil, 404, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(t, tt.method, tt.path, tt.token, tt.contentType, tt.body)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %v", r.status, tt.status, r.body)
			}
			if tt.check != nil {
				tt.check(t, r)
			}
		})
	}
}

func TestConcurrentCreatesWithOneKey(t *testing.T) {
	e := newAPI(t)
	admin := e.token(t, auth.CreateTenant)
	var wg sync.WaitGroup
	codes := make([]int, 10)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = e.do(t, "POST", "/tenants", admin, "application/json", tenantBody("race")).status
		}()
	}
	wg.Wait()
	created := 0
	for _, c := range codes {
		switch c {
		case http.StatusCreated:
			created++
		case http.StatusConflict:
		default:
			t.Errorf("unexpected status %d", c)
		}
	}
	if created != 1 {
		t.Fatalf("%d tenants created with one key: %v", created, codes)
	}
}

func withTiers(tiers domain.Tiers) option { return func(d *Deps) { d.Tiers = tiers } }

// The replaced system's provisioning request, verbatim, is accepted with the
// operator's tier names; the plan model's other fields and its audit fields
// are accepted too; an unknown tier names the configured ones; an unknown
// field elsewhere, an oversized free-form field or a near-1 MiB body is
// refused and stores nothing.
func TestReplacedSystemsProvisionRequest(t *testing.T) {
	e := newAPI(t, withTiers(testenv.DevTiers))
	admin := e.token(t, auth.CreateTenant, auth.ViewTenant, auth.ProvisionTenant)
	const js = "application/json"
	newTenant := func(key string) string {
		r := e.do(t, "POST", "/tenants", admin, js, tenantBody(key))
		if r.status != http.StatusCreated {
			t.Fatalf("create %s: %d %v", key, r.status, r.body)
		}
		return r.body["id"].(string)
	}
	withPlan := func(id, field, value string) []byte {
		body := testenv.ReplacedSystemRequest(id, "testcorp")
		return []byte(strings.Replace(body, `"plan": {`, `"plan": {`+`"`+field+`": `+value+`,`, 1))
	}

	refusals := []struct {
		name, field string
		body        func(id string) []byte
		status      int
	}{
		{"unknown tier", "plan.tier", func(id string) []byte {
			return []byte(strings.Replace(testenv.ReplacedSystemRequest(id, "testcorp"), `"enterprise"`, `"platinum"`, 1))
		}, 400},
		{"unknown plan field", "", func(id string) []byte { return withPlan(id, "colour", `"red"`) }, 400},
		{"unknown subscription field", "", func(id string) []byte {
			return []byte(strings.Replace(testenv.ReplacedSystemRequest(id, "testcorp"), `"status": 1,`, `"status": 1, "colour": "red",`, 1))
		}, 400},
		{"metaData not an object", "plan.metaData", func(id string) []byte {
			return []byte(strings.Replace(testenv.ReplacedSystemRequest(id, "testcorp"), `{
        "pipelineName": "enterprise-pipeline"
      }`, `[1,2]`, 1))
		}, 400},
		{"metaData over its limit", "plan.metaData", func(id string) []byte {
			return []byte(strings.Replace(testenv.ReplacedSystemRequest(id, "testcorp"), `"pipelineName": "enterprise-pipeline"`,
				`"pipelineName": "enterprise-pipeline", "blob": "`+strings.Repeat("x", 17<<10)+`"`, 1))
		}, 400},
		{"near-1 MiB metaData", "plan.metaData", func(id string) []byte {
			return []byte(strings.Replace(testenv.ReplacedSystemRequest(id, "testcorp"), `"pipelineName": "enterprise-pipeline"`,
				`"pipelineName": "enterprise-pipeline", "blob": "`+strings.Repeat("x", 1<<20-2048)+`"`, 1))
		}, 400},
		{"pipelineName not a string", "plan.metaData.pipelineName", func(id string) []byte {
			return []byte(strings.Replace(testenv.ReplacedSystemRequest(id, "testcorp"), `"enterprise-pipeline"`, `42`, 1))
		}, 400},
		{"description over its limit", "plan.description", func(id string) []byte {
			return []byte(strings.Replace(testenv.ReplacedSystemRequest(id, "testcorp"), `"Enterprise tier"`, `"`+strings.Repeat("d", 2001)+`"`, 1))
		}, 400},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			id := newTenant("r" + strings.ReplaceAll(uuid.NewString(), "-", "")[:8])
			before := e.eventCount(t)
			r := e.do(t, "POST", "/tenants/"+id+"/provision", admin, js, tt.body(id))
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %v", r.status, tt.status, r.body)
			}
			if errs, _ := r.body["errors"].(map[string]any); tt.field != "" && errs[tt.field] == nil {
				t.Errorf("the answer does not name %s: %v", tt.field, r.body)
			}
			if tt.name == "unknown tier" {
				msg, _ := r.body["errors"].(map[string]any)["plan.tier"].(string)
				for _, tier := range []string{"enterprise", "standard", "basic", "silo", "bridge", "pooled"} {
					if !strings.Contains(msg, tier) {
						t.Errorf("the answer does not name the configured tier %s: %q", tier, msg)
					}
				}
			}
			if after := e.eventCount(t); after != before {
				t.Errorf("a refused request stored %d events", after-before)
			}
		})
	}

	id := newTenant("testcorp")
	body := withPlan(id, "size", `"large"`)
	body = []byte(strings.Replace(string(body), `"plan": {`, `"plan": {"sizeConfig": {"cpu": 4}, "createdOn": "2024-12-01T00:00:00Z", "createdBy": "u-1",
		"modifiedOn": null, "modifiedBy": "u-2", "deleted": false, "deletedOn": null, "deletedBy": null,`, 1))
	body = []byte(strings.Replace(string(body), `"status": 1,`, `"status": 1, "createdOn": "2024-12-01T00:00:00Z", "deleted": false,`, 1))
	if r := e.do(t, "POST", "/tenants/"+id+"/provision", admin, js, body); r.status != http.StatusAccepted {
		t.Fatalf("the plan model's fields: %d %v", r.status, r.body)
	}
	var data []byte
	if err := e.pool.QueryRow(context.Background(), `select data from events where stream_id = $1 and event_type = $2`,
		"tenant-"+id, domain.TypeProvisioningRequested).Scan(&data); err != nil {
		t.Fatal(err)
	}
	var got domain.ProvisioningRequested
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	p := got.Subscription.Plan
	if got.Isolation != "silo" || p.Tier != "enterprise" || p.Description != "Enterprise tier" || p.Size != "large" ||
		p.PipelineName() != "enterprise-pipeline" || strings.ReplaceAll(string(p.SizeConfig), " ", "") != `{"cpu":4}` {
		t.Errorf("recorded %+v", got)
	}
	if strings.Contains(string(data), "createdOn") || strings.Contains(string(data), "modifiedBy") {
		t.Errorf("the billing system's audit fields were recorded: %s", data)
	}

	verbatim := newTenant("verbatim")
	if r := e.do(t, "POST", "/tenants/"+verbatim+"/provision", admin, js, []byte(testenv.ReplacedSystemRequest(verbatim, "verbatim"))); r.status != http.StatusAccepted {
		t.Fatalf("the verbatim request: %d %v", r.status, r.body)
	}
}

// An event over the store's cap (TENANTFLOW_MAX_EVENT_BYTES, set low here)
// is a 413 naming the event, and nothing is stored.
func TestEventOverTheCapIs413(t *testing.T) {
	e := newAPI(t, withTiers(testenv.DevTiers))
	e.store.SetMaxEventBytes(4096)
	admin := e.token(t, auth.CreateTenant, auth.ProvisionTenant)
	id := e.do(t, "POST", "/tenants", admin, "application/json", tenantBody("capped")).body["id"].(string)
	before := e.eventCount(t)
	body := strings.Replace(testenv.ReplacedSystemRequest(id, "capped"), `"pipelineName": "enterprise-pipeline"`,
		`"pipelineName": "enterprise-pipeline", "notes": "`+strings.Repeat("n", 8000)+`"`, 1)
	r := e.do(t, "POST", "/tenants/"+id+"/provision", admin, "application/json", []byte(body))
	if detail, _ := r.body["detail"].(string); r.status != http.StatusRequestEntityTooLarge ||
		!strings.Contains(detail, domain.TypeProvisioningRequested) || !strings.Contains(detail, "TENANTFLOW_MAX_EVENT_BYTES") {
		t.Fatalf("%d %v, want 413 naming the event and the setting", r.status, r.body)
	}
	if after := e.eventCount(t); after != before {
		t.Errorf("%d events stored", after-before)
	}
}
