// Package stripetest plays Stripe's side of a webhook in tests: Stripe
// itself cannot call this machine (no internet), and stripe-mock sends no
// webhooks, so tests sign deliveries the way Stripe does, with stripe-go's
// own test signer. A stand-in for Stripe's sender, labelled as one.
package stripetest

import (
	"fmt"
	"time"

	stripego "github.com/stripe/stripe-go/v82"
	"github.com/stripe/stripe-go/v82/webhook"
)

// Delivery is a webhook event as Stripe sends it for Stripe's API version:
// event eventID of type typ about subscription sub in status, marked with
// tenant (as the billing step marks its subscriptions; "" for none), signed
// with secret at time at. signature is the Stripe-Signature header.
func Delivery(secret, eventID, typ, sub, status, tenant string, at time.Time) (payload []byte, signature string) {
	payload = fmt.Appendf(nil, `{"id":%q,"object":"event","api_version":%q,"type":%q,"data":{"object":`+
		`{"id":%q,"object":"subscription","status":%q,"customer":"cus_1","metadata":{"tenant_id":%q}}}}`,
		eventID, stripego.APIVersion, typ, sub, status, tenant)
	s := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret, Timestamp: at})
	return payload, s.Header
}
