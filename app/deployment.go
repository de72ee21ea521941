package app

import (
	"context"
	"time"

	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
)

// DeploymentReport is what the application plane's agent reports on a
// tenant's deployment (deployed, failed) or its removal (removed,
// remove_failed), for an attempt and, for a removal, an undo round.
type DeploymentReport struct {
	Attempt  int    `json:"attempt"`
	Round    int    `json:"round,omitempty"` // of a removal: the undo request's round
	Status   string `json:"status"`          // deployed or failed; removed or remove_failed
	Endpoint string `json:"endpoint,omitempty"`
	Error    string `json:"error,omitempty"`
}

// ReportDeployment records a report as the deploy step's outcome, or its
// undo's. It returns domain.ErrNoDeploymentPending when nothing waits for
// the report: replayed, late (the deadline watcher recorded the step's
// failure first), or another report was recorded meanwhile.
func ReportDeployment(ctx context.Context, tenants Repository[*domain.Tenant], id string, rep DeploymentReport, md eventstore.Metadata) error {
	return tenants.Record(ctx, id, md, func(t *domain.Tenant) ([]domain.Event, string, error) {
		return decideReport(t, rep, time.Now().UTC())
	})
}

// decideReport turns a report into the deploy step's outcome (deployed,
// failed) or its undo's (removed, remove_failed), with the id key both the
// report and the deadline watcher derive.
func decideReport(t *domain.Tenant, rep DeploymentReport, now time.Time) ([]domain.Event, string, error) {
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
