package notify_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/handlers/notify"
	"github.com/tenantflow/tenantflow/handlers/step"
)

// Novu cannot run here, so this test checks the exact requests against a
// local HTTP recorder (a stand-in for Novu's API, in this test only).
func TestNovuRequests(t *testing.T) {
	var (
		mu       sync.Mutex
		requests []map[string]any
		headers  []http.Header
		status   = http.StatusCreated
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		_ = json.Unmarshal(raw, &body)
		mu.Lock()
		defer mu.Unlock()
		if r.Method != http.MethodPost || r.URL.Path != "/v1/events/trigger" {
			t.Errorf("%s %s", r.Method, r.URL.Path)
		}
		requests, headers = append(requests, body), append(headers, r.Header.Clone())
		w.WriteHeader(status)
	}))
	defer srv.Close()
	tn, _, _ := domain.NewTenant("7f1c0e9a-1111-4222-8333-944455556666", "", domain.TenantInput{Key: "acme", Name: "Acme",
		Contact: domain.Contact{Email: "ada.l@acme.io", FirstName: "Ada", LastName: "Lovelace"}, Domains: []string{"app.acme.io"}})
	n := notify.Novu{BaseURL: srv.URL, APIKey: "secret-key", Links: notify.Links{KeycloakURL: "https://id.example.com",
		AdminPortalURL: "https://admin.example.com", SupportEmail: "help@example.com"}}
	ctx := context.Background()
	if err := n.Welcome(ctx, tn); err != nil {
		t.Fatal(err)
	}
	failed := failedAtDatabase(t, tn, false)
	if err := n.Failure(ctx, failed); err != nil {
		t.Fatal(err)
	}

	wantTo := map[string]any{"subscriberId": "tenant-7f1c0e9a-1111-4222-8333-944455556666-ada_l_acme_io",
		"email": "ada.l@acme.io", "firstName": "Ada", "lastName": "Lovelace"}
	welcome := map[string]any{"name": "tenant-welcome", "to": wantTo, "payload": map[string]any{
		"tenantId": tn.ID(), "tenantName": "Acme", "firstName": "Ada", "lastName": "Lovelace",
		"appPlaneUrl": "https://app.acme.io", "adminPortalUrl": "https://admin.example.com",
		"loginUrl": "https://id.example.com/realms/tenant-acme/account", "supportEmail": "help@example.com"}}
	failure := map[string]any{"name": "tenant-provisioning-failed", "to": wantTo, "payload": map[string]any{
		"tenantId": tn.ID(), "tenantName": "Acme", "firstName": "Ada",
		"error":      "we could not set up your database, and everything made on the way has been removed again.",
		"failedStep": "your database", "leftForOperator": false, "supportEmail": "help@example.com"}}
	for i, want := range []map[string]any{welcome, failure} {
		got, _ := json.Marshal(requests[i])
		exp, _ := json.Marshal(want)
		if string(got) != string(exp) {
			t.Errorf("request %d:\n got %s\nwant %s", i, got, exp)
		}
		if headers[i].Get("Authorization") != "ApiKey secret-key" || headers[i].Get("Content-Type") != "application/json" {
			t.Errorf("headers %v", headers[i])
		}
	}

	// 5xx is retried by the step (transient), 4xx is not (permanent).
	status = http.StatusBadGateway
	if err := n.Welcome(ctx, tn); err == nil || step.IsPermanent(err) {
		t.Errorf("502: %v, want a transient error", err)
	}
	status = http.StatusUnauthorized
	if err := n.Welcome(ctx, tn); !step.IsPermanent(err) {
		t.Errorf("401: %v, want a permanent error", err)
	}
}

// An erasure deletes the person's Novu subscriber of each tenant (Novu
// keeps the address, the names and an id that spells the address); one
// Novu does not have is nothing to do, a failure stops the erasure. Against
// the same local stand-in for Novu's API.
func TestNovuForgetsAPerson(t *testing.T) {
	var mu sync.Mutex
	var deleted []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.Method != http.MethodDelete || r.Header.Get("Authorization") != "ApiKey secret-key" {
			t.Errorf("%s %s %q", r.Method, r.URL.Path, r.Header.Get("Authorization"))
		}
		switch r.URL.Path {
		case "/v1/subscribers/tenant-7f1c0e9a-1111-4222-8333-944455556666-ada_l_acme_io":
			deleted = append(deleted, r.URL.Path)
		case "/v1/subscribers/tenant-00000000-1111-4222-8333-944455556666-ada_l_acme_io":
			w.WriteHeader(http.StatusNotFound)
		default:
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	defer srv.Close()
	tenant := func(id string) *domain.Tenant {
		tn, _, _ := domain.NewTenant(id, "", domain.TenantInput{Key: "acme", Name: "Acme",
			Contact: domain.Contact{Email: "ada.l@acme.io", FirstName: "Ada", LastName: "Lovelace"}})
		return tn
	}
	n := notify.Novu{BaseURL: srv.URL, APIKey: "secret-key"}
	done, err := n.ForgetPerson(context.Background(), "ada.l@acme.io",
		[]*domain.Tenant{tenant("7f1c0e9a-1111-4222-8333-944455556666"), tenant("00000000-1111-4222-8333-944455556666")})
	if err != nil || len(done) != 1 || len(deleted) != 1 {
		t.Fatalf("done %v, deleted %v, err %v", done, deleted, err)
	}
	if _, err := n.ForgetPerson(context.Background(), "ada.l@acme.io", []*domain.Tenant{tenant("11111111-1111-4222-8333-944455556666")}); err == nil {
		t.Fatal("a failing Novu must stop the erasure")
	}
}
