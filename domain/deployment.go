package domain

import (
	"errors"
	"time"
)

// The application plane is a separate system, so the deploy step is itself
// choreographed: the deploy handler records a deployment request (published
// like every event); the application plane's agent deploys and reports back
// through the API; no report before the deadline fails the step.
const (
	TypeDeploymentRequested     = "tenant.deployment.requested"
	TypeDeploymentUndoRequested = "tenant.deployment.undo_requested"
)

// DeploymentRequested asks the application plane to deploy the tenant.
// SealedSecret is the tenant's report-signing secret, encrypted for the
// agent (AES-256-GCM, base64): it never travels in the clear. PipelineName
// is the plan's metaData.pipelineName: the application plane's pipeline.
type DeploymentRequested struct {
	Attempt      int       `json:"attempt"`
	TenantKey    string    `json:"tenantKey"`
	Tier         string    `json:"tier"`
	Isolation    string    `json:"isolation,omitempty"`
	PipelineName string    `json:"pipelineName,omitempty"`
	Domains      []string  `json:"domains,omitempty"`
	RequestedAt  time.Time `json:"requestedAt"`
	Deadline     time.Time `json:"deadline"`
	SealedSecret string    `json:"sealedSecret"`
}

// DeploymentUndoRequested asks the application plane to remove the tenant's
// deployment (compensation or deprovisioning).
type DeploymentUndoRequested struct {
	Attempt      int    `json:"attempt"`
	TenantKey    string `json:"tenantKey"`
	PipelineName string `json:"pipelineName,omitempty"`
}

func (DeploymentRequested) EventType() string     { return TypeDeploymentRequested }
func (DeploymentUndoRequested) EventType() string { return TypeDeploymentUndoRequested }

// pipelineName is the latest attempt's plan's metaData.pipelineName.
func (t *Tenant) pipelineName() string {
	if t.subscription == nil {
		return ""
	}
	return t.subscription.Plan.PipelineName()
}

// ErrNoDeploymentPending refuses a deployment report nobody is waiting for.
var ErrNoDeploymentPending = errors.New("no deployment of this attempt is waiting for a report")

// DeploymentRequest is the current attempt's request, if one was made.
func (t *Tenant) DeploymentRequest() (DeploymentRequested, bool) {
	if t.deployment == nil || t.deployment.Attempt != t.attempt {
		return DeploymentRequested{}, false
	}
	return *t.deployment, true
}

// RequestDeployment records the request, when it is the deploy step's turn
// and none was made in this attempt.
func (t *Tenant) RequestDeployment(e DeploymentRequested) ([]Event, error) {
	if next, ok := t.NextStep(); !ok || next != StepDeploy || t.cancelRequested {
		return nil, ErrNotYourTurn
	}
	if _, made := t.DeploymentRequest(); made {
		return nil, ErrNotYourTurn
	}
	e.Attempt, e.TenantKey, e.Isolation, e.PipelineName = t.attempt, t.key, t.isolation, t.pipelineName()
	t.apply(e)
	return []Event{e}, nil
}

// ReportDeployment records the agent's report (or the deadline's verdict)
// as the deploy step's outcome for attempt.
func (t *Tenant) ReportDeployment(attempt int, e StepOutcome) ([]Event, error) {
	if _, made := t.DeploymentRequest(); !made || attempt != t.attempt {
		return nil, ErrNoDeploymentPending
	}
	e.Step = StepDeploy
	evs, err := t.RecordStep(e)
	if errors.Is(err, ErrNotYourTurn) {
		return nil, ErrNoDeploymentPending
	}
	return evs, err
}

// UndoDeployment records the undo request with the deploy step's compensation.
func (t *Tenant) UndoDeployment(e StepOutcome) ([]Event, error) {
	if next, ok := t.NextUndo(); !ok || next != StepDeploy {
		return nil, ErrNotYourTurn
	}
	req := DeploymentUndoRequested{Attempt: t.attempt, TenantKey: t.key, PipelineName: t.pipelineName()}
	t.apply(req)
	e.Step, e.Outcome = StepDeploy, OutcomeCompensated
	evs, err := t.RecordUndo(e)
	if err != nil {
		return nil, err
	}
	return append([]Event{req}, evs...), nil
}
