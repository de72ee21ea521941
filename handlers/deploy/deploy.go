// Package deploy is the deploy step's back end, choreographed with the
// application plane: the step records a signed tenant.deployment.requested
// (the agent's cue), the agent reports through POST /tenants/{id}/deployment,
// and a report missing at the deadline fails the step (Watch). Its undo
// records a signed tenant.deployment.undo_requested the same way.
package deploy

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/handlers/step"
	"github.com/tenantflow/tenantflow/platform/deployauth"
)

// Deployment configures the choreographed deploy step: the handler records
// tenant.deployment.requested (the agent's cue), the agent reports through
// POST /tenants/{id}/deployment, and a report missing at Deadline fails the
// step. Undo records tenant.deployment.undo_requested.
type Deployment struct {
	SigningKey []byte        // control plane only: derives each attempt's report secret
	AgentKey   []byte        // 32 bytes, shared with the agent: seals that secret
	Deadline   time.Duration // default 10 minutes
	Log        OverdueFinder // where the deadline watcher looks for overdue requests
	CheckEvery time.Duration // default 5 s
	Logger     *slog.Logger  // default slog.Default()
	HTTP       *http.Client  // Probe's client (default http.DefaultClient)
}

// OverdueFinder lists the tenants with a request past its deadline that
// nothing answered (app.OverdueTenants over the event log).
type OverdueFinder interface {
	Overdue(ctx context.Context, requestTypes []string, answeredBy string) (tenantIDs []string, err error)
}

// Do is the deploy step's turn: ask the application plane, once an attempt
// (the agent's signed report, or the deadline, records the outcome).
func (d *Deployment) Do(_ context.Context, t *domain.Tenant) (step.Result, error) {
	if _, made := t.DeploymentRequest(); made {
		return step.Result{Record: func(*domain.Tenant, domain.StepOutcome) ([]domain.Event, error) { return nil, nil }}, nil // waiting
	}
	sealed, err := d.sealed(t)
	if err != nil {
		return step.Result{}, step.Permanent(err)
	}
	sub, _ := t.Subscription()
	now := time.Now().UTC()
	return step.Result{RecordKey: fmt.Sprintf("%s/%d/deploy/request", t.ID(), t.Attempt()),
		Record: func(t *domain.Tenant, _ domain.StepOutcome) ([]domain.Event, error) {
			evs, err := t.RequestDeployment(domain.DeploymentRequested{Tier: sub.Plan.Tier, Domains: t.Domains(), RequestedAt: now,
				Deadline: now.Add(d.deadline()), SealedSecret: sealed})
			if err != nil {
				return nil, err
			}
			req := evs[0].(domain.DeploymentRequested)
			req.Signature = deployauth.SignRequest(d.AgentKey, RequestOf(t.ID(), req))
			return []domain.Event{req}, nil
		}}, nil
}

// sealed is the attempt's report secret, sealed for the agent and bound to
// the tenant, attempt and key.
func (d *Deployment) sealed(t *domain.Tenant) (string, error) {
	secret := deployauth.Secret(d.SigningKey, t.ID(), t.Attempt())
	return deployauth.Seal(d.AgentKey, secret, deployauth.Binding(t.ID(), t.Attempt(), t.Key()))
}

// RequestOf is what the signature of a deployment request covers.
func RequestOf(tenantID string, e domain.DeploymentRequested) deployauth.Request {
	return deployauth.Request{Type: e.EventType(), TenantID: tenantID, TenantKey: e.TenantKey, Attempt: e.Attempt, Tier: e.Tier,
		Isolation: e.Isolation, PipelineName: e.PipelineName, Size: e.Size, SizeConfig: string(e.SizeConfig), Domains: e.Domains,
		Deadline: jsonTime(e.Deadline), SealedSecret: e.SealedSecret}
}

// UndoRequestOf is what the signature of a removal request covers.
func UndoRequestOf(tenantID string, e domain.DeploymentUndoRequested) deployauth.Request {
	return deployauth.Request{Type: e.EventType(), TenantID: tenantID, TenantKey: e.TenantKey, Attempt: e.Attempt, Round: e.Round,
		PipelineName: e.PipelineName, Deadline: jsonTime(e.Deadline), SealedSecret: e.SealedSecret}
}

// jsonTime is a time as encoding/json writes it into the event (the agent
// reads that text back).
func jsonTime(t time.Time) string {
	if t.IsZero() {
		return "" // omitted from the event
	}
	raw, _ := t.MarshalJSON()
	return strings.Trim(string(raw), `"`)
}

// Undo removes nothing here: the application plane does (RecordUndo).
func (d *Deployment) Undo(context.Context, *domain.Tenant) error { return nil }

// RecordUndo records tenant.deployment.undo_requested for the agent, once a
// round; the undo's outcome is the agent's signed report (compensated or
// compensation_failed), or compensation_failed when none came by the
// deadline. Until then the undo chain waits: the infrastructure the
// deployment ran on is destroyed only after its removal is confirmed or has
// failed.
func (d *Deployment) RecordUndo(t *domain.Tenant, _ domain.StepOutcome) ([]domain.Event, error) {
	if _, made := t.DeploymentUndoRequest(); made {
		return nil, nil // waiting for the report or the deadline
	}
	sealed, err := d.sealed(t)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	evs, err := t.RequestDeploymentUndo(domain.DeploymentUndoRequested{RequestedAt: now, Deadline: now.Add(d.deadline()), SealedSecret: sealed})
	if err != nil {
		return nil, err
	}
	req := evs[0].(domain.DeploymentUndoRequested)
	req.Signature = deployauth.SignRequest(d.AgentKey, UndoRequestOf(t.ID(), req))
	return []domain.Event{req}, nil
}

func (d *Deployment) deadline() time.Duration {
	if d.Deadline <= 0 {
		return 10 * time.Minute
	}
	return d.Deadline
}

// Watch fails deploy steps whose report did not come in time, and the
// removals nobody confirmed in time, until ctx ends. Only overdue requests
// that no deploy outcome has answered are folded each tick.
func (d *Deployment) Watch(ctx context.Context, record step.Recorder) {
	every := d.CheckEvery
	if every <= 0 {
		every = 5 * time.Second
	}
	log := d.logger()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		ids, err := d.Log.Overdue(ctx, []string{domain.TypeDeploymentRequested, domain.TypeDeploymentUndoRequested}, domain.OutcomeType(domain.StepDeploy, ""))
		if err != nil {
			log.Warn("deployment deadline check failed", "error", err)
			continue
		}
		for _, id := range ids {
			if err := record(ctx, id, "handler:step.deploy", d.missedDeadline); err != nil {
				log.Warn("recording a missed deployment deadline failed", "tenant_id", id, "error", err)
			}
		}
	}
}

// missedDeadline decides the verdict on a deployment, or its removal, that
// got no report in time: the deploy step failed, or its undo failed with
// the deployment left as an orphan. Its id keys are those the API derives
// from the agent's report, so only one of the two is ever recorded.
func (d *Deployment) missedDeadline(t *domain.Tenant) ([]domain.Event, string, error) {
	now := time.Now().UTC()
	if req, made := t.DeploymentRequest(); made {
		if next, ok := t.NextStep(); ok && next == domain.StepDeploy && now.After(req.Deadline) {
			outcome := domain.StepOutcome{Outcome: domain.OutcomeFailed, Tries: 1, StartedAt: req.RequestedAt, At: now,
				Error: fmt.Sprintf("no deployment report within %s", d.deadline())}
			events, err := t.ReportDeployment(req.Attempt, outcome)
			return events, domain.StepKey(t.ID(), t.Attempt(), domain.StepDeploy), err
		}
	}
	if req, made := t.DeploymentUndoRequest(); made && !req.Deadline.IsZero() && now.After(req.Deadline) {
		outcome := domain.StepOutcome{Outcome: domain.OutcomeCompensationFailed, Tries: 1, StartedAt: req.RequestedAt, At: now,
			Error: fmt.Sprintf("removal not confirmed: no report from the application plane within %s", d.deadline())}
		d.logger().Error("undo failed: resource left behind", "tenant_id", t.ID(), "step", domain.StepDeploy, "error", outcome.Error)
		events, err := t.ReportDeploymentUndo(req.Attempt, req.Round, outcome)
		return events, t.UndoKey(domain.StepDeploy), err
	}
	return nil, "", nil
}

func (d *Deployment) logger() *slog.Logger {
	if d.Logger == nil {
		return slog.Default()
	}
	return d.Logger
}
