package billing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/handlers/step"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
)

func TestPriceOf(t *testing.T) {
	for name, tt := range map[string]struct {
		plan domain.Plan
		want Price
	}{
		"ARC's records": {domain.Plan{ID: "p", Name: "P", Price: 99.99, CurrencyID: "cur-usd", Currency: json.RawMessage(`{"currencyCode":"USD"}`),
			BillingCycle: json.RawMessage(`{"cycleName":"QUARTERLY","duration":3,"durationUnit":"months"}`)},
			Price{PlanID: "p", PlanName: "P", Amount: 9999, Currency: "usd", Interval: "month", IntervalCount: 3}},
		"the replaced system's ids": {domain.Plan{ID: "plan-enterprise", Name: "E", Price: 999, CurrencyID: "usd", BillingCycleID: "annual"},
			Price{PlanID: "plan-enterprise", PlanName: "E", Amount: 99900, Currency: "usd", Interval: "year", IntervalCount: 1}},
		"a currency without cents": {domain.Plan{ID: "j", Name: "J", Price: 1200, CurrencyID: "JPY", BillingCycleID: "monthly"},
			Price{PlanID: "j", PlanName: "J", Amount: 1200, Currency: "jpy", Interval: "month", IntervalCount: 1}},
	} {
		if got, err := PriceOf(tt.plan); err != nil || got != tt.want {
			t.Errorf("%s: %+v %v, want %+v", name, got, err, tt.want)
		}
	}
	for name, p := range map[string]domain.Plan{
		"no ISO currency":   {ID: "p", CurrencyID: "cur-usd"},
		"a cycle of ages":   {ID: "p", CurrencyID: "usd", BillingCycle: json.RawMessage(`{"duration":1,"durationUnit":"age"}`)},
		"a cycle of halves": {ID: "p", CurrencyID: "usd", BillingCycle: json.RawMessage(`{"duration":0.5,"durationUnit":"month"}`)},
	} {
		if _, err := PriceOf(p); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// fakeProvider records the calls; failSubscribe makes Subscribe fail.
type fakeProvider struct {
	calls         []string
	failSubscribe error
}

func (f *fakeProvider) CreateCustomer(_ context.Context, key string, c Customer) (string, error) {
	f.calls = append(f.calls, "customer "+c.Email)
	return "cus_1", nil
}
func (f *fakeProvider) Subscribe(_ context.Context, key, customer string, p Price, _ map[string]string) (string, error) {
	f.calls = append(f.calls, "subscribe "+customer)
	return "sub_1", f.failSubscribe
}
func (f *fakeProvider) CreateInvoice(_ context.Context, key, customer, subscription, _ string, _ map[string]string) (domain.InvoiceCreated, error) {
	f.calls = append(f.calls, "invoice "+customer)
	return domain.InvoiceCreated{ID: "in_1"}, nil
}
func (f *fakeProvider) ChangePrice(_ context.Context, key, subscription string, p Price) error {
	f.calls = append(f.calls, fmt.Sprintf("price %s %s %d", subscription, p.PlanID, p.Amount))
	return nil
}
func (f *fakeProvider) CancelSubscription(_ context.Context, id string) error {
	f.calls = append(f.calls, "cancel "+id)
	return nil
}
func (f *fakeProvider) DeleteCustomer(_ context.Context, id string) error {
	f.calls = append(f.calls, "delete "+id)
	return nil
}
func (f *fakeProvider) Location() string { return "fake" }

func subscribed(t *testing.T) *domain.Tenant {
	t.Helper()
	tn := testenv.NewTenant(t, testenv.UniqueKey("b"))
	if _, err := tn.RequestProvisioning(domain.Subscription{ID: "s", SubscriberID: "c", PlanID: "p", StartDate: time.Now(),
		Plan: domain.Plan{ID: "p", Name: "P", Price: 10, CurrencyID: "eur", Tier: "pooled", BillingCycleID: "monthly"}}, testenv.DevTiers); err != nil {
		t.Fatal(err)
	}
	return tn
}

// A customer made before the subscription failed is in the result, so the
// undo finds it; the undo cancels subscriptions before it deletes customers.
func TestBillingRecordsWhatItMade(t *testing.T) {
	ctx := context.Background()
	f := &fakeProvider{failSubscribe: errors.New("provider hiccup")}
	res, err := Step{Provider: f}.Do(ctx, subscribed(t))
	if err == nil || step.IsPermanent(err) || len(res.Resources) != 1 || res.Resources[0].Kind != KindCustomer {
		t.Fatalf("a failed subscription: %+v %v", res, err)
	}
	tn := subscribed(t)
	f = &fakeProvider{}
	if res, err = (Step{Provider: f}).Do(ctx, tn); err != nil || len(res.Resources) != 2 || res.Outputs["subscription"] != "sub_1" {
		t.Fatalf("billing: %+v %v", res, err)
	}
	for _, s := range domain.Steps[:len(domain.Steps)-1] {
		if _, err := tn.RecordStep(domain.StepOutcome{Step: s, Outcome: domain.OutcomeSkipped}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tn.Activate(); err != nil {
		t.Fatal(err)
	}
	if next, _ := tn.NextStep(); next != domain.StepBilling {
		t.Fatalf("after activation the next step is %q, want billing", next)
	}
	if _, err := tn.RecordStep(domain.StepOutcome{Step: domain.StepBilling, Outcome: domain.OutcomeCompleted, Resources: res.Resources}); err != nil {
		t.Fatal(err)
	}
	f.calls = nil
	if err := (Step{Provider: f}).Undo(ctx, tn); err != nil || !slices.Equal(f.calls, []string{"cancel sub_1", "delete cus_1"}) {
		t.Fatalf("undo: %v %v", f.calls, err)
	}
}

// The plan change's billing step moves the subscription to the new plan's
// price and its undo back to the plan in effect; a tenant without a billing
// subscription has nothing to move.
func TestPlanStepMovesThePrice(t *testing.T) {
	ctx := context.Background()
	tn, unbilled := subscribed(t), subscribed(t)
	testenv.Activate(t, unbilled, nil)
	testenv.Activate(t, tn, map[string]domain.StepOutcome{domain.StepBilling: {Outcome: domain.OutcomeCompleted, Resources: []domain.Resource{
		{Step: domain.StepBilling, Kind: KindCustomer, ID: "cus_1"}, {Step: domain.StepBilling, Kind: KindSubscription, ID: "sub_1"}}}})
	larger := domain.Plan{ID: "p2", Name: "P2", Price: 25, CurrencyID: "eur", Tier: "pooled", BillingCycleID: "monthly"}
	for _, tenant := range []*domain.Tenant{tn, unbilled} {
		if _, err := tenant.RequestPlanChange(larger, testenv.DevTiers, "", domain.SourceOperator, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	f := &fakeProvider{}
	if res, err := (PlanStep{Provider: f}).Do(ctx, unbilled); err != nil || !res.Skipped || len(f.calls) != 0 {
		t.Fatalf("no billing subscription: %+v %v %v", res, err, f.calls)
	}
	if _, err := (PlanStep{Provider: f}).Do(ctx, tn); err != nil {
		t.Fatal(err)
	}
	if err := (PlanStep{Provider: f}).Undo(ctx, tn); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.calls, []string{"price sub_1 p2 2500", "price sub_1 p 1000"}) {
		t.Fatalf("calls %v", f.calls)
	}
}

// On Stripe's API as stripe-mock serves it (the dev stack's stand-in):
// the customer and the subscription are made and undone; an unreachable
// provider is an error worth another try.
func TestStripeThroughStripeMock(t *testing.T) {
	env := testenv.Require(t, "TENANTFLOW_STRIPE_API_URL", "TENANTFLOW_STRIPE_API_KEY")
	ctx := context.Background()
	s := Step{Provider: NewStripe(env["TENANTFLOW_STRIPE_API_KEY"], env["TENANTFLOW_STRIPE_API_URL"], http.DefaultClient)}
	tn := subscribed(t)
	res, err := s.Do(ctx, tn)
	if err != nil || len(res.Resources) != 2 || res.Resources[0].ID == "" || res.Resources[1].ID == "" ||
		res.Resources[0].Location != env["TENANTFLOW_STRIPE_API_URL"] {
		t.Fatalf("billing on stripe-mock: %+v %v", res, err)
	}
	if err := s.Provider.ChangePrice(ctx, "k-price", res.Resources[1].ID, Price{PlanID: "p2", PlanName: "P2", Amount: 2500, Currency: "eur",
		Interval: "month", IntervalCount: 1}); err != nil {
		t.Errorf("change price: %v", err)
	}
	inv, err := s.Provider.CreateInvoice(ctx, "k-invoice", res.Resources[0].ID, res.Resources[1].ID, "December", map[string]string{"tenant_id": tn.ID()})
	if err != nil || inv.ID == "" || inv.Currency == "" || inv.Status == "" {
		t.Errorf("invoice: %+v %v", inv, err)
	}
	if err := s.Provider.CancelSubscription(ctx, res.Resources[1].ID); err != nil {
		t.Errorf("cancel: %v", err)
	}
	if err := s.Provider.DeleteCustomer(ctx, res.Resources[0].ID); err != nil {
		t.Errorf("delete: %v", err)
	}
	down := Step{Provider: NewStripe("sk_test_x", "http://127.0.0.1:1", &http.Client{Timeout: 2 * time.Second})}
	if _, err := down.Do(ctx, subscribed(t)); err == nil || step.IsPermanent(err) {
		t.Errorf("an unreachable provider: %v, want an error worth another try", err)
	}
}
