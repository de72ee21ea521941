// Package billing is the billing step: once a tenant is ACTIVE, its
// customer and its plan's subscription at the billing provider, behind a
// port (Provider) whose first adapter is Stripe (adapters/stripe). Its undo
// cancels the subscription and deletes the customer; deprovisioning runs
// it first. The step follows activation, so a billing provider that is down
// holds this step alone: the tenant is ACTIVE and serving meanwhile, and
// the welcome mail follows billing's outcome.
package billing

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/handlers/step"
	"github.com/tenantflow/tenantflow/platform/pii"
)

// Resource kinds the step records.
const (
	KindCustomer     = domain.ResourceBillingCustomer
	KindSubscription = domain.ResourceBillingSubscription
)

// Customer is the tenant as the billing provider bills it.
type Customer struct {
	TenantID, TenantKey, Name, Email string
}

// Price is what the plan costs each period: Amount in the currency's
// minor unit (cents), Currency an ISO 4217 code in lower case, every
// IntervalCount Intervals (day, week, month or year).
type Price struct {
	PlanID, PlanName string
	Amount           int64
	Currency         string
	Interval         string
	IntervalCount    int64
}

// Provider is the billing port. Each call with the same key is the same
// call: a retry after a lost answer makes nothing twice. Errors marked
// step.Permanent are the provider's refusals; any other is worth another
// try. Undoing what is gone already is no error.
type Provider interface {
	CreateCustomer(ctx context.Context, key string, c Customer) (id string, err error)
	Subscribe(ctx context.Context, key, customerID string, p Price, metadata map[string]string) (id string, err error)
	// CreateInvoice invoices the customer now (what its subscription and
	// pending items owe): the invoice as the provider made it.
	CreateInvoice(ctx context.Context, key, customerID, subscriptionID, description string, metadata map[string]string) (domain.InvoiceCreated, error)
	// ChangePrice moves a subscription to another plan's price.
	ChangePrice(ctx context.Context, key, subscriptionID string, p Price) error
	CancelSubscription(ctx context.Context, id string) error
	DeleteCustomer(ctx context.Context, id string) error
	// Location names the provider in the resources the step records.
	Location() string
}

// Step is the billing step on a provider. Personal opens the tenant's
// sealed contact, whose email the provider bills.
type Step struct {
	Provider Provider
	Personal pii.Opener
}

// Do makes the tenant's customer and subscribes it to the plan of the
// latest attempt. A customer made before the subscription failed is
// recorded all the same, so the undo finds it.
func (s Step) Do(ctx context.Context, t *domain.Tenant) (step.Result, error) {
	sub, ok := t.Subscription()
	if !ok {
		return step.Result{}, step.Permanent(fmt.Errorf("tenant %s has no subscription to bill", t.ID()))
	}
	price, err := PriceOf(sub.Plan)
	if err != nil {
		return step.Result{}, step.Permanent(err)
	}
	opened, err := pii.OpenTenant(ctx, s.Personal, t)
	if err != nil {
		return step.Result{}, err
	}
	key := fmt.Sprintf("tenantflow-%s-%d", t.ID(), t.Attempt())
	customer, err := s.Provider.CreateCustomer(ctx, key+"-customer",
		Customer{TenantID: t.ID(), TenantKey: t.Key(), Name: t.Name(), Email: opened.Contact().Email})
	if err != nil {
		return step.Result{}, fmt.Errorf("create the billing customer: %w", err)
	}
	res := step.Result{Resources: []domain.Resource{{Step: domain.StepBilling, Kind: KindCustomer, ID: customer, Location: s.Provider.Location()}}}
	metadata := map[string]string{"tenant_id": t.ID(), "tenant_key": t.Key(), "subscription_id": sub.ID, "plan_id": sub.Plan.ID}
	if sub.InvoiceID != "" {
		metadata["invoice_id"] = sub.InvoiceID
	}
	subscription, err := s.Provider.Subscribe(ctx, key+"-subscription", customer, price, metadata)
	if err != nil {
		return res, fmt.Errorf("subscribe customer %s to plan %s: %w", customer, sub.Plan.ID, err)
	}
	res.Resources = append(res.Resources, domain.Resource{Step: domain.StepBilling, Kind: KindSubscription, ID: subscription, Location: s.Provider.Location()})
	res.Outputs = map[string]string{"customer": customer, "subscription": subscription}
	return res, nil
}

// Undo cancels the subscriptions and deletes the customers the step
// recorded, and those an earlier undo left (the tenant's orphans).
func (s Step) Undo(ctx context.Context, t *domain.Tenant) error {
	var customers []string
	for _, r := range append(t.Resources(), t.Orphans()...) {
		if r.Step != domain.StepBilling {
			continue
		}
		switch r.Kind {
		case KindSubscription:
			if err := s.Provider.CancelSubscription(ctx, r.ID); err != nil {
				return fmt.Errorf("cancel billing subscription %s: %w", r.ID, err)
			}
		case KindCustomer:
			customers = append(customers, r.ID)
		}
	}
	for _, id := range customers { // after their subscriptions
		if err := s.Provider.DeleteCustomer(ctx, id); err != nil {
			return fmt.Errorf("delete billing customer %s: %w", id, err)
		}
	}
	return nil
}

// PlanStep is the plan change's billing step (domain.StepPlanBilling): the
// tenant's billing subscription moves to the new plan's price; its undo
// moves it back to the plan in effect. A tenant the billing step made no
// subscription for (billing skipped, or failed) has nothing to change.
type PlanStep struct {
	Provider Provider
}

func (s PlanStep) Do(ctx context.Context, t *domain.Tenant) (step.Result, error) {
	target, ok := t.PlanChangeTarget()
	if !ok {
		return step.Result{}, step.Permanent(fmt.Errorf("tenant %s has no plan change running", t.ID()))
	}
	return s.price(ctx, t, target, "do")
}

func (s PlanStep) Undo(ctx context.Context, t *domain.Tenant) error {
	sub, ok := t.Subscription()
	if !ok {
		return nil
	}
	_, err := s.price(ctx, t, sub.Plan, "undo")
	return err
}

// price moves the tenant's billing subscription to plan; phase keeps the
// do's and the undo's provider calls apart.
func (s PlanStep) price(ctx context.Context, t *domain.Tenant, plan domain.Plan, phase string) (step.Result, error) {
	_, subscription, billed := t.BillingAccount()
	if !billed || subscription == "" {
		return step.Result{Skipped: true, Reason: "the tenant has no billing subscription"}, nil
	}
	price, err := PriceOf(plan)
	if err != nil {
		return step.Result{}, step.Permanent(err)
	}
	round, _ := t.LastChange()
	key := fmt.Sprintf("tenantflow-%s-plan-%d-%s", t.ID(), round.Round, phase)
	if err := s.Provider.ChangePrice(ctx, key, subscription, price); err != nil {
		return step.Result{}, fmt.Errorf("move billing subscription %s to plan %s: %w", subscription, plan.ID, err)
	}
	return step.Result{Outputs: map[string]string{"subscription": subscription, "plan": plan.ID}}, nil
}

// zeroDecimal are the currencies without a minor unit (Stripe's list).
var zeroDecimal = map[string]bool{"bif": true, "clp": true, "djf": true, "gnf": true, "jpy": true, "kmf": true, "krw": true,
	"mga": true, "pyg": true, "rwf": true, "ugx": true, "vnd": true, "vuv": true, "xaf": true, "xof": true, "xpf": true}

var isoCurrency = regexp.MustCompile(`^[A-Za-z]{3}$`)

var periods = map[string]bool{"day": true, "week": true, "month": true, "year": true}

// PriceOf reads what a plan costs: its currency is the currency record's
// currencyCode (ARC's) or a currencyId that is an ISO 4217 code (the
// replaced system's "usd"); its period is the billing cycle record's
// duration and durationUnit, or read from billingCycleId (monthly,
// annual, ...; a month when it says nothing).
func PriceOf(p domain.Plan) (Price, error) {
	var currency struct {
		CurrencyCode string `json:"currencyCode"`
	}
	_ = json.Unmarshal(p.Currency, &currency)
	code := currency.CurrencyCode
	if code == "" && isoCurrency.MatchString(p.CurrencyID) {
		code = p.CurrencyID
	}
	if !isoCurrency.MatchString(code) {
		return Price{}, fmt.Errorf("plan %s has no ISO 4217 currency: currencyId %q is none, and no currency.currencyCode was sent", p.ID, p.CurrencyID)
	}
	code = strings.ToLower(code)
	unit := 100.0
	if zeroDecimal[code] {
		unit = 1
	}
	interval, count, err := periodOf(p)
	if err != nil {
		return Price{}, err
	}
	return Price{PlanID: p.ID, PlanName: p.Name, Amount: int64(math.Round(p.Price * unit)), Currency: code, Interval: interval, IntervalCount: count}, nil
}

func periodOf(p domain.Plan) (string, int64, error) {
	var cycle struct {
		Duration     json.Number `json:"duration"`
		DurationUnit string      `json:"durationUnit"`
	}
	_ = json.Unmarshal(p.BillingCycle, &cycle)
	if unit := strings.TrimSuffix(strings.ToLower(cycle.DurationUnit), "s"); unit != "" {
		n, err := int64(1), error(nil) // no duration: one unit
		if cycle.Duration != "" {
			n, err = strconv.ParseInt(cycle.Duration.String(), 10, 64)
		}
		if err != nil || n < 1 || !periods[unit] {
			return "", 0, fmt.Errorf("plan %s: billing cycle of %q %q is not a whole number of days, weeks, months or years", p.ID, cycle.Duration, cycle.DurationUnit)
		}
		return unit, n, nil
	}
	id := strings.ToLower(p.BillingCycleID)
	switch {
	case strings.Contains(id, "year") || strings.Contains(id, "annual"):
		return "year", 1, nil
	case strings.Contains(id, "quarter"):
		return "month", 3, nil
	case strings.Contains(id, "week"):
		return "week", 1, nil
	case strings.Contains(id, "day") || strings.Contains(id, "daily"):
		return "day", 1, nil
	}
	return "month", 1, nil
}
