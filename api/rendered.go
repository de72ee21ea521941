package api

import (
	"encoding/json"
	"net/http"
	"slices"
	"sync"

	"github.com/tenantflow/tenantflow/projections"
)

// renderedTenants keeps each tenant's GET /tenants/{id} answer as last
// rendered, without its personal members, by the revision of the rows it
// was rendered from (projections.TenantDetail.Revision): while a tenant's
// rows stay the same, an answer is that rendering and the personal members
// opened and rendered for this request. Nothing opened is kept. At
// maxRendered tenants it starts over.
//
// Decision (issue 33): encoding the whole view was a quarter of tenantd's
// CPU a GET; the personal members are rendered apart, at the end of the
// object, so that only what is opened per request is encoded per request.
// A sealed-looking string elsewhere in the answer is never opened here.
type renderedTenants struct {
	mu sync.Mutex
	m  map[string]renderedTenant
}

type renderedTenant struct {
	revision string
	members  []byte // the view's JSON object without personal members, its closing brace left off
}

const maxRendered = 10_000

func (rt *renderedTenants) get(id, revision string) []byte {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if r, ok := rt.m[id]; ok && r.revision == revision {
		return r.members
	}
	return nil
}

func (rt *renderedTenants) put(id, revision string, members []byte) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.m == nil || len(rt.m) >= maxRendered {
		rt.m = map[string]renderedTenant{}
	}
	rt.m[id] = renderedTenant{revision: revision, members: members}
}

// writeDetail answers with the tenant d: its members rendered once a
// revision, its personal members opened with the keys read beside it.
func (h *tenantHandlers) writeDetail(w http.ResponseWriter, d projections.TenantDetail) {
	members := h.rendered.get(d.ID, d.Revision)
	if members == nil {
		v := viewOfDetail(d)
		v.tenantPersonal = nil
		doc, err := json.Marshal(v)
		if err != nil {
			writeError(w, h.logger, err)
			return
		}
		members = doc[:len(doc)-1]
		h.rendered.put(d.ID, d.Revision, members)
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
	body := make([]byte, 0, len(members)+len(personal)+2)
	body = append(append(append(body, members...), ','), personal[1:]...) // {"id":…, + "contact":…}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(body, '\n')) // the client went away; nothing to do
}

// personalOfDetail is d's personal members, in values of their own: they
// are opened in place, and d's may be shared.
func personalOfDetail(d projections.TenantDetail) *tenantPersonal {
	p := &tenantPersonal{Contact: d.Contact, Contacts: slices.Clone(d.Contacts)}
	if d.Address != nil {
		a := *d.Address
		p.Address = &a
	}
	return p
}
