package api

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/internal/deployauth"
	"github.com/tenantflow/tenantflow/internal/repo"
)

// deploymentReport is what the application plane's agent sends.
type deploymentReport struct {
	Attempt  int    `json:"attempt"`
	Round    int    `json:"round,omitempty"` // of a removal: the undo request's round
	Status   string `json:"status"`          // deployed or failed; removed or remove_failed
	Endpoint string `json:"endpoint,omitempty"`
	Error    string `json:"error,omitempty"`
}

// deploymentReport is POST /tenants/{id}/deployment. The signature is the
// authentication: HMAC-SHA256 with the attempt's secret over timestamp and
// body (deployauth). A valid report nobody waits for (replayed, or after the
// deadline failed the step) changes nothing: 200 {"recorded": false}.
func (h *tenantHandlers) deploymentReport(signingKey []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if signingKey == nil {
			writeProblem(w, problem{Status: http.StatusServiceUnavailable, Detail: "deployments are not configured (TENANTFLOW_DEPLOY_SIGNING_KEY)"})
			return
		}
		id, ok := tenantID(r)
		if !ok {
			writeError(w, h.logger, domain.ErrNotFound)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			writeProblem(w, problem{Status: http.StatusRequestEntityTooLarge, Detail: "the body is too large"})
			return
		}
		var rep deploymentReport
		r.Body = io.NopCloser(bytes.NewReader(body))
		if err := decode(w, r, &rep); err != nil {
			writeError(w, h.logger, err)
			return
		}
		if !slices.Contains([]string{"deployed", "failed", "removed", "remove_failed"}, rep.Status) {
			writeError(w, h.logger, &domain.ValidationError{Fields: map[string]string{"status": "must be deployed, failed, removed or remove_failed"}})
			return
		}
		secret := deployauth.Secret(signingKey, id, rep.Attempt)
		if err := deployauth.Verify(secret, r.Header.Get(deployauth.HeaderTimestamp), r.Header.Get(deployauth.HeaderSignature), body, time.Now()); err != nil {
			h.logger.Warn("deployment report refused", "tenant_id", id, "reason", err.Error())
			writeProblem(w, problem{Status: http.StatusUnauthorized, Detail: "the report's signature or timestamp is not valid"})
			return
		}
		t, err := h.tenants.Get(r.Context(), id)
		if err != nil {
			writeError(w, h.logger, err)
			return
		}
		events, key, err := decideReport(t, rep, time.Now().UTC())
		if errors.Is(err, domain.ErrNoDeploymentPending) {
			h.logger.Warn("deployment report ignored: nothing waits for it (replayed, or after the deadline)", "tenant_id", id, "attempt", rep.Attempt, "status", rep.Status)
			writeJSON(w, http.StatusOK, map[string]any{"recorded": false, "reason": err.Error()})
			return
		}
		if err != nil {
			writeError(w, h.logger, err)
			return
		}
		if rep.Status == "remove_failed" {
			h.logger.Error("undo failed: resource left behind", "tenant_id", id, "step", domain.StepDeploy, "error", rep.Error)
		}
		md := eventstore.Metadata{CorrelationID: metadata(r).CorrelationID, Actor: "appplane-agent"}
		err = h.tenants.AppendAt(r.Context(), id, t.Version()-int64(len(events)), md, events, repo.IDs(key, len(events)))
		var ce *eventstore.ConcurrencyError
		if errors.As(err, &ce) || errors.Is(err, eventstore.ErrEventConflict) {
			writeJSON(w, http.StatusOK, map[string]any{"recorded": false, "reason": "another outcome was recorded meanwhile"})
			return
		}
		if err != nil {
			writeError(w, h.logger, err)
			return
		}
		writeJSON(w, http.StatusAccepted, map[string]any{"recorded": true})
	}
}

// decideReport turns a report into the deploy step's outcome (deployed,
// failed) or its undo's (removed, remove_failed), with the id key both the
// report and the deadline watcher derive.
func decideReport(t *domain.Tenant, rep deploymentReport, now time.Time) ([]domain.Event, string, error) {
	outcome := domain.StepOutcome{Tries: 1, At: now}
	switch rep.Status {
	case "removed", "remove_failed":
		req, made := t.DeploymentUndoRequest()
		if !made {
			return nil, "", domain.ErrNoDeploymentPending
		}
		outcome.StartedAt, outcome.Outcome = req.RequestedAt, domain.OutcomeCompensated
		if rep.Status == "remove_failed" {
			outcome.Outcome, outcome.Error = domain.OutcomeCompensationFailed, "the application plane reported: "+rep.Error
		}
		events, err := t.ReportDeploymentUndo(rep.Attempt, rep.Round, outcome)
		return events, t.UndoKey(domain.StepDeploy), err
	}
	if req, made := t.DeploymentRequest(); made {
		outcome.StartedAt = req.RequestedAt
	}
	outcome.Outcome = domain.OutcomeCompleted
	if rep.Status == "failed" {
		outcome.Outcome, outcome.Error = domain.OutcomeFailed, "the application plane reported: "+rep.Error
	} else if rep.Endpoint != "" {
		outcome.Outputs = map[string]string{"endpoint": rep.Endpoint}
	}
	events, err := t.ReportDeployment(rep.Attempt, outcome)
	return events, domain.StepKey(t.ID(), rep.Attempt, domain.StepDeploy), err
}
