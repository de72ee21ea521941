// Package infrastructure is the infrastructure step's back end: OpenTofu on
// the tier's module, its state per tenant, with the undo and the probe.
package infrastructure

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/handlers/step"
	"github.com/tenantflow/tenantflow/platform/childenv"
)

// Infrastructure runs OpenTofu (or Terraform) on the module of the tenant's
// plan tier, or else of the isolation model that tier maps to (so
// "enterprise=silo" runs the silo module unless enterprise has one of its
// own): silo and bridge get infrastructure of their own; a tier without a
// module (pooled) shares what exists and the step is skipped. Inputs are
// tenant_id, tenant_key, tier and region; outputs are recorded in the
// outcome event (and the dns step points the domains at "load_balancer").
// Undo is destroy.
//
// State: with StateConn, OpenTofu's pg backend keeps each tenant's state in
// PostgreSQL, in a schema of its own (StateSchema), with the backend's
// locking, so any handler instance can apply or destroy any tenant's
// infrastructure (the working directory under StateDir is only a scratch
// copy of the module). Without it, state is a local file under StateDir:
// one process only, for development. Modules must not declare a backend.
type Infrastructure struct {
	Binary    string            // tofu or terraform
	Modules   map[string]string // plan tier or isolation model → module directory
	StateDir  string
	StateConn string // PostgreSQL URL for the pg backend ("": local state files)
	Region    string
	Timeout   time.Duration // per command; default 10 minutes
	// PassEnv names the variables of tenantd's environment OpenTofu gets
	// besides childenv.Base (a provider's credentials, say); never TENANTFLOW_*.
	PassEnv []string
	// Grace is how long tofu gets to stop after SIGINT (cancellation,
	// shutdown, timeout) before it is killed: it saves its state and
	// releases its lock in that time (default 30 s).
	Grace time.Duration
}

// StateSchema is the PostgreSQL schema holding a tenant's OpenTofu state.
func StateSchema(t *domain.Tenant) string {
	return "tofu_" + strings.ReplaceAll(t.ID(), "-", "")
}

func (in Infrastructure) workdir(t *domain.Tenant) string {
	return filepath.Join(in.StateDir, "tenant-"+t.ID())
}

// ModuleOutput is the output under which the apply records the module it
// ran: not an OpenTofu output name (those cannot hold a dot), so no module
// can shadow it. The undo destroys with that module, whatever the tier →
// module mapping says by then.
const ModuleOutput = "tenantflow.module"

// appliedModule is the module the tenant's infrastructure was applied
// with, as recorded, or else the one its tier maps to now.
func (in Infrastructure) appliedModule(t *domain.Tenant) (string, bool) {
	if dir := t.Outputs(domain.StepInfrastructure)[ModuleOutput]; dir != "" {
		return dir, true
	}
	return in.module(t)
}

func (in Infrastructure) module(t *domain.Tenant) (string, bool) {
	sub, ok := t.Subscription()
	if !ok {
		return "", false
	}
	if dir, ok := in.Modules[sub.Plan.Tier]; ok {
		return dir, true
	}
	dir, ok := in.Modules[t.Isolation()]
	return dir, ok
}

// run runs one command in the tenant's working directory, bounded by Timeout.
func (in Infrastructure) run(ctx context.Context, dir string, args ...string) ([]byte, error) {
	timeout := in.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Minute
	}
	runCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(runCtx, in.Binary, args...)
	cmd.Dir = dir
	// No CLI configuration: a missing one makes the binary print a warning
	// on stdout, where the outputs are read. The pg backend reads its
	// connection from the environment, so the password is in no argument.
	// An allow-list, never tenantd's whole environment: the providers
	// OpenTofu downloads are not ours (platform/childenv).
	cmd.Env = childenv.Build(in.PassEnv, "TF_IN_AUTOMATION=1", "TF_INPUT=0", "TF_CLI_CONFIG_FILE="+os.DevNull)
	if in.StateConn != "" {
		cmd.Env = append(cmd.Env, "PG_CONN_STR="+in.StateConn)
	}
	// Interrupted (cancellation, shutdown, a partition moving, the
	// timeout), tofu gets SIGINT and Grace to finish writing its state and
	// release its lock, as on Ctrl-C; only then is it killed.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = in.Grace
	if cmd.WaitDelay <= 0 {
		cmd.WaitDelay = 30 * time.Second
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	switch {
	case ctx.Err() != nil: // a transient try: it runs again where the record goes next
		return nil, fmt.Errorf("%s %s interrupted: %w", filepath.Base(in.Binary), args[0], ctx.Err())
	case runCtx.Err() != nil:
		return nil, fmt.Errorf("%s %s timed out after %s", filepath.Base(in.Binary), args[0], timeout)
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s: %v: %s", filepath.Base(in.Binary), args[0], err, tail(stderr.String(), 600))
	}
	return stdout.Bytes(), nil
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// prepare copies the module into the working directory and writes the inputs.
func (in Infrastructure) prepare(t *domain.Tenant, module string) (string, error) {
	dir := in.workdir(t)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", err
	}
	files, err := filepath.Glob(filepath.Join(module, "*.tf"))
	if err != nil || len(files) == 0 {
		return "", step.Permanent(fmt.Errorf("module %s has no .tf files", module))
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), raw, 0o640); err != nil {
			return "", err
		}
	}
	if in.StateConn != "" {
		backend := "# Written by tenantflow: the tenant's state lives in PostgreSQL.\nterraform {\n  backend \"pg\" {}\n}\n"
		if err := os.WriteFile(filepath.Join(dir, "tenantflow_backend.tf"), []byte(backend), 0o640); err != nil {
			return "", err
		}
	}
	sub, _ := t.Subscription()
	// The plan's size and its sizeConfig (as JSON text: a module decodes
	// what it uses with jsondecode) size what the module makes.
	sizeConfig := string(sub.Plan.SizeConfig)
	if sizeConfig == "" {
		sizeConfig = "{}"
	}
	vars, _ := json.Marshal(map[string]string{"tenant_id": t.ID(), "tenant_key": t.Key(), "tier": sub.Plan.Tier, "region": in.Region,
		"size": sub.Plan.Size, "size_config": sizeConfig})
	return dir, os.WriteFile(filepath.Join(dir, "terraform.tfvars.json"), vars, 0o640)
}

// init initializes the working directory: with the pg backend, on the
// tenant's schema (created by the backend when missing).
func (in Infrastructure) init(ctx context.Context, t *domain.Tenant, dir string) error {
	args := []string{"init", "-input=false", "-no-color"}
	if in.StateConn != "" {
		args = append(args, "-reconfigure", "-backend-config=schema_name="+StateSchema(t))
	}
	_, err := in.run(ctx, dir, args...)
	return err
}

// stateResource names where the tenant's state lives, as recorded.
func (in Infrastructure) stateResource(t *domain.Tenant) domain.Resource {
	if in.StateConn != "" {
		return domain.Resource{Step: domain.StepInfrastructure, Kind: "tofu-state", ID: StateSchema(t), Location: "postgresql"}
	}
	return domain.Resource{Step: domain.StepInfrastructure, Kind: "tofu-state", ID: filepath.Join(in.workdir(t), "terraform.tfstate"), Location: "file://" + in.StateDir}
}

func (in Infrastructure) Do(ctx context.Context, t *domain.Tenant) (step.Result, error) {
	module, ok := in.module(t)
	if !ok {
		return step.Result{Skipped: true}, nil // pooled: shared infrastructure
	}
	dir, err := in.prepare(t, module)
	if err != nil {
		return step.Result{}, err
	}
	if err := in.init(ctx, t, dir); err != nil {
		return step.Result{}, err
	}
	if _, err := in.run(ctx, dir, "apply", "-auto-approve", "-input=false", "-no-color", "-lock-timeout=60s"); err != nil {
		return step.Result{}, err
	}
	raw, err := in.run(ctx, dir, "output", "-json", "-no-color")
	if err != nil {
		return step.Result{}, err
	}
	outputs, err := publicOutputs(raw)
	if err != nil {
		return step.Result{}, err
	}
	outputs[ModuleOutput] = module
	return step.Result{Outputs: outputs, Resources: []domain.Resource{in.stateResource(t)}}, nil
}

// publicOutputs reads `tofu output -json`: every output as text, except
// those the module marks sensitive, which stay in the OpenTofu state and
// never reach an event (events go to Kafka and the analytics stream).
func publicOutputs(raw []byte) (map[string]string, error) {
	var outs map[string]struct {
		Sensitive bool `json:"sensitive"`
		Value     any  `json:"value"`
	}
	if err := json.Unmarshal(raw, &outs); err != nil {
		return nil, fmt.Errorf("read outputs: %w", err)
	}
	out := map[string]string{}
	for name, o := range outs {
		switch v := o.Value.(type) {
		case string:
			out[name] = v
		default:
			b, _ := json.Marshal(v)
			out[name] = string(b)
		}
		if o.Sensitive {
			delete(out, name)
		}
	}
	return out, nil
}

func (in Infrastructure) Undo(ctx context.Context, t *domain.Tenant) error {
	module, ok := in.appliedModule(t)
	if !ok {
		return in.unmapped(ctx, t)
	}
	dir := in.workdir(t)
	if in.StateConn == "" {
		// Local state (one process, development): no working directory means
		// never applied or destroyed already; this mode cannot tell a lost one.
		if _, err := os.Stat(filepath.Join(dir, "terraform.tfvars.json")); errors.Is(err, os.ErrNotExist) {
			return nil
		}
	}
	if in.StateConn != "" {
		// Read before init, which would create an empty state: no state at
		// all is a lost one (or a step that never got to init).
		exists, resources, err := in.storedState(ctx, t)
		switch {
		case err != nil:
			return err
		case !exists:
			return in.missingState(t)
		case resources == 0: // never applied, or destroyed already (a repeated undo)
			return os.RemoveAll(dir)
		}
	}
	// The module files again (destroy needs the configuration): on any
	// instance, the state coming from PostgreSQL.
	if _, err := in.prepare(t, module); err != nil {
		return err
	}
	if err := in.init(ctx, t, dir); err != nil {
		return err
	}
	if _, err := in.run(ctx, dir, "destroy", "-auto-approve", "-input=false", "-no-color", "-lock-timeout=60s"); err != nil {
		return err
	}
	return os.RemoveAll(dir)
}

// storedState reads the tenant's state as the pg backend stores it (table
// states of the tenant's schema, workspace "default"): whether there is one,
// and how many resources it holds.
func (in Infrastructure) storedState(ctx context.Context, t *domain.Tenant) (exists bool, resources int, err error) {
	conn, err := pgx.Connect(ctx, in.StateConn)
	if err != nil {
		return false, 0, fmt.Errorf("read OpenTofu state: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var data []byte
	err = conn.QueryRow(ctx, `select data from `+pgx.Identifier{StateSchema(t), "states"}.Sanitize()+` where name = 'default'`).Scan(&data)
	var pe *pgconn.PgError
	switch {
	case errors.Is(err, pgx.ErrNoRows), errors.As(err, &pe) && (pe.Code == "42P01" || pe.Code == "3F000"): // no row, table or schema
		return false, 0, nil
	case err != nil:
		return false, 0, fmt.Errorf("read OpenTofu state: %w", err)
	}
	var state struct {
		Resources []json.RawMessage `json:"resources"`
	}
	if err := json.Unmarshal(data, &state); err != nil {
		return true, 0, fmt.Errorf("OpenTofu state of tenant %s is not JSON: %w", t.ID(), err)
	}
	return true, len(state.Resources), nil
}

// unmapped is the undo's answer when no module is recorded and the tier
// maps to none now: nothing to do for a tier that never had one (pooled),
// but a state that holds resources, or an apply the log recorded, means the
// mapping changed under the tenant — destroying is impossible without the
// module, and claiming success would hide what is left.
func (in Infrastructure) unmapped(ctx context.Context, t *domain.Tenant) error {
	applied := in.applied(t)
	if in.StateConn != "" {
		exists, resources, err := in.storedState(ctx, t)
		if err != nil {
			return err
		}
		applied = applied || (exists && resources > 0)
	}
	if !applied {
		return nil
	}
	sub, _ := t.Subscription()
	return step.Permanent(fmt.Errorf("tenant %s's infrastructure (%s) was applied, but no module is recorded and tier %q (isolation %s) maps to none now: "+
		"map it again in TENANTFLOW_INFRA_MODULES and retry the undo", t.ID(), in.stateResource(t).ID, sub.Plan.Tier, t.Isolation()))
}

// applied reports whether the log says the step applied something for t:
// it recorded its state, in this attempt or as an orphan.
func (in Infrastructure) applied(t *domain.Tenant) bool {
	isInfra := func(r domain.Resource) bool { return r.Step == domain.StepInfrastructure }
	return slices.ContainsFunc(t.Resources(), isInfra) || slices.ContainsFunc(t.Orphans(), isInfra)
}

// missingState is the undo's answer when the tenant has no state at all:
// nothing to do if the step never applied, else a permanent failure —
// whatever the lost state described may still exist, and the step's
// recorded state becomes the tenant's orphan for an operator, instead of a
// "compensated" that lies.
func (in Infrastructure) missingState(t *domain.Tenant) error {
	// The step recorded its state when its apply ran: then one must exist.
	if !in.applied(t) {
		return nil
	}
	return step.Permanent(fmt.Errorf("no OpenTofu state for tenant %s (%s): what it described may still exist", t.ID(), in.stateResource(t).ID))
}

func (in Infrastructure) Probe(ctx context.Context, t *domain.Tenant) ([]domain.Resource, error) {
	if in.StateConn == "" {
		state := in.stateResource(t)
		if _, err := os.Stat(state.ID); err != nil {
			return nil, nil
		}
		return []domain.Resource{state}, nil
	}
	// The state in PostgreSQL, as the pg backend stores it.
	if _, ok := in.appliedModule(t); !ok && !in.applied(t) {
		return nil, nil
	}
	exists, resources, err := in.storedState(ctx, t)
	if err != nil || !exists || resources == 0 {
		return nil, err
	}
	return []domain.Resource{in.stateResource(t)}, nil
}
