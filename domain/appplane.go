package domain

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// TypeAppPlaneRequested is the request of the changes' application-plane
// steps (app_suspend, app_resume, plan_app): each tells the application
// plane what changed — suspend the tenant, resume it, or resize it to a
// plan's size — signed by the control plane like a deployment request. The
// application plane is told, not asked: the step completes once the
// request is recorded (the agent's commands are idempotent and report
// nothing back), and its undo records the opposite request.
const TypeAppPlaneRequested = "tenant.appplane.requested"

// What an application-plane request asks.
const (
	AppPlaneSuspend = "suspend"
	AppPlaneResume  = "resume"
	AppPlaneResize  = "resize"
)

// AppPlaneRequested asks the application plane to act on the tenant:
// Action for Step of the change's round Round (Undo: the step's undo).
// Size and SizeConfig are the plan to size the tenant by (resize); the
// rest is what a deployment request carries, so that a resize can run the
// deployment again as it was.
type AppPlaneRequested struct {
	Action       string          `json:"action"`
	Step         string          `json:"step"`
	Round        int             `json:"round"`
	Undo         bool            `json:"undo,omitempty"`
	Attempt      int             `json:"attempt"`
	TenantKey    string          `json:"tenantKey"`
	Tier         string          `json:"tier"`
	Isolation    string          `json:"isolation,omitempty"`
	PipelineName string          `json:"pipelineName,omitempty"`
	Domains      []string        `json:"domains,omitempty"`
	Size         string          `json:"size,omitempty"`
	SizeConfig   json.RawMessage `json:"sizeConfig,omitempty"`
	RequestedAt  time.Time       `json:"requestedAt"`
	// Signature is the control plane's (deployauth.SignRequest): the agent
	// acts only on requests it verifies.
	Signature string `json:"signature,omitempty"`
}

func (AppPlaneRequested) EventType() string { return TypeAppPlaneRequested }

// AppPlaneRequest is the request of the running change's step (its undo
// when undo) asking action, for plan: filled from the tenant, unsigned.
func (t *Tenant) AppPlaneRequest(step, action string, undo bool, plan Plan, now time.Time) (AppPlaneRequested, error) {
	if t.change == nil {
		return AppPlaneRequested{}, fmt.Errorf("tenant %s has no change for step %s", t.id, step)
	}
	return AppPlaneRequested{Action: action, Step: step, Round: t.change.round, Undo: undo, Attempt: t.attempt, TenantKey: t.key,
		Tier: plan.Tier, Isolation: t.isolation, PipelineName: plan.PipelineName(), Domains: slices.Clone(t.domains),
		Size: plan.Size, SizeConfig: plan.SizeConfig, RequestedAt: now.UTC()}, nil
}

// TellAppPlane records req, signed by the caller: the application plane is
// told.
func (t *Tenant) TellAppPlane(req AppPlaneRequested) []Event {
	t.apply(req)
	return []Event{req}
}
