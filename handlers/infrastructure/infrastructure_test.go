package infrastructure_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/handlers/infrastructure"
	"github.com/tenantflow/tenantflow/handlers/step"
	"github.com/tenantflow/tenantflow/internal/testkit/devsteps"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
)

// dropState removes a tenant's state schema (test clean-up, or a lost state).
func dropState(t *testing.T, tn *domain.Tenant) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testenv.DatabaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `drop schema if exists `+pgx.Identifier{infrastructure.StateSchema(tn)}.Sanitize()+` cascade`); err != nil {
		t.Fatal(err)
	}
}

func tieredTenant(t *testing.T, tier string) *domain.Tenant {
	tn := testenv.NewTenant(t, testenv.UniqueKey("i"))
	if _, err := tn.RequestProvisioning(domain.Subscription{ID: "s", SubscriberID: "c", PlanID: "p", StartDate: time.Now(),
		Plan: domain.Plan{ID: "p", Name: "P", Tier: tier, Size: "LARGE", SizeConfig: json.RawMessage(`{"maxUsers": 100}`)}}, testenv.DevTiers); err != nil {
		t.Fatal(err)
	}
	return tn
}

// A real OpenTofu/Terraform run on the repository's module: state per
// tenant, outputs recorded, idempotent, destroyed by the undo. The
// operator's tier "enterprise" has no module of its own and runs its
// isolation model's (silo); "basic" maps to pooled and is skipped.
func TestInfrastructureRunsTheTierModule(t *testing.T) {
	in := devsteps.Infrastructure(t)
	ctx := context.Background()
	tn := tieredTenant(t, "enterprise")
	var res step.Result
	for range 2 {
		var err error
		if res, err = in.Do(ctx, tn); err != nil {
			t.Fatal(err)
		}
	}
	if res.Outputs["load_balancer"] != "lb-"+tn.Key()+".tenants.test" || res.Outputs["network"] != "net-"+tn.Key() {
		t.Fatalf("outputs %v", res.Outputs)
	}
	// The plan's size and sizeConfig reached the module's variables.
	if res.Outputs["size"] != `{"config":{"maxUsers":100},"size":"LARGE"}` {
		t.Fatalf("the module's size output %q, want the plan's size and sizeConfig", res.Outputs["size"])
	}
	if _, leaked := res.Outputs["admin_token"]; leaked || len(res.Outputs) != 4 || res.Outputs[infrastructure.ModuleOutput] != in.Modules["silo"] {
		t.Fatalf("the module's sensitive output reached the outcome: %v", res.Outputs)
	}
	t.Cleanup(func() { dropState(t, tn) })
	if state := devsteps.InfraState(t, tn); !strings.Contains(state, "lb-"+tn.Key()) || res.Resources[0].ID != infrastructure.StateSchema(tn) {
		t.Fatalf("state in PostgreSQL: %q, recorded %+v", state, res.Resources)
	}
	// Another instance, with a working directory of its own, destroys it:
	// the state comes from PostgreSQL.
	other := devsteps.Infrastructure(t)
	if err := other.Undo(ctx, tn); err != nil {
		t.Fatal(err)
	}
	if state := devsteps.InfraState(t, tn); strings.Contains(state, "lb-"+tn.Key()) {
		t.Fatalf("state after another instance's destroy still holds the load balancer: %s", state)
	}
	if _, err := os.Stat(filepath.Join(other.StateDir, "tenant-"+tn.ID())); !os.IsNotExist(err) {
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
	if _, err := in.Do(ctx, tieredTenant(t, "bridge")); err == nil || !strings.Contains(err.Error(), "timed out") || step.IsPermanent(err) {
		t.Fatalf("timeout: %v, want a transient timeout", err)
	}
}

// A state that is gone when the undo runs, for a tenant whose step recorded
// one, is a permanent failure (compensation_failed: the infrastructure it
// described may still exist, and the recorded state becomes the tenant's
// orphan), never "compensated". Without a recorded apply it is nothing to do.
func TestInfrastructureUndoWithoutItsStateFails(t *testing.T) {
	in := devsteps.Infrastructure(t)
	ctx := context.Background()
	tn := tieredTenant(t, "silo")
	if err := in.Undo(ctx, tn); err != nil {
		t.Fatalf("undo before any apply: %v, want nothing to do", err)
	}
	for _, s := range domain.Steps[:slices.Index(domain.Steps, domain.StepInfrastructure)] {
		if _, err := tn.RecordStep(domain.StepOutcome{Step: s, Outcome: domain.OutcomeCompleted, Tries: 1}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := in.Do(ctx, tn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tn.RecordStep(domain.StepOutcome{Step: domain.StepInfrastructure, Outcome: domain.OutcomeCompleted, Tries: 1, Resources: res.Resources}); err != nil {
		t.Fatal(err)
	}
	dropState(t, tn) // the state is lost
	if err := in.Undo(ctx, tn); !step.IsPermanent(err) || !strings.Contains(err.Error(), "may still exist") {
		t.Fatalf("undo without its state: %v, want a permanent failure saying what may be left", err)
	}
}

// The undo destroys with the module the apply recorded, not with today's
// tier → module mapping: after the operator points the tier at another
// module (here one this host does not have), or drops its module, the
// recorded one still destroys what it made. An apply recorded before modules were (no record), whose tier maps
// to no module now, is a permanent failure (an orphan) while its state
// holds resources, never "compensated".
func TestInfrastructureUndoUsesTheRecordedModule(t *testing.T) {
	ctx := context.Background()
	applied := func(t *testing.T, in infrastructure.Infrastructure, recordModule bool) *domain.Tenant {
		tn := tieredTenant(t, "enterprise")
		for _, s := range domain.Steps[:slices.Index(domain.Steps, domain.StepInfrastructure)] {
			if _, err := tn.RecordStep(domain.StepOutcome{Step: s, Outcome: domain.OutcomeCompleted, Tries: 1}); err != nil {
				t.Fatal(err)
			}
		}
		res, err := in.Do(ctx, tn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { dropState(t, tn) })
		if !recordModule {
			delete(res.Outputs, infrastructure.ModuleOutput)
		}
		if _, err := tn.RecordStep(domain.StepOutcome{Step: domain.StepInfrastructure, Outcome: domain.OutcomeCompleted, Tries: 1,
			Resources: res.Resources, Outputs: res.Outputs}); err != nil {
			t.Fatal(err)
		}
		return tn
	}
	for name, modules := range map[string]func(in infrastructure.Infrastructure) map[string]string{
		"the tier moved to a module not on this host": func(in infrastructure.Infrastructure) map[string]string {
			return map[string]string{"silo": filepath.Join(in.StateDir, "no-such-module")}
		},
		"the tier lost its module": func(in infrastructure.Infrastructure) map[string]string {
			return map[string]string{"bridge": in.Modules["bridge"]}
		},
	} {
		t.Run(name, func(t *testing.T) {
			in := devsteps.Infrastructure(t)
			tn := applied(t, in, true)
			changed := devsteps.Infrastructure(t)
			changed.Modules = modules(in)
			if err := changed.Undo(ctx, tn); err != nil {
				t.Fatal(err)
			}
			if state := devsteps.InfraState(t, tn); strings.Contains(state, "lb-"+tn.Key()) {
				t.Fatalf("the recorded module's resources survived the undo: %s", state)
			}
		})
	}
	t.Run("no module recorded and none mapped", func(t *testing.T) {
		in := devsteps.Infrastructure(t)
		tn := applied(t, in, false)
		gone := devsteps.Infrastructure(t)
		gone.Modules = map[string]string{"bridge": in.Modules["bridge"]}
		if err := gone.Undo(ctx, tn); !step.IsPermanent(err) || !strings.Contains(err.Error(), "maps to none") {
			t.Fatalf("undo with the module gone: %v, want a permanent failure naming the mapping", err)
		}
		if state := devsteps.InfraState(t, tn); !strings.Contains(state, "lb-"+tn.Key()) {
			t.Fatalf("the state changed although the undo could not run: %s", state)
		}
	})
}

// Local state files (TENANTFLOW_INFRA_STATE=local, one process) still work.
func TestInfrastructureWithLocalState(t *testing.T) {
	in := devsteps.Infrastructure(t)
	in.StateConn = ""
	ctx := context.Background()
	tn := tieredTenant(t, "bridge")
	if _, err := in.Do(ctx, tn); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(in.StateDir, "tenant-"+tn.ID(), "terraform.tfstate")
	if raw, err := os.ReadFile(state); err != nil || !strings.Contains(string(raw), tn.Key()) {
		t.Fatalf("state %s: %v", state, err)
	}
	if err := in.Undo(ctx, tn); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(state)); !os.IsNotExist(err) {
		t.Fatalf("working directory left after destroy: %v", err)
	}
}

// OpenTofu and whatever its module runs (providers, provisioners) get an
// allow-listed environment: a module that dumps its environment finds none
// of tenantd's secrets in it, only what the operator passed on purpose.
func TestInfrastructureModuleSeesNoTenantflowSecret(t *testing.T) {
	in := devsteps.Infrastructure(t)
	module := t.TempDir()
	dump := filepath.Join(t.TempDir(), "env")
	if err := os.WriteFile(filepath.Join(module, "main.tf"), []byte(`
variable "tenant_id" { type = string }
variable "tenant_key" { type = string }
variable "tier" { type = string }
variable "region" { type = string }
resource "terraform_data" "dump" {
  provisioner "local-exec" {
    command = "env > `+dump+`"
  }
}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	in.Modules = map[string]string{"silo": module}
	in.PassEnv = []string{"CLOUD_REGION_FOR_MODULES"}
	t.Setenv("CLOUD_REGION_FOR_MODULES", "eu-test-9")
	t.Setenv("TENANTFLOW_KAFKA_RELAY_PASSWORD", "relay-password-that-must-not-leak")
	t.Setenv("TENANTFLOW_KEYCLOAK_CLIENT_SECRET", "client-secret-that-must-not-leak")
	t.Setenv("TENANTFLOW_AGENT_KEY", "agent-key-that-must-not-leak")
	tn := tieredTenant(t, "silo")
	if _, err := in.Do(context.Background(), tn); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropState(t, tn) })
	raw, err := os.ReadFile(dump)
	if err != nil {
		t.Fatal(err)
	}
	env := string(raw)
	if strings.Contains(env, "must-not-leak") || strings.Contains(env, "TENANTFLOW_") {
		t.Fatalf("the module's environment holds tenantd's secrets:\n%s", env)
	}
	if !strings.Contains(env, "CLOUD_REGION_FOR_MODULES=eu-test-9") {
		t.Fatalf("the variable passed on purpose is missing:\n%s", env)
	}
}

// OpenTofu keeps state with a role of its own (TENANTFLOW_INFRA_STATE_URL,
// the dev stack's tenantflow_tofu): it applies and destroys a tenant's
// infrastructure in the schema it makes, and reads nothing of the database
// owner's (the event log's tables are the owner's) — OpenTofu and its
// providers see this role, never the owner's.
func TestInfrastructureStateRoleHasLeastPrivilege(t *testing.T) {
	url := testenv.Require(t, "TENANTFLOW_INFRA_STATE_URL")["TENANTFLOW_INFRA_STATE_URL"]
	in := devsteps.Infrastructure(t)
	in.StateConn = url
	ctx := context.Background()
	tn := tieredTenant(t, "silo")
	res, err := in.Do(ctx, tn)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	schema := pgx.Identifier{infrastructure.StateSchema(tn)}.Sanitize()
	t.Cleanup(func() { _, _ = conn.Exec(context.Background(), `drop schema if exists `+schema+` cascade`) }) // the state role owns it
	state := func() string {
		var data string
		if err := conn.QueryRow(ctx, `select data from `+schema+`.states where name = 'default'`).Scan(&data); err != nil {
			t.Fatal(err)
		}
		return data
	}
	if _, err := tn.RecordStep(domain.StepOutcome{Step: domain.StepIdentity, Outcome: domain.OutcomeCompleted, Tries: 1}); err != nil {
		t.Fatal(err)
	}
	for _, s := range domain.Steps[1:slices.Index(domain.Steps, domain.StepInfrastructure)] {
		if _, err := tn.RecordStep(domain.StepOutcome{Step: s, Outcome: domain.OutcomeCompleted, Tries: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tn.RecordStep(domain.StepOutcome{Step: domain.StepInfrastructure, Outcome: domain.OutcomeCompleted, Tries: 1, Resources: res.Resources, Outputs: res.Outputs}); err != nil {
		t.Fatal(err)
	}
	if st := state(); !strings.Contains(st, "lb-"+tn.Key()) {
		t.Fatalf("no state with the state role: %q", st)
	}
	// A table of the database's owner (the log's tables are such ones)
	// beside the state: the state role cannot read it.
	owner, err := pgx.Connect(ctx, testenv.DatabaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close(ctx)
	table := pgx.Identifier{"public", "owners_" + strings.ReplaceAll(tn.ID(), "-", "")}.Sanitize()
	if _, err := owner.Exec(ctx, `create table `+table+` (secret text); insert into `+table+` values ('the owner''s')`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = owner.Exec(context.Background(), `drop table if exists `+table) })
	if _, err := conn.Exec(ctx, "select secret from "+table); err == nil || !strings.Contains(err.Error(), "42501") {
		t.Errorf("the state role reads the owner's table: %v, want permission denied", err)
	}
	if err := in.Undo(ctx, tn); err != nil {
		t.Fatal(err)
	}
	if st := state(); strings.Contains(st, "lb-"+tn.Key()) {
		t.Fatalf("the state role's destroy left the load balancer: %s", st)
	}
}
