package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/gorilla/mux"
	"github.com/tenantflow/tenantflow/app"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/projections"
)

// configHandlers serve a tenant's configuration (10220 create, 10221 view,
// 10222 update, 10223 delete): commands append to the tenant's
// configuration stream, reads come from the projection (or the stream when
// the projection has not caught up, so a read after a write shows it).
type configHandlers struct {
	tenants app.Repository[*domain.Tenant]
	configs app.Repository[*domain.TenantConfig]
	read    ReadModels
	h       *tenantHandlers
}

type configBody struct {
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value"`
}

// create is POST /tenants/{id}/config {key, value}: 201, or 409 when the key
// has a value.
func (c *configHandlers) create(w http.ResponseWriter, r *http.Request) {
	var in configBody
	if err := decode(w, r, &in); err != nil {
		writeError(w, c.h.logger, err)
		return
	}
	c.set(w, r, in.Key, in.Value, true)
}

// update is PUT /tenants/{id}/config/{key} {value}: 200, or 404 when the
// key has none.
func (c *configHandlers) update(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Value json.RawMessage `json:"value"`
	}
	if err := decode(w, r, &in); err != nil {
		writeError(w, c.h.logger, err)
		return
	}
	c.set(w, r, mux.Vars(r)["key"], in.Value, false)
}

func (c *configHandlers) set(w http.ResponseWriter, r *http.Request, key string, value json.RawMessage, create bool) {
	id, ok := c.tenant(w, r)
	if !ok {
		return
	}
	var entry domain.ConfigEntry
	_, err := c.configs.Update(r.Context(), id, metadata(r), func(cfg *domain.TenantConfig) ([]domain.Event, error) {
		events, err := cfg.Set(id, key, value, create, time.Now())
		entry, _ = cfg.Get(key)
		return events, err
	})
	if errors.Is(err, domain.ErrConfigExists) {
		writeProblem(w, problem{Status: http.StatusConflict, Title: "Key exists", Detail: err.Error()})
		return
	}
	if err != nil {
		writeError(w, c.h.logger, err)
		return
	}
	status := http.StatusOK
	if create {
		w.Header().Set("Location", "/tenants/"+id+"/config/"+key)
		status = http.StatusCreated
	}
	writeJSON(w, status, entry)
}

// remove is DELETE /tenants/{id}/config/{key}: 204, or 404.
func (c *configHandlers) remove(w http.ResponseWriter, r *http.Request) {
	id, ok := c.tenant(w, r)
	if !ok {
		return
	}
	key := mux.Vars(r)["key"]
	_, err := c.configs.Update(r.Context(), id, metadata(r), func(cfg *domain.TenantConfig) ([]domain.Event, error) {
		return cfg.Delete(id, key, time.Now())
	})
	if err != nil {
		writeError(w, c.h.logger, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// list is GET /tenants/{id}/config: {"items": [...]} by key.
func (c *configHandlers) list(w http.ResponseWriter, r *http.Request) {
	if entries, ok := c.entries(w, r, ""); ok {
		writeJSON(w, http.StatusOK, map[string]any{"items": entries})
	}
}

// get is GET /tenants/{id}/config/{key}.
func (c *configHandlers) get(w http.ResponseWriter, r *http.Request) {
	entries, ok := c.entries(w, r, mux.Vars(r)["key"])
	if !ok {
		return
	}
	if len(entries) == 0 {
		writeError(w, c.h.logger, domain.ErrNotFound)
		return
	}
	writeJSON(w, http.StatusOK, entries[0])
}

// entries reads the projection, or folds the stream when it lags.
func (c *configHandlers) entries(w http.ResponseWriter, r *http.Request, key string) ([]domain.ConfigEntry, bool) {
	id, ok := c.tenant(w, r)
	if !ok {
		return nil, false
	}
	if c.read != nil {
		projected, err := c.read.Config(r.Context(), id, key)
		if err == nil && projected.Applied >= projected.Head {
			return projected.Entries, true
		}
		if err != nil && !errors.Is(err, projections.ErrNotProjected) {
			c.h.logger.Warn("projections unreadable; answering from the log", "error", err)
		}
	}
	cfg, err := c.configs.Get(r.Context(), id)
	if err != nil {
		writeError(w, c.h.logger, err)
		return nil, false
	}
	if key == "" {
		return cfg.Entries(), true
	}
	if e, ok := cfg.Get(key); ok {
		return []domain.ConfigEntry{e}, true
	}
	return []domain.ConfigEntry{}, true
}

// tenant reads {id} and checks the tenant exists (its stream's version, not
// a fold of its history): 404 otherwise.
func (c *configHandlers) tenant(w http.ResponseWriter, r *http.Request) (string, bool) {
	id, ok := tenantID(r)
	if !ok {
		writeError(w, c.h.logger, domain.ErrNotFound)
		return "", false
	}
	exists, err := c.tenants.Exists(r.Context(), id)
	if err == nil && !exists {
		err = domain.ErrNotFound
	}
	if err != nil {
		writeError(w, c.h.logger, err)
		return "", false
	}
	return id, true
}
