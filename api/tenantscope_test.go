package api

import (
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/tenantflow/tenantflow/platform/auth"
)

// userTenantToken is a token of the replaced system's shape for a user of
// tenant: no permission codes, the user in "id", its tenant in
// "userTenantId".
func userTenantToken(t *testing.T, tenant string) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": "tenantflow", "id": "user-of-" + tenant,
		"userTenantId": tenant, "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// A tenant's own people open their tenant and nothing else: with the
// replaced system's userTenantId (a tenant administrator's Keycloak token
// goes the same way, cmd/tenantd's identity test), tenant A's user reads
// A, its events and its configuration, keeps A's contacts and
// configuration — and gets 403 on every route of tenant B and on every
// route that is not one tenant's.
func TestTenantScopedAccess(t *testing.T) {
	e := newAPI(t)
	operator := e.token(t, auth.CreateTenant)
	create := func(key string) string {
		r := e.do(t, "POST", "/tenants", operator, js, tenantBody(key))
		if r.status != http.StatusCreated {
			t.Fatalf("create %s: %d %v", key, r.status, r.body)
		}
		return r.body["id"].(string)
	}
	suffix := uuid.NewString()[:6]
	a, b := create("sa"+suffix), create("sb"+suffix)
	tokA := userTenantToken(t, a)

	for _, c := range []struct {
		method, path, body string
		want               int
	}{
		{"GET", "/tenants/" + a, "", http.StatusOK},
		{"GET", "/tenants/" + a + "/events", "", http.StatusOK},
		{"POST", "/tenants/" + a + "/config", `{"key":"theme","value":{"color":"teal"}}`, http.StatusCreated},
		{"GET", "/tenants/" + a + "/config", "", http.StatusOK},
		{"GET", "/tenants/" + a + "/config/theme", "", http.StatusOK},
		{"PUT", "/tenants/" + a + "/config/theme", `{"value":{"color":"navy"}}`, http.StatusOK},
		{"DELETE", "/tenants/" + a + "/config/theme", "", http.StatusNoContent},
		{"PATCH", "/tenants/" + a, `{"contacts":[{"email":"it@example.com","firstName":"I","lastName":"T","primary":true}]}`, http.StatusOK},
		// The operator's, not the tenant's people's.
		{"PATCH", "/tenants/" + a, `{"name":"Renamed"}`, http.StatusForbidden},
		{"PATCH", "/tenants/" + a, `{"domains":["evil.example.com"]}`, http.StatusForbidden},
		{"DELETE", "/tenants/" + a, "", http.StatusForbidden},
		{"POST", "/tenants/" + a + "/provision", string(subscriptionBody()), http.StatusForbidden},
		{"POST", "/tenants/" + a + "/provision/cancel", "", http.StatusForbidden},
		{"POST", "/tenants/" + a + "/orphans/retry", "", http.StatusForbidden},
		// Tenant B: every route.
		{"GET", "/tenants/" + b, "", http.StatusForbidden},
		{"GET", "/tenants/" + b + "/events", "", http.StatusForbidden},
		{"POST", "/tenants/" + b + "/config", `{"key":"theme","value":1}`, http.StatusForbidden},
		{"GET", "/tenants/" + b + "/config", "", http.StatusForbidden},
		{"GET", "/tenants/" + b + "/config/theme", "", http.StatusForbidden},
		{"PUT", "/tenants/" + b + "/config/theme", `{"value":2}`, http.StatusForbidden},
		{"DELETE", "/tenants/" + b + "/config/theme", "", http.StatusForbidden},
		{"PATCH", "/tenants/" + b, `{"contacts":[{"email":"it@example.com","firstName":"I","lastName":"T","primary":true}]}`, http.StatusForbidden},
		{"DELETE", "/tenants/" + b, "", http.StatusForbidden},
		{"POST", "/tenants/" + b + "/provision", string(subscriptionBody()), http.StatusForbidden},
		{"POST", "/tenants/" + b + "/provision/cancel", "", http.StatusForbidden},
		{"POST", "/tenants/" + b + "/orphans/retry", "", http.StatusForbidden},
		{"POST", "/tenants/" + b + "/orphans/forget", `{"step":"idp","kind":"k","id":"i","reason":"r"}`, http.StatusForbidden},
		// Nothing that is not one tenant's.
		{"GET", "/tenants", "", http.StatusForbidden},
		{"POST", "/tenants", string(tenantBody("sc" + suffix)), http.StatusForbidden},
		{"GET", "/stats/provisioning", "", http.StatusForbidden},
		{"GET", "/stats/projections", "", http.StatusForbidden},
		{"GET", "/orphans", "", http.StatusForbidden},
		{"GET", "/leads", "", http.StatusForbidden},
	} {
		ct := ""
		var body []byte
		if c.body != "" {
			ct, body = js, []byte(c.body)
		}
		if r := e.do(t, c.method, c.path, tokA, ct, body); r.status != c.want {
			t.Errorf("%s %s as tenant A's user: %d %v, want %d", c.method, c.path, r.status, r.body, c.want)
		}
	}
	// A userTenantId that is not a tenant's id opens nothing.
	if r := e.do(t, "GET", "/tenants/"+a, userTenantToken(t, "not-a-uuid"), "", nil); r.status != http.StatusForbidden {
		t.Errorf("a userTenantId that is no tenant id: %d", r.status)
	}
}
