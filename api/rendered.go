package api

import (
	"encoding/json"
	"net/http"

	"github.com/tenantflow/tenantflow/projections"
)

// writeDocument answers with a tenant's document (projections.Documents):
// its members as rendered when the projection applied the stream, its
// personal members opened with the keys read beside it and rendered per
// request, at the end of the object. Nothing opened is kept.
func (h *tenantHandlers) writeDocument(w http.ResponseWriter, id string, d projections.Document) {
	p := &d.Personal
	if h.personal != nil {
		if err := h.personal.OpenFieldsWith(d.Keys, p.Fields()...); err != nil {
			h.logger.Error("personal data could not be opened", "tenant", id, "error", err)
			unopenable(w)
			return
		}
	}
	personal, err := json.Marshal(p)
	if err != nil {
		writeError(w, h.logger, err)
		return
	}
	body := make([]byte, 0, len(d.Members)+len(personal)+2)
	body = append(append(append(body, d.Members...), ','), personal[1:]...) // {"id":…, + "contact":…}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(body, '\n')) // the client went away; nothing to do
}
