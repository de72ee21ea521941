package domain

import (
	"encoding/json"
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
	Attempt      int    `json:"attempt"`
	TenantKey    string `json:"tenantKey"`
	Tier         string `json:"tier"`
	Isolation    string `json:"isolation,omitempty"`
	PipelineName string `json:"pipelineName,omitempty"`
	// Size and SizeConfig are the plan's: what the application plane
	// sizes the tenant's deployment by.
	Size         string          `json:"size,omitempty"`
	SizeConfig   json.RawMessage `json:"sizeConfig,omitempty"`
	Domains      []string        `json:"domains,omitempty"`
	RequestedAt  time.Time       `json:"requestedAt"`
	Deadline     time.Time       `json:"deadline"`
	SealedSecret string          `json:"sealedSecret"`
	// Signature is the control plane's (deployauth.SignRequest): the agent
	// acts only on requests it verifies.
	Signature string `json:"signature,omitempty"`
}

// DeploymentUndoRequested asks the application plane to remove the tenant's
// deployment (compensation or deprovisioning). The agent reports the
// outcome like a deployment, signed with the secret sealed here; no report
// by Deadline records the undo as compensation_failed. Round is the undo
// round (UndoRound) it belongs to. Requests written before undo reports
// existed have no secret and no deadline: nobody waits for their outcome.
type DeploymentUndoRequested struct {
	Attempt      int       `json:"attempt"`
	Round        int       `json:"round,omitempty"`
	TenantKey    string    `json:"tenantKey"`
	PipelineName string    `json:"pipelineName,omitempty"`
	RequestedAt  time.Time `json:"requestedAt,omitzero"`
	Deadline     time.Time `json:"deadline,omitzero"`
	SealedSecret string    `json:"sealedSecret,omitempty"`
	Signature    string    `json:"signature,omitempty"`
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
	if t.subscription != nil {
		e.Size, e.SizeConfig = t.subscription.Plan.Size, t.subscription.Plan.SizeConfig
	}
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
	if e.Outcome == OutcomeCompleted && len(e.Resources) == 0 {
		e.Resources = []Resource{t.DeploymentResource(e.Outputs["endpoint"])}
	}
	evs, err := t.RecordStep(e)
	if errors.Is(err, ErrNotYourTurn) {
		return nil, ErrNoDeploymentPending
	}
	return evs, err
}

// DeploymentResource names what the application plane runs for a tenant:
// the resource a deployment report records, and the orphan a failed or
// unconfirmed removal leaves.
func (t *Tenant) DeploymentResource(endpoint string) Resource {
	return Resource{Step: StepDeploy, Kind: "deployment", ID: t.key, Location: endpoint, TenantID: t.id}
}

// DeploymentUndoRequest is the current undo round's removal request, if one
// was made and is still waiting for its outcome.
func (t *Tenant) DeploymentUndoRequest() (DeploymentUndoRequested, bool) {
	if t.deploymentUndo == nil || t.deploymentUndo.Attempt != t.attempt || t.deploymentUndo.Round != t.undoRound {
		return DeploymentUndoRequested{}, false
	}
	if next, ok := t.NextUndo(); !ok || next != StepDeploy {
		return DeploymentUndoRequested{}, false
	}
	return *t.deploymentUndo, true
}

// RequestDeploymentUndo records the removal request when the deploy step's
// undo is due and none was made in this round. Its outcome comes later:
// ReportDeploymentUndo (the agent's report, or the deadline's verdict).
func (t *Tenant) RequestDeploymentUndo(e DeploymentUndoRequested) ([]Event, error) {
	if next, ok := t.NextUndo(); !ok || next != StepDeploy {
		return nil, ErrNotYourTurn
	}
	if _, made := t.DeploymentUndoRequest(); made {
		return nil, ErrNotYourTurn
	}
	e.Attempt, e.Round, e.TenantKey, e.PipelineName = t.attempt, t.undoRound, t.key, t.pipelineName()
	t.apply(e)
	return []Event{e}, nil
}

// ReportDeploymentUndo records the outcome of the pending removal request
// of attempt and round: compensated, or compensation_failed with the
// deployment as an orphan.
func (t *Tenant) ReportDeploymentUndo(attempt, round int, e StepOutcome) ([]Event, error) {
	if _, made := t.DeploymentUndoRequest(); !made || attempt != t.attempt || round != t.undoRound {
		return nil, ErrNoDeploymentPending
	}
	e.Step = StepDeploy
	if e.Outcome == OutcomeCompensationFailed && len(e.Resources) == 0 {
		e.Resources = []Resource{t.DeploymentResource("")}
	}
	return t.RecordUndo(e)
}
