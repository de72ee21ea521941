package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"
	"github.com/tenantflow/tenantflow/app"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/platform/auth"
	"github.com/tenantflow/tenantflow/platform/telemetry"
	"github.com/tenantflow/tenantflow/projections"
)

type tenantHandlers struct {
	app     *app.Service
	tiers   domain.Tiers
	list    ReadModels
	logger  *slog.Logger
	billing Invoicer
	// retention keeps a DELETEd live tenant, suspended, before its purge
	// (0: deprovisioned at once).
	retention time.Duration
	// personal opens a detail's personal fields with the keys read beside
	// it (nil: they stay sealed, and openPersonal, if any, opens them).
	personal Opener
}

func metadata(r *http.Request) app.Metadata {
	md := app.Metadata{CorrelationID: r.Header.Get("X-Correlation-ID")}
	md.TraceParent, md.TraceState = telemetry.Carrier(r.Context())
	if md.CorrelationID == "" || len(md.CorrelationID) > 100 {
		md.CorrelationID = uuid.NewString()
	}
	if c := claimsOf(r); c != nil {
		md.Actor = c.Who()
	}
	return md
}

func (h *tenantHandlers) create(w http.ResponseWriter, r *http.Request) {
	var req createTenantRequest
	if err := decode(w, r, &req); err != nil {
		writeError(w, h.logger, err)
		return
	}
	in, err := req.input()
	if err != nil {
		writeError(w, h.logger, err)
		return
	}
	t, err := h.app.CreateTenant(r.Context(), in, metadata(r))
	if err != nil {
		writeError(w, h.logger, err)
		return
	}
	w.Header().Set("Location", "/tenants/"+t.ID())
	writeJSON(w, http.StatusCreated, projections.ViewOf(t))
}

// tenantID reads {id}; anything but a UUID names no tenant.
func tenantID(r *http.Request) (string, bool) {
	id, err := uuid.Parse(mux.Vars(r)["id"])
	return id.String(), err == nil
}

// get serves GET /tenants/{id} from the tenant's document when the
// documents projection holds its whole stream, and from the stream's fold
// otherwise (a tenant whose flow is running has no document): a read right
// after a command always shows its effect, rendered alike either way.
func (h *tenantHandlers) get(w http.ResponseWriter, r *http.Request) {
	id, ok := tenantID(r)
	if !ok {
		writeError(w, h.logger, domain.ErrNotFound)
		return
	}
	if h.list != nil {
		d, err := h.list.Document(r.Context(), id)
		if err == nil && d.Version >= d.Head {
			h.writeDocument(w, id, d)
			return
		}
		if err != nil && !errors.Is(err, projections.ErrNotProjected) {
			h.logger.Warn("projections unreadable; answering from the log", "error", err)
		}
	}
	t, err := h.app.Tenants.Get(r.Context(), id)
	if err != nil {
		writeError(w, h.logger, err)
		return
	}
	writeJSON(w, http.StatusOK, projections.ViewOf(t))
}

// stats serves GET /stats/provisioning: per step, and per step and plan
// tier, the runs, failures and p50/p95 duration.
func (h *tenantHandlers) stats(w http.ResponseWriter, r *http.Request) {
	s, err := h.list.Stats(r.Context())
	if err != nil {
		writeError(w, h.logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"steps": s})
}

// lags serves GET /stats/projections: how far each projection is behind.
func (h *tenantHandlers) lags(w http.ResponseWriter, r *http.Request) {
	l, err := h.list.Lags(r.Context())
	if err != nil {
		writeError(w, h.logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"projections": l})
}

func (h *tenantHandlers) provision(w http.ResponseWriter, r *http.Request) {
	id, ok := tenantID(r)
	if !ok {
		writeError(w, h.logger, domain.ErrNotFound)
		return
	}
	var req provisionRequest
	if err := decode(w, r, &req); err != nil {
		writeError(w, h.logger, err)
		return
	}
	sub, err := h.app.SubscriptionPlan(r.Context(), req.subscription())
	if err != nil {
		writeError(w, h.logger, err)
		return
	}
	t, err := app.Provision(r.Context(), h.app.Tenants, id, sub, h.tiers, metadata(r))
	if err != nil {
		writeError(w, h.logger, err)
		return
	}
	w.Header().Set("Location", "/tenants/"+t.ID())
	answer := map[string]string{"id": t.ID(), "status": t.Status().String()}
	if o, ok := t.Offboarding(); ok {
		answer["purgeAt"] = o.PurgeAt.Format(time.RFC3339)
	}
	writeJSON(w, http.StatusAccepted, answer)
}

// listTenants serves GET /tenants?status=&keyPrefix=&cursor=&limit= from
// the tenant list projection, in key order. The list may lag the log by a
// moment; GET /tenants/{id} never does.
func (h *tenantHandlers) listTenants(w http.ResponseWriter, r *http.Request) {
	qs := r.URL.Query()
	q := projections.TenantQuery{KeyPrefix: qs.Get("keyPrefix"), Cursor: qs.Get("cursor")}
	bad := map[string]string{}
	if name := qs.Get("status"); name != "" {
		s, err := domain.ParseStatus(name)
		if err != nil {
			bad["status"] = "must be one of ACTIVE, PENDING_PROVISION, PROVISIONING, PROVISION_FAILED, DEPROVISIONING, INACTIVE, SUSPENDED"
		}
		q.Status = &s
	}
	if !keyPrefix.MatchString(q.KeyPrefix) {
		bad["keyPrefix"] = "must be up to 10 characters of a-z and 0-9"
	}
	q.Limit, bad = intParam(qs.Get("limit"), 50, 200, "limit", bad)
	if len(bad) > 0 {
		writeError(w, h.logger, &domain.ValidationError{Fields: bad})
		return
	}
	page, next, err := h.list.List(r.Context(), q)
	if next != "" {
		nq := url.Values{"cursor": {next}, "limit": {strconv.Itoa(q.Limit)}}
		for _, k := range []string{"status", "keyPrefix"} {
			if v := qs.Get(k); v != "" {
				nq.Set(k, v)
			}
		}
		next = "/tenants?" + nq.Encode()
	}
	writePage(w, h.logger, "tenants", page, next, err)
}

// writePage answers a list query: {name: page, next} (next omitted on the
// last page); a cursor the projection refuses is the client's 400.
func writePage(w http.ResponseWriter, logger *slog.Logger, name string, page any, next string, err error) {
	if errors.Is(err, projections.ErrBadCursor) {
		writeError(w, logger, &domain.ValidationError{Fields: map[string]string{"cursor": err.Error()}})
		return
	}
	if err != nil {
		writeError(w, logger, err)
		return
	}
	out := map[string]any{name: page}
	if next != "" {
		out["next"] = next
	}
	writeJSON(w, http.StatusOK, out)
}

var keyPrefix = regexp.MustCompile(`^[a-z0-9]{0,10}$`)

// intParam reads an optional positive integer query parameter up to max.
func intParam(raw string, def, max int, name string, bad map[string]string) (int, map[string]string) {
	if raw == "" {
		return def, bad
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > max {
		bad[name] = fmt.Sprintf("must be a whole number from 1 to %d", max)
	}
	return n, bad
}

// eventView is one event of a tenant's history.
type eventView struct {
	ID            string          `json:"id"`
	Version       int64           `json:"version"`
	Type          string          `json:"type"`
	SchemaVersion int             `json:"schemaVersion"`
	RecordedAt    time.Time       `json:"recordedAt"`
	Data          json.RawMessage `json:"data"`
	Metadata      app.Metadata    `json:"metadata"`
}

// events serves GET /tenants/{id}/events?after=&limit=: the tenant's
// stream in version order, read from the log itself.
func (h *tenantHandlers) events(w http.ResponseWriter, r *http.Request) {
	id, ok := tenantID(r)
	if !ok {
		writeError(w, h.logger, domain.ErrNotFound)
		return
	}
	qs := r.URL.Query()
	bad := map[string]string{}
	after := 0
	if raw := qs.Get("after"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 0 {
			bad["after"] = "must be a stream version (0 or more)"
		}
		after = n
	}
	limit, bad := intParam(qs.Get("limit"), 100, 500, "limit", bad)
	if len(bad) > 0 {
		writeError(w, h.logger, &domain.ValidationError{Fields: bad})
		return
	}
	stored, err := h.app.History(r.Context(), id, int64(after)+1)
	if err != nil {
		writeError(w, h.logger, err)
		return
	}
	if len(stored) == 0 && after == 0 {
		writeError(w, h.logger, domain.ErrNotFound)
		return
	}
	page := []eventView{}
	for _, e := range stored[:min(limit, len(stored))] {
		page = append(page, eventView{ID: e.ID, Version: e.Version, Type: e.Type, SchemaVersion: e.SchemaVersion,
			RecordedAt: e.RecordedAt, Data: e.Data, Metadata: e.Metadata})
	}
	out := map[string]any{"events": page}
	if len(stored) > limit {
		out["next"] = fmt.Sprintf("/tenants/%s/events?after=%d&limit=%d", id, page[len(page)-1].Version, limit)
	}
	writeJSON(w, http.StatusOK, out)
}

// cancel is POST /tenants/{id}/provision/cancel: the running attempt stops
// at its next step and is compensated.
func (h *tenantHandlers) cancel(w http.ResponseWriter, r *http.Request) {
	h.command(w, r, func(id string) (*domain.Tenant, error) {
		return app.Cancel(r.Context(), h.app.Tenants, id, metadata(r))
	})
}

// deprovision is DELETE /tenants/{id}: everything the steps made is undone,
// in reverse order, and the tenant ends INACTIVE (keeping its key).
func (h *tenantHandlers) deprovision(w http.ResponseWriter, r *http.Request) {
	h.command(w, r, func(id string) (*domain.Tenant, error) {
		return app.Offboard(r.Context(), h.app.Tenants, id, "requested by "+metadata(r).Actor, h.retention, metadata(r))
	})
}

// restore is POST /tenants/{id}/restore {reason?} (10206, as DELETE): a
// tenant kept for its retention period after a DELETE comes back; one the
// offboarding suspended is reactivated. Nobody deleted it → 409; the purge
// has begun → 409.
func (h *tenantHandlers) restore(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Reason string `json:"reason"`
	}
	if err := decode(w, r, &req); err != nil {
		writeError(w, h.logger, err)
		return
	}
	h.command(w, r, func(id string) (*domain.Tenant, error) {
		return app.Restore(r.Context(), h.app.Tenants, id, strings.TrimSpace(req.Reason), metadata(r))
	})
}

// command runs a body-less tenant command and answers 202 with the status.
func (h *tenantHandlers) command(w http.ResponseWriter, r *http.Request, run func(id string) (*domain.Tenant, error)) {
	id, ok := tenantID(r)
	if !ok {
		writeError(w, h.logger, domain.ErrNotFound)
		return
	}
	t, err := run(id)
	if err != nil {
		writeError(w, h.logger, err)
		return
	}
	w.Header().Set("Location", "/tenants/"+t.ID())
	answer := map[string]string{"id": t.ID(), "status": t.Status().String()}
	if o, ok := t.Offboarding(); ok {
		answer["purgeAt"] = o.PurgeAt.Format(time.RFC3339)
	}
	writeJSON(w, http.StatusAccepted, answer)
}

// update is PATCH /tenants/{id} (10205): name, contacts (several, exactly
// one primary) and domains; absent fields stay. A domain change of an
// ACTIVE tenant is followed by the steps that depend on it (the realm
// client's redirects, DNS), recorded as tenant.domains.reconciled. The
// decision is made again on a concurrent change (handlers append while a
// tenant is provisioned), a few times, so an operator's edit does not fail
// for a race it did not cause.
func (h *tenantHandlers) update(w http.ResponseWriter, r *http.Request) {
	id, ok := tenantID(r)
	if !ok {
		writeError(w, h.logger, domain.ErrNotFound)
		return
	}
	var in domain.TenantUpdate
	if err := decode(w, r, &in); err != nil {
		writeError(w, h.logger, err)
		return
	}
	if !claimsOf(r).Has(auth.UpdateTenant) && (in.Name != nil || in.Domains != nil) {
		// Admitted as the tenant's own administrator (requireOrAdminOf):
		// the people to contact are theirs to keep; name and domains are
		// the operator's.
		writeProblem(w, problem{Status: http.StatusForbidden, Detail: "a tenant administrator may change the tenant's contacts only; name and domains need permission " + auth.UpdateTenant})
		return
	}
	t, err := h.app.Tenants.UpdateRetried(r.Context(), id, metadata(r), func(t *domain.Tenant) ([]domain.Event, error) {
		if in.Domains != nil {
			if err := domain.CheckPlatformZone("domains", *in.Domains, t.Key(), h.app.Zone); err != nil {
				return nil, err
			}
		}
		return t.Update(in, time.Now())
	})
	if errors.Is(err, domain.ErrNotUpdatable) {
		writeProblem(w, problem{Status: http.StatusConflict, Title: "Not allowed in this status", Detail: err.Error()})
		return
	}
	if err != nil {
		writeError(w, h.logger, err)
		return
	}
	writeJSON(w, http.StatusOK, projections.ViewOf(t))
}

// change is POST /tenants/{id}/suspend and /reactivate {reason} (10242):
// 202 once the change is recorded; its steps follow (GET
// /tenants/{id}/change shows them), and the status moves when they are
// done.
func (h *tenantHandlers) change(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, ok := tenantID(r)
		if !ok {
			writeError(w, h.logger, domain.ErrNotFound)
			return
		}
		var req struct {
			Reason string `json:"reason"`
		}
		if err := decode(w, r, &req); err != nil {
			writeError(w, h.logger, err)
			return
		}
		t, err := app.RequestChange(r.Context(), h.app.Tenants, id, kind, req.Reason, domain.SourceOperator, metadata(r))
		if err != nil {
			writeError(w, h.logger, err)
			return
		}
		changeAccepted(w, t, "/tenants/"+id)
	}
}

// changeAccepted answers a change's request: 202 {id, status, change,
// round}, its Location at location.
func changeAccepted(w http.ResponseWriter, t *domain.Tenant, location string) {
	v, _ := t.LastChange()
	w.Header().Set("Location", location)
	writeJSON(w, http.StatusAccepted, map[string]any{"id": t.ID(), "status": t.Status().String(), "change": v.Change, "round": v.Round})
}

// lastChange is GET /tenants/{id}/change: the latest suspension or
// reactivation with its steps, read from the tenant's stream; 404 when the
// tenant never changed.
func (h *tenantHandlers) lastChange(w http.ResponseWriter, r *http.Request) {
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
	c, ok := t.LastChange()
	if !ok {
		writeError(w, h.logger, domain.ErrNotFound)
		return
	}
	writeJSON(w, http.StatusOK, c)
}
