package api

import (
	"errors"
	"net/http"

	"github.com/tenantflow/tenantflow/app"
	"github.com/tenantflow/tenantflow/domain"
)

// BillingNotices verifies the billing provider's webhook deliveries
// (handlers/billing.StripeNotices): ok is false for a delivery that says
// nothing about a subscription's standing.
type BillingNotices interface {
	Notice(payload []byte, signature string) (n domain.BillingNotice, ok bool, err error)
}

// billingNotice is POST /billing/stripe/events, Stripe's webhook endpoint,
// authenticated by its signature (Stripe-Signature), not by a token. A
// subscription gone "unpaid" suspends its tenant; one "active" again
// reactivates a tenant the billing provider suspended
// (domain.Tenant.ActOnBilling). Stripe delivers again on anything but a
// 2xx, so a notice that asks nothing — about no tenant tenantflow holds,
// delivered twice, of a tenant being provisioned — is a 200; one that
// cannot be verified is a 400; one that waits on a running change a 409,
// delivered again later; without a signing secret configured, every
// delivery is a 503 (Stripe keeps it and delivers it again).
func (h *tenantHandlers) billingNotice(notices BillingNotices) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if notices == nil {
			writeProblem(w, problem{Status: http.StatusServiceUnavailable, Title: "Billing notices not configured",
				Detail: "set TENANTFLOW_STRIPE_WEBHOOK_SECRET to the endpoint's signing secret"})
			return
		}
		payload, err := readJSON(w, r)
		if err != nil {
			writeError(w, h.logger, err)
			return
		}
		n, ok, err := notices.Notice(payload, r.Header.Get("Stripe-Signature"))
		if err != nil {
			writeProblem(w, problem{Status: http.StatusBadRequest, Title: "Not a verified billing notice", Detail: err.Error()})
			return
		}
		if !ok {
			writeJSON(w, http.StatusOK, map[string]any{"change": ""})
			return
		}
		md := metadata(r)
		md.Actor = "billing:" + n.EventID
		change, err := app.ActOnBilling(r.Context(), h.app.Tenants, n, md)
		if errors.Is(err, domain.ErrNotFound) {
			h.logger.Warn("billing notice about a tenant tenantflow does not hold", "event", n.EventID, "subscription", n.SubscriptionID, "tenant", n.TenantID)
			writeJSON(w, http.StatusOK, map[string]any{"change": ""})
			return
		}
		if err != nil {
			writeError(w, h.logger, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"tenant": n.TenantID, "change": change})
	}
}
