package api

import (
	"encoding/json"
	"net/http"

	"github.com/tenantflow/tenantflow/projections"
)

// renderedTenant is a tenant's GET /tenants/{id} answer as last rendered,
// without its personal members, with the revision of the rows it was
// rendered from (projections.TenantDetail.Revision); tenantHandlers keeps
// one a tenant. While a tenant's rows stay the same, an answer is that
// rendering and the personal members opened and rendered for this request.
// Nothing opened is kept.
//
// Decision (issue 33): encoding the whole view was a quarter of tenantd's
// CPU a GET; the personal members are rendered apart, at the end of the
// object, so that only what is opened per request is encoded per request.
// A sealed-looking string elsewhere in the answer is never opened here.
type renderedTenant struct {
	revision string
	members  []byte // the view's JSON object without personal members, its closing brace left off
}

// writeDetail answers with the tenant d: its members rendered once a
// revision, its personal members opened with the keys read beside it.
func (h *tenantHandlers) writeDetail(w http.ResponseWriter, d projections.TenantDetail) {
	r, ok := h.rendered.Get(d.ID)
	if !ok || r.revision != d.Revision {
		doc, err := json.Marshal(viewOfDetail(d))
		if err != nil {
			writeError(w, h.logger, err)
			return
		}
		r = renderedTenant{revision: d.Revision, members: doc[:len(doc)-1]}
		h.rendered.Put(d.ID, r)
	}
	p := personalOfDetail(d)
	if h.personal != nil {
		if err := h.personal.OpenFieldsWith(d.Keys, p.personalFields()...); err != nil {
			h.logger.Error("personal data could not be opened", "tenant", d.ID, "error", err)
			unopenable(w)
			return
		}
	}
	personal, err := json.Marshal(p)
	if err != nil {
		writeError(w, h.logger, err)
		return
	}
	body := make([]byte, 0, len(r.members)+len(personal)+2)
	body = append(append(append(body, r.members...), ','), personal[1:]...) // {"id":…, + "contact":…}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(body, '\n')) // the client went away; nothing to do
}

// personalOfDetail is d's personal members. They are opened in place:
// d must be the caller's own (Detail's answers are).
func personalOfDetail(d projections.TenantDetail) *tenantPersonal {
	return &tenantPersonal{Contact: d.Contact, Contacts: d.Contacts, Address: d.Address}
}
