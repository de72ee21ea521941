package deploy

import (
	"context"
	"fmt"
	"time"

	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/handlers/step"
	"github.com/tenantflow/tenantflow/platform/deployauth"
)

// Tell is a change's application-plane step: app_suspend (Action suspend,
// undone by resume), app_resume (resume, undone by suspend) or plan_app
// (resize to the plan change's target, undone by resizing to the plan in
// effect). Its turn records tenant.appplane.requested, signed with the
// agent key like a deployment request, with the step's outcome: the
// application plane is told, not asked — the agent's commands are
// idempotent and report nothing back. Its undo records the opposite
// request, compensated.
type Tell struct {
	AgentKey           []byte
	Action, UndoAction string
}

func (s Tell) Do(_ context.Context, t *domain.Tenant) (step.Result, error) {
	return step.Result{Record: func(t *domain.Tenant, out domain.StepOutcome) ([]domain.Event, error) {
		told, err := s.tell(t, out.Step, s.Action, false)
		if err != nil {
			return nil, err
		}
		done, err := t.RecordStep(out)
		return append(told, done...), err
	}}, nil
}

// Undo does nothing here: RecordUndo tells the application plane.
func (s Tell) Undo(context.Context, *domain.Tenant) error { return nil }

func (s Tell) RecordUndo(t *domain.Tenant, out domain.StepOutcome) ([]domain.Event, error) {
	told, err := s.tell(t, out.Step, s.UndoAction, true)
	if err != nil {
		return nil, err
	}
	out.Outcome, out.At = domain.OutcomeCompensated, time.Now().UTC()
	done, err := t.RecordUndo(out)
	return append(told, done...), err
}

// tell records the signed request of step asking action: a resize asks
// for the plan change's target, its undo (and every other action) for the
// plan in effect.
func (s Tell) tell(t *domain.Tenant, stepName, action string, undo bool) ([]domain.Event, error) {
	sub, ok := t.Subscription()
	if !ok {
		return nil, step.Permanent(fmt.Errorf("tenant %s has no subscription", t.ID()))
	}
	plan := sub.Plan
	if target, changing := t.PlanChangeTarget(); changing && !undo {
		plan = target
	}
	req, err := t.AppPlaneRequest(stepName, action, undo, plan, time.Now())
	if err != nil {
		return nil, err
	}
	req.Signature = deployauth.SignRequest(s.AgentKey, AppPlaneRequestOf(t.ID(), req))
	return t.TellAppPlane(req), nil
}

// AppPlaneRequestOf is what the signature of an application-plane request
// covers.
func AppPlaneRequestOf(tenantID string, e domain.AppPlaneRequested) deployauth.Request {
	return deployauth.Request{Type: e.EventType(), TenantID: tenantID, TenantKey: e.TenantKey, Attempt: e.Attempt, Round: e.Round,
		Tier: e.Tier, Isolation: e.Isolation, PipelineName: e.PipelineName, Domains: e.Domains, Size: e.Size, SizeConfig: string(e.SizeConfig),
		Action: e.Action, Step: e.Step, Undo: e.Undo, RequestedAt: jsonTime(e.RequestedAt)}
}
