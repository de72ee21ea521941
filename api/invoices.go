package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/platform/backoff"
)

// Invoicer makes an invoice at the billing provider (handlers/billing's
// provider). key makes a retry the same call.
type Invoicer interface {
	CreateInvoice(ctx context.Context, key, customerID, subscriptionID, description string, metadata map[string]string) (domain.InvoiceCreated, error)
}

// createInvoice is POST /tenants/{id}/invoices {description?} (ARC's
// CreateInvoice, 10212): the billing provider invoices the tenant's
// customer for what its subscription owes now, and the invoice is
// recorded (tenant.invoice.created). The request's Idempotency-Key (or a
// new id) names it: a retry makes no second invoice, at the provider or
// in the log. A provider that cannot be reached is a 503 and changes
// nothing; one that refuses is a 502 saying why.
func (h *tenantHandlers) createInvoice(w http.ResponseWriter, r *http.Request) {
	id, ok := tenantID(r)
	if !ok {
		writeError(w, h.logger, domain.ErrNotFound)
		return
	}
	var req struct {
		Description string `json:"description"`
	}
	if err := decode(w, r, &req); err != nil {
		writeError(w, h.logger, err)
		return
	}
	if h.billing == nil {
		writeProblem(w, problem{Status: http.StatusServiceUnavailable, Detail: "no billing provider is configured (TENANTFLOW_BILLING)"})
		return
	}
	requestID := r.Header.Get("Idempotency-Key")
	if requestID == "" {
		requestID = uuid.NewString()
	}
	t, err := h.app.Tenants.Get(r.Context(), id)
	if err != nil {
		writeError(w, h.logger, err)
		return
	}
	if inv, done := t.Invoice(requestID); done {
		writeJSON(w, http.StatusCreated, inv)
		return
	}
	description, err := t.CheckInvoice(req.Description)
	if err != nil {
		writeError(w, h.logger, err)
		return
	}
	customer, subscription, _ := t.BillingAccount()
	sum := sha256.Sum256([]byte(requestID))
	inv, err := h.billing.CreateInvoice(r.Context(), "tenantflow-invoice-"+id+"-"+hex.EncodeToString(sum[:16]), customer, subscription, description,
		map[string]string{"tenant_id": id, "request_id": requestID})
	if err != nil {
		status, detail := http.StatusServiceUnavailable, "the billing provider cannot be reached right now; nothing was invoiced: try again"
		if backoff.IsPermanent(err) {
			status, detail = http.StatusBadGateway, "the billing provider refused the invoice: "+err.Error()
		} else {
			w.Header().Set("Retry-After", retryAfterSeconds)
		}
		h.logger.Warn("invoice not made", "tenant_id", id, "error", err)
		writeProblem(w, problem{Status: status, Detail: detail})
		return
	}
	inv.RequestID, inv.At = requestID, time.Now().UTC()
	if _, err = h.app.Tenants.UpdateRetried(r.Context(), id, metadata(r), func(t *domain.Tenant) ([]domain.Event, error) {
		return t.RecordInvoice(inv)
	}); err != nil {
		writeError(w, h.logger, err)
		return
	}
	w.Header().Set("Location", "/tenants/"+id+"/invoices")
	writeJSON(w, http.StatusCreated, inv)
}

// invoices is GET /tenants/{id}/invoices (10215, or the tenant's own
// administrator): the tenant's invoices, oldest first, from its stream.
func (h *tenantHandlers) invoices(w http.ResponseWriter, r *http.Request) {
	id, ok := tenantID(r)
	if !ok {
		writeError(w, h.logger, domain.ErrNotFound)
		return
	}
	t, err := h.app.Tenants.Get(r.Context(), id)
	if err != nil {
		writeError(w, h.logger, err)
		return
	}
	list := t.Invoices()
	if list == nil {
		list = []domain.InvoiceCreated{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"invoices": list})
}
