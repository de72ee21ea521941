package api

import (
	"net/http"

	"github.com/google/uuid"

	"github.com/tenantflow/tenantflow/app"
	"github.com/tenantflow/tenantflow/domain"
)

// orphansView is GET /orphans' answer.
type orphansView struct {
	Orphans []domain.Resource `json:"orphans"`
}

// orphans serves GET /orphans[?tenant=<id>] (10240): what undos could not
// remove, by tenant, from the resources projection — the list the
// tenantflow_orphans gauge and its alert count.
func (h *tenantHandlers) orphans(w http.ResponseWriter, r *http.Request) {
	tenant := r.URL.Query().Get("tenant")
	if r.URL.Query().Has("tenant") {
		id, err := uuid.Parse(tenant)
		if err != nil {
			writeError(w, h.logger, &errRequest{status: http.StatusBadRequest, detail: "tenant must be a tenant's id"})
			return
		}
		tenant = id.String()
	}
	list, err := h.list.Orphans(r.Context(), tenant)
	if err != nil {
		writeError(w, h.logger, err)
		return
	}
	if list == nil {
		list = []domain.Resource{}
	}
	writeJSON(w, http.StatusOK, orphansView{Orphans: list})
}

// retryOrphans is POST /tenants/{id}/orphans/retry (10241): the failed
// undos of a PROVISION_FAILED or INACTIVE tenant, of every attempt, run
// again; its orphans go as they succeed. 409 when there is none, or while
// the tenant is in another status or already retrying.
func (h *tenantHandlers) retryOrphans(w http.ResponseWriter, r *http.Request) {
	h.command(w, r, func(id string) (*domain.Tenant, error) {
		return app.RetryUndos(r.Context(), h.app.Tenants, id, metadata(r))
	})
}

// forgetOrphanBody is POST /tenants/{id}/orphans/forget's body: the orphan
// as GET /orphans lists it, and why it needs no more attention.
type forgetOrphanBody struct {
	Step   string `json:"step"`
	Kind   string `json:"kind"`
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

// forgetOrphan is POST /tenants/{id}/orphans/forget (10241): the operator
// dealt with an orphan (removed it by hand, or judged it harmless); recorded
// with who and why. 404 for an orphan the tenant does not have.
func (h *tenantHandlers) forgetOrphan(w http.ResponseWriter, r *http.Request) {
	var b forgetOrphanBody
	if err := decode(w, r, &b); err != nil {
		writeError(w, h.logger, err)
		return
	}
	h.command(w, r, func(id string) (*domain.Tenant, error) {
		return app.ForgetOrphan(r.Context(), h.app.Tenants, id, b.Step, b.Kind, b.ID, b.Reason, metadata(r))
	})
}
