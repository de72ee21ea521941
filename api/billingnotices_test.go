package api

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/app"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/handlers/billing"
	"github.com/tenantflow/tenantflow/internal/testkit/stripetest"
	"github.com/tenantflow/tenantflow/internal/testkit/tenanttest"
	"github.com/tenantflow/tenantflow/platform/auth"
)

// The billing provider's "unpaid" suspends the tenant its subscription was
// made for, through the change's own steps; a delivery Stripe sends again
// asks nothing more; "active" again lifts billing's suspension. Nothing
// unsigned, signed with another secret or about a stranger is acted on.
// Stripe's deliveries are signed here as Stripe signs them
// (internal/testkit/stripetest, a stand-in for Stripe's sender).
func TestBillingNotices(t *testing.T) {
	const secret = "whsec_apitest"
	e := newAPI(t, func(d *Deps) { d.BillingNotices = billing.StripeNotices{Secret: secret} })
	admin := e.token(t, auth.CreateTenant, auth.ViewTenant)
	id := e.do(t, "POST", "/tenants", admin, js, tenantBody("9acme")).body["id"].(string)
	e.billed(t, id)
	notify := func(secret, eventID, sub, status, tenant string) response {
		payload, sig := stripetest.Delivery(secret, eventID, "customer.subscription.updated", sub, status, tenant, time.Now())
		return e.doHeader(t, "POST", "/billing/stripe/events", "", js, payload, map[string]string{"Stripe-Signature": sig})
	}

	before := e.eventCount(t)
	for name, r := range map[string]response{
		"another secret":       notify("whsec_other", "evt_x", "sub_test", "unpaid", id),
		"another subscription": notify(secret, "evt_y", "sub_other", "unpaid", id),
		"a stranger":           notify(secret, "evt_z", "sub_test", "unpaid", "00000000-0000-4000-8000-000000000000"),
		"no signature":         e.doHeader(t, "POST", "/billing/stripe/events", "", js, []byte(`{"id":"evt_1","type":"customer.subscription.updated"}`), nil),
	} {
		want := http.StatusOK
		if name == "another secret" || name == "no signature" {
			want = http.StatusBadRequest
		}
		if r.status != want || (want == http.StatusOK && r.body["change"] != "") {
			t.Errorf("%s: %d %v, want %d and no change", name, r.status, r.body, want)
		}
	}
	if after := e.eventCount(t); after != before {
		t.Fatalf("refused or foreign notices stored %d events", after-before)
	}

	if r := notify(secret, "evt_1", "sub_test", "unpaid", id); r.status != http.StatusOK || r.body["change"] != domain.ChangeSuspend {
		t.Fatalf("unpaid: %d %v", r.status, r.body)
	}
	requested := e.eventData(t, "tenant-"+id, domain.TypeChangeRequested)
	if !strings.Contains(requested, `"source":"billing"`) || !strings.Contains(requested, "evt_1") {
		t.Fatalf("the suspension does not say the billing provider asked: %s", requested)
	}
	if r := notify(secret, "evt_1", "sub_test", "unpaid", id); r.status != http.StatusOK || r.body["change"] != "" {
		t.Fatalf("the same delivery again: %d %v", r.status, r.body)
	}
	if r := notify(secret, "evt_2", "sub_test", "active", id); r.status != http.StatusConflict {
		t.Fatalf("paid while the suspension runs: %d %v, want 409 (Stripe delivers it again)", r.status, r.body)
	}

	tenanttest.FinishChange(t, app.Tenants(e.store), id) // the change's steps, as the handlers record them
	if r := e.do(t, "GET", "/tenants/"+id+"/change", admin, "", nil); r.body["state"] != "completed" || r.body["source"] != domain.SourceBilling {
		t.Fatalf("the suspension: %v", r.body)
	}
	if r := notify(secret, "evt_2", "sub_test", "active", id); r.status != http.StatusOK || r.body["change"] != domain.ChangeReactivate {
		t.Fatalf("paid: %d %v", r.status, r.body)
	}
}
