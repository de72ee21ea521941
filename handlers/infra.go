package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/tenantflow/tenantflow/domain"
)

// Infrastructure runs OpenTofu (or Terraform) on the module of the tenant's
// plan tier, or else of the isolation model that tier maps to (so
// "enterprise=silo" runs the silo module unless enterprise has one of its
// own): silo and bridge get infrastructure of their own; a tier without a
// module (pooled) shares what exists and the step is skipped. Each tenant
// has its own working directory and local state under StateDir; inputs are
// tenant_id, tenant_key, tier and region; outputs are recorded in the
// outcome event (and the dns step points the domains at "load_balancer").
// Undo is destroy.
type Infrastructure struct {
	Binary   string            // tofu or terraform
	Modules  map[string]string // plan tier or isolation model → module directory
	StateDir string
	Region   string
	Timeout  time.Duration // per command; default 10 minutes
}

func (in Infrastructure) workdir(t *domain.Tenant) string {
	return filepath.Join(in.StateDir, "tenant-"+t.ID())
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
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, in.Binary, args...)
	cmd.Dir = dir
	// No CLI configuration: a missing one makes the binary print a warning
	// on stdout, where the outputs are read.
	cmd.Env = append(os.Environ(), "TF_IN_AUTOMATION=1", "TF_INPUT=0", "TF_CLI_CONFIG_FILE="+os.DevNull)
	cmd.WaitDelay = 10 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
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
		return "", Permanent(fmt.Errorf("module %s has no .tf files", module))
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
	sub, _ := t.Subscription()
	vars, _ := json.Marshal(map[string]string{"tenant_id": t.ID(), "tenant_key": t.Key(), "tier": sub.Plan.Tier, "region": in.Region})
	return dir, os.WriteFile(filepath.Join(dir, "terraform.tfvars.json"), vars, 0o640)
}

func (in Infrastructure) Do(ctx context.Context, t *domain.Tenant) (Result, error) {
	module, ok := in.module(t)
	if !ok {
		return Result{Skipped: true}, nil // pooled: shared infrastructure
	}
	dir, err := in.prepare(t, module)
	if err != nil {
		return Result{}, err
	}
	if _, err := in.run(ctx, dir, "init", "-input=false", "-no-color"); err != nil {
		return Result{}, err
	}
	if _, err := in.run(ctx, dir, "apply", "-auto-approve", "-input=false", "-no-color", "-lock-timeout=60s"); err != nil {
		return Result{}, err
	}
	raw, err := in.run(ctx, dir, "output", "-json", "-no-color")
	if err != nil {
		return Result{}, err
	}
	var outs map[string]struct {
		Value any `json:"value"`
	}
	if err := json.Unmarshal(raw, &outs); err != nil {
		return Result{}, fmt.Errorf("read outputs: %w", err)
	}
	res := Result{Outputs: map[string]string{},
		Resources: []domain.Resource{{Step: domain.StepInfrastructure, Kind: "tofu-state", ID: filepath.Join(dir, "terraform.tfstate"), Location: "file://" + in.StateDir}}}
	for name, o := range outs {
		if s, ok := o.Value.(string); ok {
			res.Outputs[name] = s
		} else {
			b, _ := json.Marshal(o.Value)
			res.Outputs[name] = string(b)
		}
	}
	return res, nil
}

func (in Infrastructure) Undo(ctx context.Context, t *domain.Tenant) error {
	dir := in.workdir(t)
	if _, err := os.Stat(filepath.Join(dir, "terraform.tfvars.json")); errors.Is(err, os.ErrNotExist) {
		return nil // never applied, or destroyed already
	}
	if module, ok := in.module(t); ok { // refresh the module files: destroy needs the configuration
		if _, err := in.prepare(t, module); err != nil {
			return err
		}
	}
	if _, err := in.run(ctx, dir, "init", "-input=false", "-no-color"); err != nil {
		return err
	}
	if _, err := in.run(ctx, dir, "destroy", "-auto-approve", "-input=false", "-no-color", "-lock-timeout=60s"); err != nil {
		return err
	}
	return os.RemoveAll(dir)
}
