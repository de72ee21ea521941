package domain

import (
	"errors"
	"slices"
	"strings"
	"time"
)

// The resources the billing step records.
const (
	ResourceBillingCustomer     = "billing-customer"
	ResourceBillingSubscription = "billing-subscription"
)

// TypeInvoiceCreated records an invoice the billing provider made for an
// ACTIVE tenant (POST /tenants/{id}/invoices, ARC's CreateInvoice, 10212).
const TypeInvoiceCreated = "tenant.invoice.created"

// InvoiceCreated is an invoice as the billing provider made it: its id
// there, the amount due in the currency's minor unit, its status and the
// page where the customer pays it. RequestID is the caller's request (its
// Idempotency-Key, or one of tenantflow's): the same request records one
// invoice.
type InvoiceCreated struct {
	RequestID   string    `json:"requestId"`
	ID          string    `json:"id"`
	Description string    `json:"description,omitempty"`
	AmountDue   int64     `json:"amountDue"`
	Currency    string    `json:"currency,omitempty"`
	Status      string    `json:"status,omitempty"`
	URL         string    `json:"url,omitempty"`
	At          time.Time `json:"at"`
}

func (InvoiceCreated) EventType() string { return TypeInvoiceCreated }

// ErrNotBilled refuses an invoice for a tenant the billing step has not
// made a customer for (not ACTIVE yet, billing skipped or failed).
var ErrNotBilled = errors.New("the tenant has no billing customer: it is not ACTIVE, or its billing step was skipped or failed")

// BillingAccount is the billing customer and subscription the billing step
// recorded for the latest attempt; ok false when it has none.
func (t *Tenant) BillingAccount() (customer, subscription string, ok bool) {
	if t.status != StatusActive {
		return "", "", false
	}
	return t.billingResources()
}

// billingResources is what the billing step made for the latest attempt,
// whatever the tenant's status: a SUSPENDED tenant keeps its account.
func (t *Tenant) billingResources() (customer, subscription string, ok bool) {
	s := t.steps[StepBilling]
	if s == nil || s.State != OutcomeCompleted || s.Undo != "" {
		return "", "", false
	}
	for _, r := range s.Resources {
		switch r.Kind {
		case ResourceBillingCustomer:
			customer = r.ID
		case ResourceBillingSubscription:
			subscription = r.ID
		}
	}
	return customer, subscription, customer != ""
}

// CheckInvoice validates an invoice request: a description of one line,
// for a tenant with a billing account.
func (t *Tenant) CheckInvoice(description string) (string, error) {
	p := problems{}
	d := checkText(p, "description", description, maxDescription, true)
	if err := p.err(); err != nil {
		return "", err
	}
	if _, _, ok := t.BillingAccount(); !ok {
		return "", ErrNotBilled
	}
	return d, nil
}

// RecordInvoice records an invoice the provider made; one with a request
// id the tenant has recorded already records nothing (a retry).
func (t *Tenant) RecordInvoice(e InvoiceCreated) ([]Event, error) {
	if _, _, ok := t.BillingAccount(); !ok {
		return nil, ErrNotBilled
	}
	if slices.ContainsFunc(t.invoices, func(i InvoiceCreated) bool { return i.RequestID == e.RequestID }) {
		return nil, nil
	}
	e.Description, e.Currency = strings.TrimSpace(e.Description), strings.ToLower(e.Currency)
	t.apply(e)
	return []Event{e}, nil
}

// Invoices lists the tenant's invoices, oldest first.
func (t *Tenant) Invoices() []InvoiceCreated { return slices.Clone(t.invoices) }

// Invoice is the invoice the tenant recorded for requestID, if any.
func (t *Tenant) Invoice(requestID string) (InvoiceCreated, bool) {
	i := slices.IndexFunc(t.invoices, func(i InvoiceCreated) bool { return i.RequestID == requestID })
	if i < 0 {
		return InvoiceCreated{}, false
	}
	return t.invoices[i], true
}

// What the billing provider says of a subscription's payments.
const (
	// BillingUnpaid: the provider gave up collecting (Stripe's subscription
	// status "unpaid", once its retries are exhausted).
	BillingUnpaid = "unpaid"
	// BillingPaid: the subscription is in good standing again ("active").
	BillingPaid = "paid"
)

// BillingNotice is a verified notice from the billing provider (a Stripe
// webhook event): its id there, the subscription it is about, the tenant
// the subscription was made for, and the subscription's standing.
type BillingNotice struct {
	EventID, SubscriptionID, TenantID, Standing string
}

// ActOnBilling is what the billing provider's notice n asks of the tenant:
// unpaid suspends an ACTIVE tenant, paid reactivates a tenant the billing
// provider suspended (an operator's suspension is the operator's to lift).
// It asks nothing — no events, no error — when the notice is about another
// subscription than the tenant's billing account, when the tenant is
// already where the notice would take it (a notice delivered twice), or
// when it is in no state to move (being provisioned or deprovisioned). A
// change of the other kind still running is ErrChangeRunning: the provider
// delivers the notice again later.
func (t *Tenant) ActOnBilling(n BillingNotice, now time.Time) ([]Event, error) {
	if _, sub, ok := t.billingResources(); !ok || sub != n.SubscriptionID {
		return nil, nil
	}
	kind, from := ChangeSuspend, StatusActive
	if n.Standing == BillingPaid {
		kind, from = ChangeReactivate, StatusSuspended
	}
	if t.changeRunning() {
		if t.change.kind == kind {
			return nil, nil
		}
		return nil, ErrChangeRunning
	}
	if t.status != from || (kind == ChangeReactivate && (t.change == nil || t.change.source != SourceBilling)) {
		return nil, nil
	}
	reason := "billing provider: subscription " + n.SubscriptionID + " " + n.Standing + " (event " + n.EventID + ")"
	return t.RequestChange(kind, reason, SourceBilling, now)
}
