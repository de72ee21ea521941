package api

import (
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gorilla/mux"
	"github.com/tenantflow/tenantflow/app"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/projections"
)

// planHandlers serve the plan catalogue (ARC's plans: 7005 create, 7006
// update, 7007 archive, 7008 view). A plan is archived, never deleted.
type planHandlers struct {
	app    *app.Service
	tiers  domain.Tiers
	read   ReadModels
	logger *slog.Logger
}

func planView(c *domain.CatalogPlan) projections.PlanView {
	return projections.PlanView{Plan: c.Plan(), Archived: c.Archived(), Version: c.Version(), CreatedAt: c.CreatedAt(), UpdatedAt: c.UpdatedAt()}
}

// create is POST /plans: ARC's plan body (its bookkeeping fields accepted,
// not recorded); without an id the plan gets a UUID.
func (h *planHandlers) create(w http.ResponseWriter, r *http.Request) {
	var req planRequest
	if err := decode(w, r, &req); err != nil {
		writeError(w, h.logger, err)
		return
	}
	c, err := h.app.CreatePlan(r.Context(), req.Plan, h.tiers, metadata(r))
	if err != nil {
		writeError(w, h.logger, err)
		return
	}
	w.Header().Set("Location", "/plans/"+c.Plan().ID)
	writeJSON(w, http.StatusCreated, planView(c))
}

// get is GET /plans/{id}, folded from the plan's stream.
func (h *planHandlers) get(w http.ResponseWriter, r *http.Request) {
	c, err := h.app.Plans.Get(r.Context(), mux.Vars(r)["id"])
	if err != nil {
		writeError(w, h.logger, err)
		return
	}
	writeJSON(w, http.StatusOK, planView(c))
}

// list is GET /plans?tier=&archived=&limit=&cursor=: the catalogue in id
// order from its projection; archived plans only with archived=true.
func (h *planHandlers) list(w http.ResponseWriter, r *http.Request) {
	qs := r.URL.Query()
	bad := map[string]string{}
	for name, values := range qs {
		if len(values) > 1 {
			bad[name] = "must be given once"
		}
	}
	if qs.Has("limit") && qs.Get("limit") == "" {
		bad["limit"] = "must be a number"
	}
	limit, bad := intParam(qs.Get("limit"), 100, 500, "limit", bad)
	if tier := qs.Get("tier"); len(tier) > 100 || !utf8.ValidString(tier) || strings.ContainsAny(tier, "\x00\r\n") {
		bad["tier"] = "must be a tier name: one line of at most 100 characters"
	}
	archived := qs.Get("archived")
	if qs.Has("archived") && archived != "true" && archived != "false" {
		bad["archived"] = "must be true or false"
	}
	if len(bad) > 0 {
		writeError(w, h.logger, &domain.ValidationError{Fields: bad})
		return
	}
	if h.read == nil {
		writeProblem(w, problem{Status: http.StatusServiceUnavailable, Detail: "this process serves no projections"})
		return
	}
	page, next, err := h.read.Plans(r.Context(), projections.PlanQuery{Tier: qs.Get("tier"), IncludeArchived: archived == "true",
		Cursor: qs.Get("cursor"), Limit: limit})
	writePage(w, h.logger, "plans", page, next, err)
}

// update is PATCH /plans/{id}: new terms, or archived true/false.
func (h *planHandlers) update(w http.ResponseWriter, r *http.Request) {
	var in domain.PlanUpdate
	if err := decode(w, r, &in); err != nil {
		writeError(w, h.logger, err)
		return
	}
	c, err := h.app.UpdatePlan(r.Context(), mux.Vars(r)["id"], in, h.tiers, metadata(r))
	if err != nil {
		writeError(w, h.logger, err)
		return
	}
	writeJSON(w, http.StatusOK, planView(c))
}

// archive is DELETE /plans/{id} (ARC's route): the plan is archived, not
// deleted — tenants subscribed to it keep it. 204, also when it was
// archived already.
func (h *planHandlers) archive(w http.ResponseWriter, r *http.Request) {
	archived := true
	if _, err := h.app.UpdatePlan(r.Context(), mux.Vars(r)["id"], domain.PlanUpdate{Archived: &archived}, h.tiers, metadata(r)); err != nil {
		writeError(w, h.logger, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// subscriptionView is GET /tenants/{id}/subscription's answer: the
// subscription of the latest provisioning attempt and every one before it.
type subscriptionView struct {
	Current *domain.Subscription  `json:"current,omitempty"`
	History []subscriptionHistory `json:"history"`
}

type subscriptionHistory struct {
	Attempt      int                 `json:"attempt"`
	RequestedAt  time.Time           `json:"requestedAt"`
	Subscription domain.Subscription `json:"subscription"`
	// PlanChange is the round of the plan change that made this entry (0:
	// a provisioning request's).
	PlanChange int `json:"planChange,omitempty"`
}

// subscription is GET /tenants/{id}/subscription (7004, or the tenant's
// own administrator), read from the tenant's stream: every provisioning
// request's subscription and every completed plan change's, oldest first.
func (h *tenantHandlers) subscription(w http.ResponseWriter, r *http.Request) {
	id, ok := tenantID(r)
	if !ok {
		writeError(w, h.logger, domain.ErrNotFound)
		return
	}
	stored, err := h.app.History(r.Context(), id, 1)
	if err == nil && len(stored) == 0 {
		err = domain.ErrNotFound
	}
	if err != nil {
		writeError(w, h.logger, err)
		return
	}
	out := subscriptionView{History: []subscriptionHistory{}}
	planChanges := map[int]domain.Plan{} // by round, until completed
	for _, e := range stored {
		if e.Type != domain.TypeProvisioningRequested && e.Type != domain.TypeChangeRequested && e.Type != domain.TypeChangeCompleted {
			continue
		}
		de, err := domain.DecodeVersion(e.Type, e.SchemaVersion, e.Data)
		if err != nil {
			writeError(w, h.logger, err)
			return
		}
		switch v := de.(type) {
		case *domain.ProvisioningRequested:
			out.History = append(out.History, subscriptionHistory{Attempt: v.Attempt, RequestedAt: e.RecordedAt.UTC(), Subscription: v.Subscription})
		case *domain.ChangeRequested:
			if v.Plan != nil {
				planChanges[v.Round] = *v.Plan
			}
		case *domain.ChangeCompleted:
			// A completed plan change: the subscription from then on.
			if p, ok := planChanges[v.Round]; ok && len(out.History) > 0 {
				last := out.History[len(out.History)-1]
				last.Subscription.Plan, last.Subscription.PlanID = p, p.ID
				last.RequestedAt, last.PlanChange = e.RecordedAt.UTC(), v.Round
				out.History = append(out.History, last)
			}
		}
	}
	if n := len(out.History); n > 0 {
		out.Current = &out.History[n-1].Subscription
	}
	writeJSON(w, http.StatusOK, out)
}

// changePlan is POST /tenants/{id}/plan {planId | plan, reason?} (7002,
// ARC's UpdateSubscription): a change of the ACTIVE tenant's plan within
// its tier — billing, then the infrastructure and the application plane
// with the new plan's sizes, each undone if a later one fails (GET
// /tenants/{id}/change follows it). 202 once recorded; another tier's plan
// → 409; the plan the tenant is on → 409; an unknown plan id → 400; an
// archived plan → 409.
func (h *tenantHandlers) changePlan(w http.ResponseWriter, r *http.Request) {
	id, ok := tenantID(r)
	if !ok {
		writeError(w, h.logger, domain.ErrNotFound)
		return
	}
	var req struct {
		PlanID string       `json:"planId"`
		Plan   *planRequest `json:"plan"`
		Reason string       `json:"reason"`
	}
	if err := decode(w, r, &req); err != nil {
		writeError(w, h.logger, err)
		return
	}
	var plan *domain.Plan
	if req.Plan != nil {
		plan = &req.Plan.Plan
	}
	t, err := h.app.ChangePlan(r.Context(), id, req.PlanID, plan, h.tiers, strings.TrimSpace(req.Reason), metadata(r))
	if err != nil {
		writeError(w, h.logger, err)
		return
	}
	changeAccepted(w, t, "/tenants/"+id+"/change")
}
