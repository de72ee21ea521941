package api

import (
	"log/slog"
	"net/http"

	"github.com/google/uuid"
	"github.com/gorilla/mux"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/internal/auth"
	"github.com/tenantflow/tenantflow/internal/repo"
)

// Tenants mounts the tenant commands and queries on the router. Reads fold
// the tenant's own stream, so a read right after a command shows its effect.
func (rt *Router) Tenants(store repo.Store, verifier Verifier, logger *slog.Logger) {
	rt.verifier, rt.logger = verifier, logger
	h := &tenantHandlers{store: store, tenants: repo.Tenants(store), logger: logger}
	rt.mux.HandleFunc("/tenants", rt.require(auth.CreateTenant, h.create)).Methods(http.MethodPost)
	rt.mux.HandleFunc("/tenants/{id}", rt.require(auth.ViewTenant, h.get)).Methods(http.MethodGet)
	rt.mux.HandleFunc("/tenants/{id}/provision", rt.require(auth.ProvisionTenant, h.provision)).Methods(http.MethodPost)
}

type tenantHandlers struct {
	store   repo.Store
	tenants repo.Repository[*domain.Tenant]
	logger  *slog.Logger
}

// tenantView is a tenant as the API shows it.
type tenantView struct {
	ID         string         `json:"id"`
	Key        string         `json:"key"`
	Name       string         `json:"name"`
	Status     string         `json:"status"`
	StatusCode int            `json:"statusCode"`
	Contact    domain.Contact `json:"contact"`
	Domains    []string       `json:"domains"`
	Plan       *domain.Plan   `json:"plan,omitempty"`
	Attempt    int            `json:"attempt"`
	LastError  string         `json:"lastError,omitempty"`
	Version    int64          `json:"version"`
}

func viewOf(t *domain.Tenant) tenantView {
	v := tenantView{ID: t.ID(), Key: t.Key(), Name: t.Name(), Status: t.Status().String(), StatusCode: int(t.Status()),
		Contact: t.Contact(), Domains: t.Domains(), Attempt: t.Attempt(), LastError: t.LastFailure(), Version: t.Version()}
	if sub, ok := t.Subscription(); ok {
		v.Plan = &sub.Plan
	}
	if v.Domains == nil {
		v.Domains = []string{}
	}
	return v
}

func metadata(r *http.Request) eventstore.Metadata {
	md := eventstore.Metadata{CorrelationID: r.Header.Get("X-Correlation-ID")}
	if md.CorrelationID == "" || len(md.CorrelationID) > 100 {
		md.CorrelationID = uuid.NewString()
	}
	if c := claimsOf(r); c != nil {
		md.Actor = c.Subject
	}
	return md
}

func (h *tenantHandlers) create(w http.ResponseWriter, r *http.Request) {
	var in domain.TenantInput
	if err := decode(w, r, &in); err != nil {
		writeError(w, h.logger, err)
		return
	}
	t, events, err := domain.NewTenant(uuid.NewString(), "", in)
	if err != nil {
		writeError(w, h.logger, err)
		return
	}
	if err := repo.CreateTenant(r.Context(), h.store, t, metadata(r), events); err != nil {
		writeError(w, h.logger, err)
		return
	}
	w.Header().Set("Location", "/tenants/"+t.ID())
	writeJSON(w, http.StatusCreated, viewOf(t))
}

// tenantID reads {id}; anything but a UUID names no tenant.
func tenantID(r *http.Request) (string, bool) {
	id, err := uuid.Parse(mux.Vars(r)["id"])
	return id.String(), err == nil
}

func (h *tenantHandlers) get(w http.ResponseWriter, r *http.Request) {
	id, ok := tenantID(r)
	if !ok {
		writeError(w, h.logger, domain.ErrNotFound)
		return
	}
	t, err := h.tenants.Get(r.Context(), id)
	if err != nil {
		writeError(w, h.logger, err)
		return
	}
	writeJSON(w, http.StatusOK, viewOf(t))
}

func (h *tenantHandlers) provision(w http.ResponseWriter, r *http.Request) {
	id, ok := tenantID(r)
	if !ok {
		writeError(w, h.logger, domain.ErrNotFound)
		return
	}
	var sub domain.Subscription
	if err := decode(w, r, &sub); err != nil {
		writeError(w, h.logger, err)
		return
	}
	t, err := h.tenants.Update(r.Context(), id, metadata(r), func(t *domain.Tenant) ([]domain.Event, error) {
		return t.RequestProvisioning(sub)
	})
	if err != nil {
		writeError(w, h.logger, err)
		return
	}
	w.Header().Set("Location", "/tenants/"+t.ID())
	writeJSON(w, http.StatusAccepted, map[string]string{"id": t.ID(), "status": t.Status().String()})
}
