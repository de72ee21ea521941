package handlers

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/internal/deployauth"
)

// Deployment configures the choreographed deploy step: the handler records
// tenant.deployment.requested (the agent's cue), the agent reports through
// POST /tenants/{id}/deployment, and a report missing at Deadline fails the
// step. Undo records tenant.deployment.undo_requested.
type Deployment struct {
	SigningKey []byte        // control plane only: derives each attempt's report secret
	AgentKey   []byte        // 32 bytes, shared with the agent: seals that secret
	Deadline   time.Duration // default 10 minutes
	Pool       *pgxpool.Pool // where the deadline watcher looks for overdue requests
	CheckEvery time.Duration // default 5 s
}

// DeployOutcomeKey is the id key of the deploy step's outcome for an
// attempt: the API (a report) and the deadline watcher (no report) derive
// the same id, so only one of them can record it.
func DeployOutcomeKey(tenantID string, attempt int) string {
	return fmt.Sprintf("%s/%d/%s/do", tenantID, attempt, domain.StepDeploy)
}

// Do is the deploy step's turn: ask the application plane, once an attempt
// (the agent's signed report, or the deadline, records the outcome).
func (d *Deployment) Do(_ context.Context, t *domain.Tenant) (Result, error) {
	if _, made := t.DeploymentRequest(); made {
		return Result{Record: func(*domain.Tenant, domain.StepOutcome) ([]domain.Event, error) { return nil, nil }}, nil // waiting
	}
	sealed, err := d.sealed(t)
	if err != nil {
		return Result{}, Permanent(err)
	}
	sub, _ := t.Subscription()
	now := time.Now().UTC()
	return Result{RecordKey: fmt.Sprintf("%s/%d/deploy/request", t.ID(), t.Attempt()),
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
		Isolation: e.Isolation, PipelineName: e.PipelineName, Domains: e.Domains, Deadline: jsonTime(e.Deadline), SealedSecret: e.SealedSecret}
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

// DeployUndoKey is the id key of the deploy step's undo outcome in t's
// current attempt and undo round: the API (the agent's report) and the
// deadline watcher (no report) derive the same id, so only one is recorded.
func DeployUndoKey(t *domain.Tenant) string { return undoKey(t, domain.StepDeploy) }

func (d *Deployment) deadline() time.Duration {
	if d.Deadline <= 0 {
		return 10 * time.Minute
	}
	return d.Deadline
}

// watchDeadlines fails deploy steps whose report did not come in time.
func (e *engine) watchDeadlines(ctx context.Context) {
	d := e.cfg.Deployment
	every := d.CheckEvery
	if every <= 0 {
		every = 5 * time.Second
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		// Only overdue requests (deployments and their removals) no deploy
		// outcome has answered yet: each tick folds just the tenants waiting.
		rows, err := d.Pool.Query(ctx, `select distinct r.stream_id from events r
			where r.event_type in ($1, $2) and r.recorded_at > now() - interval '7 days' and (r.data->>'deadline')::timestamptz < now()
			  and not exists (select 1 from events o where o.stream_id = r.stream_id and o.stream_version > r.stream_version
			                  and o.event_type like 'tenant.deploy.%')`,
			domain.TypeDeploymentRequested, domain.TypeDeploymentUndoRequested)
		if err != nil {
			e.cfg.Logger.Warn("deployment deadline check failed", "error", err)
			continue
		}
		streams, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			continue
		}
		for _, stream := range streams {
			if err := e.missedDeadline(ctx, stream[len("tenant-"):]); err != nil {
				e.cfg.Logger.Warn("recording a missed deployment deadline failed", "tenant_id", stream[len("tenant-"):], "error", err)
			}
		}
	}
}

// missedDeadline records the verdict on a deployment, or its removal, that
// got no report in time: the deploy step failed, or its undo failed with
// the deployment left as an orphan.
func (e *engine) missedDeadline(ctx context.Context, id string) error {
	t, err := e.tenants.Get(ctx, id)
	if err != nil {
		return err
	}
	md, now := eventstore.Metadata{Actor: "handler:step.deploy"}, time.Now().UTC()
	if req, made := t.DeploymentRequest(); made {
		if next, ok := t.NextStep(); ok && next == domain.StepDeploy && now.After(req.Deadline) {
			outcome := domain.StepOutcome{Outcome: domain.OutcomeFailed, Tries: 1, StartedAt: req.RequestedAt, At: now,
				Error: fmt.Sprintf("no deployment report within %s", e.cfg.Deployment.deadline())}
			return e.record(ctx, t, md, DeployOutcomeKey(id, t.Attempt()), func(t *domain.Tenant) ([]domain.Event, error) {
				return t.ReportDeployment(req.Attempt, outcome)
			})
		}
	}
	if req, made := t.DeploymentUndoRequest(); made && !req.Deadline.IsZero() && now.After(req.Deadline) {
		outcome := domain.StepOutcome{Outcome: domain.OutcomeCompensationFailed, Tries: 1, StartedAt: req.RequestedAt, At: now,
			Error: fmt.Sprintf("removal not confirmed: no report from the application plane within %s", e.cfg.Deployment.deadline())}
		e.cfg.Logger.Error("undo failed: resource left behind", "tenant_id", id, "step", domain.StepDeploy, "error", outcome.Error)
		return e.record(ctx, t, md, DeployUndoKey(t), func(t *domain.Tenant) ([]domain.Event, error) {
			return t.ReportDeploymentUndo(req.Attempt, req.Round, outcome)
		})
	}
	return nil
}
