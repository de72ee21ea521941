package api

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/tenantflow/tenantflow/adapters/postgres"
	"github.com/tenantflow/tenantflow/app"
	"github.com/tenantflow/tenantflow/domain"
)

// retryAfterSeconds is the Retry-After of a 503: PostgreSQL restarts and
// migrations take seconds.
const retryAfterSeconds = "5"

// problem is an RFC 9457 problem document (application/problem+json).
type problem struct {
	Type           string            `json:"type"`
	Title          string            `json:"title"`
	Status         int               `json:"status"`
	Detail         string            `json:"detail,omitempty"`
	Errors         map[string]string `json:"errors,omitempty"`
	CurrentVersion *int64            `json:"currentVersion,omitempty"`
	TenantID       string            `json:"tenantId,omitempty"`
}

func writeProblem(w http.ResponseWriter, p problem) {
	if p.Type == "" {
		p.Type = "about:blank"
	}
	if p.Title == "" {
		p.Title = http.StatusText(p.Status)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// errRequest is a client mistake found while reading the request.
type errRequest struct {
	status     int
	detail     string
	retryAfter string // seconds, for a 429 or 503
}

func (e *errRequest) Error() string { return e.detail }

// writeError maps an error onto its HTTP answer. It is the one place where
// errors become status codes; anything unknown is a 500, logged, with no
// detail given to the client.
func writeError(w http.ResponseWriter, logger *slog.Logger, err error) {
	var (
		req  *errRequest
		ve   *domain.ValidationError
		ce   *app.ConcurrencyError
		te   *domain.TransitionError
		kt   *domain.KeyTakenError
		lead *domain.LeadHasTenantError
		big  *app.EventTooLargeError
	)
	var planExists *app.PlanExistsError
	switch {
	case errors.As(err, &planExists):
		writeProblem(w, problem{Status: http.StatusConflict, Title: "Plan exists", Detail: planExists.Error()})
	case errors.Is(err, domain.ErrPlanArchived), errors.Is(err, domain.ErrPlanTierChange), errors.Is(err, domain.ErrNotBilled),
		errors.Is(err, domain.ErrChangeRunning), errors.Is(err, domain.ErrNotOffboarding), errors.Is(err, domain.ErrTierChange),
		errors.Is(err, domain.ErrSamePlan), errors.Is(err, domain.ErrActivationSettling):
		writeProblem(w, problem{Status: http.StatusConflict, Title: "Conflict", Detail: err.Error()})
	case errors.As(err, &req):
		if req.retryAfter != "" {
			w.Header().Set("Retry-After", req.retryAfter)
		}
		writeProblem(w, problem{Status: req.status, Detail: req.detail})
	case errors.As(err, &ve):
		writeProblem(w, problem{Status: http.StatusBadRequest, Title: "Invalid request", Detail: "one or more fields are invalid", Errors: ve.Fields})
	case errors.As(err, &big):
		writeProblem(w, problem{Status: http.StatusRequestEntityTooLarge, Title: "Event too large",
			Detail: big.Error() + " bytes (TENANTFLOW_MAX_EVENT_BYTES); nothing was stored: shorten the request's free-form fields"})
	case errors.As(err, &ce):
		v := ce.Actual
		writeProblem(w, problem{Status: http.StatusConflict, Title: "Concurrent change", Detail: "the resource changed meanwhile; reload and retry", CurrentVersion: &v})
	case errors.As(err, &te):
		writeProblem(w, problem{Status: http.StatusConflict, Title: "Not allowed in this status", Detail: te.Error()})
	case errors.As(err, &kt):
		writeProblem(w, problem{Status: http.StatusConflict, Title: "Key taken", Detail: kt.Error(), TenantID: kt.TenantID})
	case errors.As(err, &lead):
		writeProblem(w, problem{Status: http.StatusConflict, Title: "Lead has a tenant", Detail: lead.Error(), TenantID: lead.TenantID})
	case errors.Is(err, domain.ErrNoFailedUndo), errors.Is(err, domain.ErrNotYourTurn):
		writeProblem(w, problem{Status: http.StatusConflict, Title: "Nothing to do now", Detail: err.Error()})
	case errors.Is(err, domain.ErrUndoRunning):
		writeProblem(w, problem{Status: http.StatusConflict, Title: "Undos running", Detail: err.Error()})
	case errors.Is(err, domain.ErrLeadNotVerified):
		writeProblem(w, problem{Status: http.StatusConflict, Title: "Lead not verified", Detail: err.Error()})
	case errors.Is(err, domain.ErrTokenInvalid):
		writeProblem(w, problem{Status: http.StatusUnauthorized, Detail: err.Error()})
	case errors.Is(err, domain.ErrNotFound):
		writeProblem(w, problem{Status: http.StatusNotFound, Detail: "no such resource"})
	case postgres.Unavailable(err):
		// Not the client's mistake and not a bug: the event log cannot be
		// read or written right now (PostgreSQL down or restarting, or this
		// database not migrated yet). Nothing was stored; try again.
		logger.Warn("event log unavailable; answering 503", "error", err)
		w.Header().Set("Retry-After", retryAfterSeconds)
		writeProblem(w, problem{Status: http.StatusServiceUnavailable, Title: "Service unavailable",
			Detail: "the event log cannot be reached right now; nothing was changed: try again in a few seconds"})
	default:
		logger.Error("request failed", "error", err)
		writeProblem(w, problem{Status: http.StatusInternalServerError, Detail: "internal error; see the server log"})
	}
}
