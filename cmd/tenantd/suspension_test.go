package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/tenantflow/tenantflow/adapters/keycloak"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/internal/testkit/devsteps"
	"github.com/tenantflow/tenantflow/internal/testkit/stripetest"
	"github.com/tenantflow/tenantflow/internal/testkit/wait"
)

// Suspension through the real tenantd on the `make run` configuration: an
// operator's suspend turns the tenant's realm off (its admin's sign-in is
// refused, checked in Keycloak) and the application plane's agent runs its
// suspend command; reactivate turns both on again; then the
// billing provider's "unpaid" (a Stripe delivery, signed as Stripe signs
// it: internal/testkit/stripetest) suspends it, and "active" again brings
// it back.
func TestSuspensionThroughTenantd(t *testing.T) {
	env, p, op, apps := makeRun(t, "suspension-test")
	secret := env["TENANTFLOW_STRIPE_WEBHOOK_SECRET"]
	if secret == "" {
		t.Fatal("the dev stack exports no TENANTFLOW_STRIPE_WEBHOOK_SECRET")
	}
	key := "su" + strings.ReplaceAll(uuid.NewString(), "-", "")[:8]
	email, realm := key+"@example.com", "tenant-"+key
	t.Cleanup(func() { deleteRealm(t, env, realm) })
	id := p.post(t, op, "/tenants", `{"key":"`+key+`","name":"Suspension","contact":{"email":"`+email+`","firstName":"S","lastName":"U"}}`)["id"].(string)
	p.post(t, op, "/tenants/"+id+"/provision", `{"id":"s","subscriberId":"c","planId":"p","startDate":"2026-11-26T00:00:00Z","status":1,
		"plan":{"id":"p","name":"P","price":1,"currencyId":"EUR","tier":"pooled","billingCycleId":"monthly"}}`)
	p.waitStatus(t, op, id, "ACTIVE")
	admin := keycloak.NewAdmin(env["TENANTFLOW_KEYCLOAK_URL"], "master", env["TENANTFLOW_KEYCLOAK_ADMIN_USER"], env["TENANTFLOW_KEYCLOAK_ADMIN_PASSWORD"])
	signIn := devsteps.SignIn(t, admin, realm, email, false)
	mustSignIn := func(want bool, when string) {
		t.Helper()
		if _, err := signIn(); (err == nil) != want {
			t.Fatalf("%s: the admin's sign-in: %v, want allowed %v", when, err, want)
		}
	}
	mustSignIn(true, "ACTIVE")

	p.post(t, op, "/tenants/"+id+"/suspend", `{"reason":"abuse report 17"}`)
	p.waitStatus(t, op, id, "SUSPENDED")
	mustSignIn(false, "suspended by an operator")
	agentWrote(t, apps, key, "state", "suspended") // the application plane was told
	p.post(t, op, "/tenants/"+id+"/reactivate", `{"reason":"resolved"}`)
	p.waitStatus(t, op, id, "ACTIVE")
	mustSignIn(true, "reactivated")
	agentWrote(t, apps, key, "state", "resumed")

	// The billing step made a subscription for the tenant (stripe-mock's
	// id); Stripe reports it unpaid, then paid.
	var sub string
	for _, r := range waitBilled(t, p, op, id) {
		if m := r.(map[string]any); m["kind"] == domain.ResourceBillingSubscription {
			sub = m["id"].(string)
		}
	}
	notify := func(eventID, status string) {
		t.Helper()
		payload, sig := stripetest.Delivery(secret, eventID, "customer.subscription.updated", sub, status, id, time.Now())
		req, _ := http.NewRequest(http.MethodPost, p.base+"/billing/stripe/events", strings.NewReader(string(payload)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Stripe-Signature", sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("billing notice %s: HTTP %d", status, resp.StatusCode)
		}
	}
	notify("evt_unpaid_"+key, "unpaid")
	p.waitStatus(t, op, id, "SUSPENDED")
	mustSignIn(false, "suspended for an unpaid subscription")
	if _, c := p.send(t, op, http.MethodGet, "/tenants/"+id+"/change", ""); c["source"] != domain.SourceBilling {
		t.Fatalf("the suspension's source: %v", c)
	}
	notify("evt_paid_"+key, "active")
	p.waitStatus(t, op, id, "ACTIVE")
	mustSignIn(true, "paid again")
}

// waitBilled waits until the tenant's billing step has recorded its
// resources, and returns the tenant's resources.
func waitBilled(t *testing.T, p *proc, token, id string) []any {
	t.Helper()
	return wait.Value(t, 90*time.Second, func() ([]any, error) {
		resources, _ := p.tenant(t, token, id)["resources"].([]any)
		for _, r := range resources {
			if r.(map[string]any)["kind"] == domain.ResourceBillingSubscription {
				return resources, nil
			}
		}
		return nil, fmt.Errorf("no billing subscription recorded for %s: %v", id, resources)
	})
}
