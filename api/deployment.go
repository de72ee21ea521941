package api

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/tenantflow/tenantflow/app"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/platform/deployauth"
)

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
		var rep app.DeploymentReport
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
		md := app.Metadata{CorrelationID: metadata(r).CorrelationID, Actor: "appplane-agent"}
		err = app.ReportDeployment(r.Context(), h.app.Tenants, id, rep, md)
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
		writeJSON(w, http.StatusAccepted, map[string]any{"recorded": true})
	}
}
