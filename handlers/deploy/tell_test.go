package deploy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/handlers/deploy"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
	"github.com/tenantflow/tenantflow/platform/deployauth"
)

// A plan change's plan_app tells the application plane to resize the
// tenant to the new plan, signed so the agent verifies it, with the step's
// outcome; its undo tells it the plan in effect, compensated.
func TestTellRecordsASignedRequest(t *testing.T) {
	key := bytes.Repeat([]byte{9}, 32)
	// atPlanApp is a tenant whose plan change to LARGE is at plan_app's turn.
	atPlanApp := func() (*domain.Tenant, domain.Plan) {
		tn := testenv.NewTenantOnTier(t, testenv.UniqueKey("t"), "pooled")
		testenv.Activate(t, tn, nil)
		sub, _ := tn.Subscription()
		larger := sub.Plan
		larger.ID, larger.Size, larger.SizeConfig = "p-l", "LARGE", json.RawMessage(`{"maxUsers":100}`)
		if _, err := tn.RequestPlanChange(larger, testenv.DevTiers, "", domain.SourceOperator, time.Now()); err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{domain.StepPlanBilling, domain.StepPlanInfra} {
			if _, err := tn.RecordStep(domain.StepOutcome{Step: s, Outcome: domain.OutcomeCompleted}); err != nil {
				t.Fatal(err)
			}
		}
		return tn, sub.Plan
	}
	tn, _ := atPlanApp()
	tell := deploy.Tell{AgentKey: key, Action: domain.AppPlaneResize, UndoAction: domain.AppPlaneResize}
	res, err := tell.Do(context.Background(), tn)
	if err != nil || res.Record == nil {
		t.Fatalf("do: %+v %v", res, err)
	}
	now := time.Now().UTC()
	evs, err := res.Record(tn, domain.StepOutcome{Step: domain.StepPlanApp, Outcome: domain.OutcomeCompleted, StartedAt: now, At: now})
	if err != nil || len(evs) != 3 || evs[2].EventType() != domain.TypeChangeCompleted {
		t.Fatalf("recorded %v %v, want the request, the outcome and the change's completion", evs, err)
	}
	req := evs[0].(domain.AppPlaneRequested)
	if req.Action != domain.AppPlaneResize || req.Size != "LARGE" || req.Undo || req.Step != domain.StepPlanApp {
		t.Fatalf("request %+v", req)
	}
	if err := deployauth.VerifyRequest(key, deploy.AppPlaneRequestOf(tn.ID(), req), req.Signature); err != nil {
		t.Fatalf("the agent cannot verify it: %v", err)
	}
	req.Size = "HUGE" // altered on the way
	if err := deployauth.VerifyRequest(key, deploy.AppPlaneRequestOf(tn.ID(), req), req.Signature); err == nil {
		t.Fatal("an altered request verifies")
	}
	if o := evs[1].(domain.StepOutcome); o.Step != domain.StepPlanApp || o.Outcome != domain.OutcomeCompleted {
		t.Fatalf("outcome %+v", o)
	}
	failing, inEffect := atPlanApp()
	if _, err := failing.RecordStep(domain.StepOutcome{Step: domain.StepPlanApp, Outcome: domain.OutcomeFailed, Error: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := failing.Fail(); err != nil {
		t.Fatal(err)
	}
	if next, _ := failing.NextUndo(); next != domain.StepPlanApp {
		t.Fatalf("first undo %q", next)
	}
	undo, err := tell.RecordUndo(failing, domain.StepOutcome{Step: domain.StepPlanApp, StartedAt: now})
	if err != nil || len(undo) != 2 {
		t.Fatalf("undo %v %v", undo, err)
	}
	if r := undo[0].(domain.AppPlaneRequested); !r.Undo || r.Size != inEffect.Size || r.Size == "LARGE" {
		t.Fatalf("the undo's request %+v, want the plan in effect", r)
	}
	if o := undo[1].(domain.StepOutcome); o.Outcome != domain.OutcomeCompensated {
		t.Fatalf("the undo's outcome %+v", o)
	}
}
