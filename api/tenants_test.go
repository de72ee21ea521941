package api

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/tenantflow/tenantflow/internal/auth"
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
