package api

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/app"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/handlers/billing"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
	"github.com/tenantflow/tenantflow/platform/auth"
)

func withBilling(b Invoicer) option { return func(d *Deps) { d.Billing = b } }

// billed records, as the handlers would, a tenant's whole provisioning up
// to its billing step's customer and subscription.
func (e *apiEnv) billed(t *testing.T, id string) {
	t.Helper()
	_, err := app.Tenants(e.store).Update(context.Background(), id, app.Metadata{Actor: "test"}, func(tn *domain.Tenant) ([]domain.Event, error) {
		var all []domain.Event
		keep := func(evs []domain.Event, err error) {
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, evs...)
		}
		keep(tn.RequestProvisioning(domain.Subscription{ID: "s", SubscriberID: id, PlanID: "p", StartDate: time.Now(),
			Plan: domain.Plan{ID: "p", Name: "P", Price: 10, CurrencyID: "eur", Tier: "pooled", BillingCycleID: "monthly"}}, domain.DefaultTiers))
		for _, s := range domain.Steps[:len(domain.Steps)-1] {
			keep(tn.RecordStep(domain.StepOutcome{Step: s, Outcome: domain.OutcomeSkipped}))
		}
		keep(tn.Activate())
		keep(tn.RecordStep(domain.StepOutcome{Step: domain.StepBilling, Outcome: domain.OutcomeCompleted, Resources: []domain.Resource{
			{Kind: billing.KindCustomer, ID: "cus_test"}, {Kind: billing.KindSubscription, ID: "sub_test"}}}))
		return all, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Invoices go through the billing provider (stripe-mock, the dev stack's
// stand-in for Stripe) and are recorded once per request; a tenant without
// a billing customer, or a provider that cannot be reached, changes nothing.
func TestInvoices(t *testing.T) {
	env := testenv.Require(t, "TENANTFLOW_STRIPE_API_URL", "TENANTFLOW_STRIPE_API_KEY")
	e := newAPI(t, withBilling(billing.NewStripe(env["TENANTFLOW_STRIPE_API_KEY"], env["TENANTFLOW_STRIPE_API_URL"], http.DefaultClient)))
	admin := e.token(t, auth.CreateTenant, auth.CreateInvoice, auth.ViewInvoice)
	id := e.do(t, "POST", "/tenants", admin, js, tenantBody("7acme")).body["id"].(string)

	before := e.eventCount(t)
	if r := e.do(t, "POST", "/tenants/"+id+"/invoices", admin, js, []byte(`{"description":"December"}`)); r.status != http.StatusConflict {
		t.Fatalf("a tenant without billing: %d %v, want 409", r.status, r.body)
	}
	if after := e.eventCount(t); after != before {
		t.Fatalf("a refused invoice stored %d events", after-before)
	}
	e.billed(t, id)
	key := map[string]string{"Idempotency-Key": "invoice-december"}
	r := e.doHeader(t, "POST", "/tenants/"+id+"/invoices", admin, js, []byte(`{"description":"December"}`), key)
	if r.status != http.StatusCreated || r.body["id"] == "" || r.body["requestId"] != "invoice-december" || r.body["currency"] == "" {
		t.Fatalf("invoice: %d %v", r.status, r.body)
	}
	again := e.doHeader(t, "POST", "/tenants/"+id+"/invoices", admin, js, []byte(`{"description":"December"}`), key)
	if again.status != http.StatusCreated || again.body["id"] != r.body["id"] {
		t.Fatalf("the same request again: %d %v", again.status, again.body)
	}
	list := e.do(t, "GET", "/tenants/"+id+"/invoices", admin, "", nil)
	if invoices, _ := list.body["invoices"].([]any); list.status != http.StatusOK || len(invoices) != 1 {
		t.Fatalf("invoices: %d %v", list.status, list.body)
	}
	if r := e.do(t, "GET", "/tenants/"+id+"/invoices", e.token(t, auth.ViewTenant), "", nil); r.status != http.StatusForbidden {
		t.Errorf("without 10215: %d", r.status)
	}

	down := newAPI(t, withBilling(billing.NewStripe("sk_test_x", "http://127.0.0.1:1", &http.Client{Timeout: 2 * time.Second})))
	downID := down.do(t, "POST", "/tenants", admin, js, tenantBody("8acme")).body["id"].(string)
	down.billed(t, downID)
	before = down.eventCount(t)
	if r := down.do(t, "POST", "/tenants/"+downID+"/invoices", admin, js, []byte(`{}`)); r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("the provider down: %d %v, want 503 with Retry-After", r.status, r.body)
	}
	if after := down.eventCount(t); after != before {
		t.Errorf("an invoice the provider never made stored %d events", after-before)
	}
}
