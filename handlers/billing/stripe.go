package billing

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	stripego "github.com/stripe/stripe-go/v82"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/platform/backoff"
)

// Stripe is the billing provider on Stripe's API, through Stripe's
// official Go library (stripe-go). The dev stack points it at stripe-mock,
// Stripe's own API mock server: a stand-in that checks every request
// against Stripe's API and answers in its shapes, but keeps nothing.
type Stripe struct {
	client *stripego.Client
	url    string
}

// NewStripe is the provider with secret key key on the API at url ("":
// api.stripe.com). stripe-go's own retries are off: the step's one retry
// policy (platform/backoff) decides.
func NewStripe(key, url string, httpClient *http.Client) *Stripe {
	cfg := &stripego.BackendConfig{MaxNetworkRetries: stripego.Int64(0), HTTPClient: httpClient,
		LeveledLogger: &stripego.LeveledLogger{Level: stripego.LevelNull}}
	if url != "" {
		cfg.URL = stripego.String(strings.TrimSuffix(url, "/"))
	}
	backends := &stripego.Backends{API: stripego.GetBackendWithConfig(stripego.APIBackend, cfg),
		Connect: stripego.GetBackendWithConfig(stripego.ConnectBackend, cfg), Uploads: stripego.GetBackendWithConfig(stripego.UploadsBackend, cfg)}
	location := stripego.APIURL
	if url != "" {
		location = strings.TrimSuffix(url, "/")
	}
	return &Stripe{client: stripego.NewClient(key, stripego.WithBackends(backends)), url: location}
}

// Location is the API's URL.
func (b *Stripe) Location() string { return b.url }

// CreateCustomer makes the tenant's customer, marked with its tenant.
func (b *Stripe) CreateCustomer(ctx context.Context, key string, c Customer) (string, error) {
	params := &stripego.CustomerCreateParams{Name: stripego.String(c.Name), Email: stripego.String(c.Email),
		Metadata: map[string]string{"tenant_id": c.TenantID, "tenant_key": c.TenantKey}}
	params.SetIdempotencyKey(key)
	cus, err := b.client.V1Customers.Create(ctx, params)
	if err != nil {
		return "", classify(err)
	}
	return cus.ID, nil
}

// Subscribe subscribes the customer to the plan's price, invoiced (the
// customer pays each invoice; no card is needed to start). The plan is a
// Stripe product of id tenantflow-plan-<plan id>, made when missing.
func (b *Stripe) Subscribe(ctx context.Context, key, customerID string, p Price, metadata map[string]string) (string, error) {
	product, err := b.product(ctx, p)
	if err != nil {
		return "", err
	}
	params := &stripego.SubscriptionCreateParams{Customer: stripego.String(customerID), CollectionMethod: stripego.String("send_invoice"),
		DaysUntilDue: stripego.Int64(30), Metadata: metadata,
		Items: []*stripego.SubscriptionCreateItemParams{{PriceData: &stripego.SubscriptionCreateItemPriceDataParams{
			Currency: stripego.String(p.Currency), Product: stripego.String(product), UnitAmount: stripego.Int64(p.Amount),
			Recurring: &stripego.SubscriptionCreateItemPriceDataRecurringParams{Interval: stripego.String(p.Interval), IntervalCount: stripego.Int64(p.IntervalCount)}}}}}
	params.SetIdempotencyKey(key)
	sub, err := b.client.V1Subscriptions.Create(ctx, params)
	if err != nil {
		return "", classify(err)
	}
	return sub.ID, nil
}

// product is the Stripe product of p's plan, tenantflow-plan-<plan id>,
// made when missing.
func (b *Stripe) product(ctx context.Context, p Price) (string, error) {
	product := "tenantflow-plan-" + p.PlanID
	_, err := b.client.V1Products.Create(ctx, &stripego.ProductCreateParams{ID: stripego.String(product), Name: stripego.String(p.PlanName),
		Metadata: map[string]string{"plan_id": p.PlanID}})
	var se *stripego.Error
	if err != nil && !(errors.As(err, &se) && se.Code == stripego.ErrorCodeResourceAlreadyExists) {
		return "", classify(err)
	}
	return product, nil
}

// ChangePrice moves the subscription to p: its item gets the plan's price
// (its product made when missing), and Stripe prorates the rest of the
// current period, as it does by default.
func (b *Stripe) ChangePrice(ctx context.Context, key, subscriptionID string, p Price) error {
	product, err := b.product(ctx, p)
	if err != nil {
		return err
	}
	sub, err := b.client.V1Subscriptions.Retrieve(ctx, subscriptionID, nil)
	if err != nil {
		return classify(err)
	}
	if sub.Items == nil || len(sub.Items.Data) == 0 {
		return backoff.Permanent(fmt.Errorf("stripe subscription %s has no item to price", subscriptionID))
	}
	params := &stripego.SubscriptionUpdateParams{Metadata: map[string]string{"plan_id": p.PlanID},
		Items: []*stripego.SubscriptionUpdateItemParams{{ID: stripego.String(sub.Items.Data[0].ID), PriceData: &stripego.SubscriptionUpdateItemPriceDataParams{
			Currency: stripego.String(p.Currency), Product: stripego.String(product), UnitAmount: stripego.Int64(p.Amount),
			Recurring: &stripego.SubscriptionUpdateItemPriceDataRecurringParams{Interval: stripego.String(p.Interval), IntervalCount: stripego.Int64(p.IntervalCount)}}}}}
	params.SetIdempotencyKey(key)
	_, err = b.client.V1Subscriptions.Update(ctx, subscriptionID, params)
	return classify(err)
}

// CreateInvoice invoices the customer for what its subscription owes now,
// sent to the customer to pay (auto-advanced: Stripe finalizes and mails it).
func (b *Stripe) CreateInvoice(ctx context.Context, key, customerID, subscriptionID, description string, metadata map[string]string) (domain.InvoiceCreated, error) {
	params := &stripego.InvoiceCreateParams{Customer: stripego.String(customerID), CollectionMethod: stripego.String("send_invoice"),
		DaysUntilDue: stripego.Int64(30), AutoAdvance: stripego.Bool(true), Metadata: metadata}
	if subscriptionID != "" {
		params.Subscription = stripego.String(subscriptionID)
	}
	if description != "" {
		params.Description = stripego.String(description)
	}
	params.SetIdempotencyKey(key)
	in, err := b.client.V1Invoices.Create(ctx, params)
	if err != nil {
		return domain.InvoiceCreated{}, classify(err)
	}
	return domain.InvoiceCreated{ID: in.ID, Description: description, AmountDue: in.AmountDue, Currency: string(in.Currency),
		Status: string(in.Status), URL: in.HostedInvoiceURL}, nil
}

// CancelSubscription cancels at once; one that is gone is cancelled.
func (b *Stripe) CancelSubscription(ctx context.Context, id string) error {
	_, err := b.client.V1Subscriptions.Cancel(ctx, id, nil)
	return gone(err)
}

// DeleteCustomer deletes the customer; one that is gone is deleted.
func (b *Stripe) DeleteCustomer(ctx context.Context, id string) error {
	_, err := b.client.V1Customers.Delete(ctx, id, nil)
	return gone(err)
}

// gone is nil for Stripe's "no such resource", else classify(err).
func gone(err error) error {
	var se *stripego.Error
	if errors.As(err, &se) && (se.HTTPStatusCode == http.StatusNotFound || se.Code == stripego.ErrorCodeResourceMissing) {
		return nil
	}
	return classify(err)
}

// classify marks Stripe's refusals (4xx but 409 and 429) permanent; a
// conflict, a rate limit, a 5xx or no answer is worth another try.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var se *stripego.Error
	if errors.As(err, &se) && se.HTTPStatusCode >= 400 && se.HTTPStatusCode < 500 &&
		se.HTTPStatusCode != http.StatusConflict && se.HTTPStatusCode != http.StatusTooManyRequests {
		return backoff.Permanent(fmt.Errorf("stripe refused (%d %s): %s", se.HTTPStatusCode, se.Code, se.Msg))
	}
	return fmt.Errorf("stripe: %w", err)
}
