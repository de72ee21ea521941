package billing

import (
	"encoding/json"
	"errors"
	"fmt"

	stripego "github.com/stripe/stripe-go/v82"
	"github.com/stripe/stripe-go/v82/webhook"
	"github.com/tenantflow/tenantflow/domain"
)

// StripeNotices reads the notices Stripe sends to a webhook endpoint,
// checked with the endpoint's signing secret (whsec_...) by stripe-go's
// webhook package: the signature, a timestamp at most five minutes old
// (a replayed delivery is refused) and the API version stripe-go expects
// (create the endpoint with it, as Stripe advises).
type StripeNotices struct {
	Secret string
}

// ErrNotVerified is a delivery whose signature, age or API version does
// not check out: nothing is done with it.
var ErrNotVerified = errors.New("not a verified Stripe event")

// Notice is the billing notice in a delivery (payload, with its
// Stripe-Signature header). ok is false for events that say nothing about
// a subscription's standing: an update of a tenantflow subscription to
// "unpaid" is domain.BillingUnpaid, back to "active" domain.BillingPaid;
// everything else (past_due while Stripe still retries, other objects) is
// acknowledged and ignored.
func (n StripeNotices) Notice(payload []byte, signature string) (domain.BillingNotice, bool, error) {
	e, err := webhook.ConstructEvent(payload, signature, n.Secret)
	if err != nil {
		return domain.BillingNotice{}, false, fmt.Errorf("%w: %v", ErrNotVerified, err)
	}
	if e.Type != stripego.EventTypeCustomerSubscriptionUpdated || e.Data == nil {
		return domain.BillingNotice{}, false, nil
	}
	var sub stripego.Subscription
	if err := json.Unmarshal(e.Data.Raw, &sub); err != nil {
		return domain.BillingNotice{}, false, fmt.Errorf("%w: its subscription: %v", ErrNotVerified, err)
	}
	standing := map[stripego.SubscriptionStatus]string{stripego.SubscriptionStatusUnpaid: domain.BillingUnpaid,
		stripego.SubscriptionStatusActive: domain.BillingPaid}[sub.Status]
	tenant := sub.Metadata["tenant_id"] // the billing step marks its subscriptions
	if standing == "" || tenant == "" {
		return domain.BillingNotice{}, false, nil
	}
	return domain.BillingNotice{EventID: e.ID, SubscriptionID: sub.ID, TenantID: tenant, Standing: standing}, true, nil
}
