package infrastructure_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/handlers/infrastructure"
	"github.com/tenantflow/tenantflow/internal/testkit/devsteps"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
)

// A plan change applies the tenant's module again, in its own state, with
// the new plan's size and size configuration, and its undo applies the
// plan in effect again — on real OpenTofu, state in PostgreSQL. A pooled
// tenant (no infrastructure of its own) has nothing to resize.
func TestResizeAppliesTheNewPlansSize(t *testing.T) {
	in := devsteps.Infrastructure(t)
	ctx := context.Background()
	tn := tieredTenant(t, "enterprise")
	t.Cleanup(func() { _ = in.Undo(context.Background(), tn); dropState(t, tn) })
	res, err := in.Do(ctx, tn)
	if err != nil {
		t.Fatal(err)
	}
	testenv.Activate(t, tn, map[string]domain.StepOutcome{
		domain.StepInfrastructure: {Outcome: domain.OutcomeCompleted, Outputs: res.Outputs, Resources: res.Resources}})
	sub, _ := tn.Subscription()
	larger := sub.Plan
	larger.ID, larger.Size, larger.SizeConfig = "p-xl", "XLARGE", json.RawMessage(`{"maxUsers":500}`)
	if _, err := tn.RequestPlanChange(larger, testenv.DevTiers, "", domain.SourceOperator, time.Now()); err != nil {
		t.Fatal(err)
	}
	r := infrastructure.Resize{Infrastructure: in}
	got, err := r.Do(ctx, tn)
	if err != nil || got.Skipped || got.Outputs["size"] != `{"config":{"maxUsers":500},"size":"XLARGE"}` {
		t.Fatalf("resize: %+v %v", got, err)
	}
	if state := devsteps.InfraState(t, tn); !strings.Contains(state, "XLARGE") {
		t.Fatalf("the state does not hold the new size:\n%s", state)
	}
	if err := r.Undo(ctx, tn); err != nil {
		t.Fatal(err)
	}
	if state := devsteps.InfraState(t, tn); strings.Contains(state, "XLARGE") || !strings.Contains(state, `\"size\":\"LARGE\"`) {
		t.Fatalf("the undo did not apply the plan in effect again:\n%s", state)
	}

	pooled := tieredTenant(t, "basic")
	testenv.Activate(t, pooled, nil)
	small := larger
	small.Tier = "basic"
	if _, err := pooled.RequestPlanChange(small, testenv.DevTiers, "", domain.SourceOperator, time.Now()); err != nil {
		t.Fatal(err)
	}
	if got, err := r.Do(ctx, pooled); err != nil || !got.Skipped {
		t.Fatalf("a pooled tenant: %+v %v", got, err)
	}
}
