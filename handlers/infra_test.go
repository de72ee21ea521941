package handlers_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/handlers"
	"github.com/tenantflow/tenantflow/internal/testenv"
)

func devInfra(t *testing.T) handlers.Infrastructure {
	env := testenv.Require(t, "TENANTFLOW_INFRA_BINARY")
	root, _ := filepath.Abs("../infra/modules")
	return handlers.Infrastructure{Binary: env["TENANTFLOW_INFRA_BINARY"], StateDir: t.TempDir(), Region: "eu-test-1",
		Modules: map[string]string{"silo": filepath.Join(root, "silo"), "bridge": filepath.Join(root, "bridge")}, Timeout: 2 * time.Minute}
}

// devTiers is the dev stack's catalogue (devstack.sh env: TENANTFLOW_TIERS).
var devTiers = domain.Tiers{"silo": "silo", "bridge": "bridge", "pooled": "pooled", "enterprise": "silo", "standard": "bridge", "basic": "pooled"}

func tieredTenant(t *testing.T, tier string) *domain.Tenant {
	tn := tenantNamed(t, "i")
	if _, err := tn.RequestProvisioning(domain.Subscription{ID: "s", SubscriberID: "c", PlanID: "p", StartDate: time.Now(),
		Plan: domain.Plan{ID: "p", Name: "P", Tier: tier}}, devTiers); err != nil {
		t.Fatal(err)
	}
	return tn
}

// A real OpenTofu/Terraform run on the repository's module: state per
// tenant, outputs recorded, idempotent, destroyed by the undo. The
// operator's tier "enterprise" has no module of its own and runs its
// isolation model's (silo); "basic" maps to pooled and is skipped.
func TestInfrastructureRunsTheTierModule(t *testing.T) {
	in := devInfra(t)
	ctx := context.Background()
	tn := tieredTenant(t, "enterprise")
	var res handlers.Result
	for range 2 {
		var err error
		if res, err = in.Do(ctx, tn); err != nil {
			t.Fatal(err)
		}
	}
	if res.Outputs["load_balancer"] != "lb-"+tn.Key()+".tenants.test" || res.Outputs["network"] != "net-"+tn.Key() {
		t.Fatalf("outputs %v", res.Outputs)
	}
	state := filepath.Join(in.StateDir, "tenant-"+tn.ID(), "terraform.tfstate")
	raw, err := os.ReadFile(state)
	if err != nil || !strings.Contains(string(raw), "lb-"+tn.Key()) {
		t.Fatalf("state %s: %v", state, err)
	}
	if err := in.Undo(ctx, tn); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(state)); !os.IsNotExist(err) {
		t.Fatalf("working directory left after destroy: %v", err)
	}
	if err := in.Undo(ctx, tn); err != nil {
		t.Fatalf("a second undo: %v", err)
	}

	for _, tier := range []string{"pooled", "basic"} {
		if res, err := in.Do(ctx, tieredTenant(t, tier)); err != nil || !res.Skipped {
			t.Fatalf("%s tier: %+v %v, want skipped", tier, res, err)
		}
	}

	in.Timeout = time.Millisecond
	if _, err := in.Do(ctx, tieredTenant(t, "bridge")); err == nil || !strings.Contains(err.Error(), "timed out") || handlers.IsPermanent(err) {
		t.Fatalf("timeout: %v, want a transient timeout", err)
	}
}
