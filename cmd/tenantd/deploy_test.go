package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/internal/testkit/kafkatest"
	"github.com/tenantflow/tenantflow/internal/testkit/mailtest"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
	"github.com/tenantflow/tenantflow/internal/testkit/wait"
	"github.com/tenantflow/tenantflow/platform/auth"
	"github.com/tenantflow/tenantflow/platform/deployauth"
)

const (
	testSigningKey = "deploy-signing-key-for-tests-0123456789"
	testAgentKey   = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
)

// startAgent runs the reference agent binary, deploying by making a
// directory per tenant under dir and printing its endpoint: that directory
// served over HTTP (an application that answers while it is deployed, 404
// once it is gone); its undo fails while a file <key>.keep exists.
func startAgent(t *testing.T, env map[string]string, control, dir string) *exec.Cmd {
	t.Helper()
	apps := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(apps.Close)
	cmd := exec.Command(binary(t, "../appplane-agent"), "--control", control, "--group", "test-agent-"+uuid.NewString()[:8],
		"--pass-env", "DIR,APPS", "--state", filepath.Join(t.TempDir(), "agent.json"), "--deploy", "sh", "--deploy=-c", "--deploy", `mkdir -p "$DIR/$TENANT_KEY" && echo "$TENANT_DOMAINS" > "$DIR/$TENANT_KEY/domains" && echo "$TENANT_PIPELINE" > "$DIR/$TENANT_KEY/pipeline" && echo "$TENANT_SIZE $TENANT_SIZE_CONFIG" > "$DIR/$TENANT_KEY/size" && echo "$APPS/$TENANT_KEY/"`,
		"--undo", "sh", "--undo=-c", "--undo", `test ! -e "$DIR/$TENANT_KEY.keep" && rm -rf "$DIR/$TENANT_KEY" && echo "$TENANT_PIPELINE" > "$DIR/$TENANT_KEY.undone"`,
		"--suspend", "sh", "--suspend=-c", "--suspend", `echo suspended > "$DIR/$TENANT_KEY/state"`,
		"--resume", "sh", "--resume=-c", "--resume", `echo resumed > "$DIR/$TENANT_KEY/state"`)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "DIR=" + dir, "APPS=" + apps.URL,
		"TENANTFLOW_KAFKA_BROKERS=" + env["TENANTFLOW_KAFKA_BROKERS"], "TENANTFLOW_KAFKA_TOPIC=" + env["TENANTFLOW_KAFKA_TOPIC"],
		"TENANTFLOW_AGENT_KEY=" + testAgentKey}
	_, agentEnv := kafkatest.Principal(t, "agent") // the agent signs in as its own principal
	for k, v := range agentEnv {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("agent output:\n%s", out)
		}
	})
	return cmd
}

func (p *proc) tenant(t *testing.T, token, id string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, p.base+"/tenants/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return out
}

func (p *proc) waitStatus(t *testing.T, token, id, status string) map[string]any {
	t.Helper()
	return wait.Value(t, 90*time.Second, func() (map[string]any, error) {
		tn := p.tenant(t, token, id)
		if tn["status"] == status {
			return tn, nil
		}
		return nil, fmt.Errorf("tenant %s is not %s: %v", id, status, tn)
	})
}

// eventTypes lists the types of tenant id's events in order, with the
// actor of each: "type by actor".
func (p *proc) eventTypes(t *testing.T, token, id string) []string {
	t.Helper()
	var out []string
	for next := "/tenants/" + id + "/events?limit=500"; next != ""; {
		code, page := p.send(t, token, http.MethodGet, next, "")
		if code != http.StatusOK {
			t.Fatalf("events of %s: %d %v", id, code, page)
		}
		for _, e := range page["events"].([]any) {
			ev := e.(map[string]any)
			actor, _ := ev["metadata"].(map[string]any)["actor"].(string)
			out = append(out, ev["type"].(string)+" by "+actor)
		}
		next, _ = page["next"].(string)
	}
	return out
}

// orphansOf lists a tenant's orphans as "step/kind/id".
func orphansOf(tn map[string]any) []string {
	var out []string
	for _, o := range asList(tn["orphans"]) {
		r := o.(map[string]any)
		out = append(out, fmt.Sprintf("%v/%v/%v", r["step"], r["kind"], r["id"]))
	}
	return out
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

// report posts a deployment report signed with secret.
func (p *proc) report(t *testing.T, id string, secret []byte, body string) (int, map[string]any) {
	t.Helper()
	ts, sig := deployauth.Sign(secret, time.Now(), []byte(body))
	req, _ := http.NewRequest(http.MethodPost, p.base+"/tenants/"+id+"/deployment", bytes.NewReader([]byte(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(deployauth.HeaderTimestamp, ts)
	req.Header.Set(deployauth.HeaderSignature, sig)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// The deploy step through the application plane's agent: deployed and
// reported; a bad signature refused; a replayed report ignored; removed on
// deprovisioning; no report before the deadline fails and rolls back, and a
// late report is ignored.
func TestDeploymentThroughTheAgent(t *testing.T) {
	env := devStackEnv(t)
	env["TENANTFLOW_JWT_SECRET"] = "tenantd-test-secret-tenantd-test-secret"
	env["TENANTFLOW_SMTP_ADDR"] = mailtest.SMTPAddr(t)
	env["TENANTFLOW_DEPLOY_SIGNING_KEY"] = testSigningKey
	env["TENANTFLOW_AGENT_KEY"] = testAgentKey
	env["TENANTFLOW_DEPLOY_DEADLINE"] = "4s"
	for k, v := range testenv.Require(t, "TENANTFLOW_INFRA_BINARY", "TENANTFLOW_INFRA_MODULES") {
		env[k] = v // silo tenants get infrastructure, destroyed after their deployment's removal
	}
	env["TENANTFLOW_INFRA_STATE_DIR"] = t.TempDir()
	p := start(t, env)
	p.readyzUntil(t, "ready", isReady)
	signer, _ := auth.NewHS256(env["TENANTFLOW_JWT_SECRET"], "tenantflow")
	op, _ := signer.Mint("deploy-test", []string{auth.CreateTenant, auth.ProvisionTenant, auth.ViewTenant, auth.DeleteTenant}, "", time.Hour, time.Now())
	dir := t.TempDir()
	agent := startAgent(t, env, p.base, dir)
	var provisionTier func(prefix, tier string) (string, string)

	provision := func(prefix string) (string, string) { return provisionTier(prefix, "pooled") }
	provisionTier = func(prefix, tier string) (string, string) {
		key := prefix + strings.ReplaceAll(uuid.NewString(), "-", "")[:7]
		id := p.post(t, op, "/tenants", `{"key":"`+key+`","name":"D","contact":{"email":"`+key+`@example.com","firstName":"D","lastName":"E"}}`)["id"].(string)
		p.post(t, op, "/tenants/"+id+"/provision", `{"id":"s","subscriberId":"c","planId":"p","startDate":"2026-11-26T00:00:00Z","status":1,
			"plan":{"id":"p","name":"P","price":1,"currencyId":"EUR","tier":"`+tier+`","billingCycleId":"monthly","metaData":{"pipelineName":"pooled-pipeline"},
			"size":"LARGE","sizeConfig":{"maxUsers":100}}}`)
		t.Cleanup(func() { deleteRealm(t, env, "tenant-"+key) })
		return id, key
	}

	id, key := provision("dep")
	tn := p.waitStatus(t, op, id, "ACTIVE")
	if _, err := os.Stat(filepath.Join(dir, key)); err != nil {
		t.Fatalf("the agent did not deploy: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, key, "pipeline")); strings.TrimSpace(string(got)) != "pooled-pipeline" {
		t.Fatalf("the deploy command got TENANT_PIPELINE=%q, want the plan's metaData.pipelineName", got)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, key, "size")); strings.TrimSpace(string(got)) != `LARGE {"maxUsers":100}` {
		t.Fatalf("the deploy command got TENANT_SIZE and TENANT_SIZE_CONFIG %q, want the plan's size and sizeConfig", got)
	}
	for _, s := range tn["steps"].([]any) {
		if st := s.(map[string]any); st["step"] == "deploy" && st["state"] != "completed" {
			t.Fatalf("deploy step %v", st)
		}
	}
	deployed := false
	for _, r := range asList(tn["resources"]) {
		if r := r.(map[string]any); r["step"] == "deploy" && r["kind"] == "deployment" && r["id"] == key && strings.HasSuffix(r["location"].(string), "/"+key+"/") {
			deployed = true
		}
	}
	if !deployed {
		t.Fatalf("the deployment is not among the tenant's resources: %v", tn["resources"])
	}
	// tenantctl drift asks the endpoint the agent reported: live while the
	// application answers there, missing once it is gone behind tenantflow's
	// back.
	if out := p.tenantctl(t, env, "drift", "--tenant", key); !strings.Contains(out, "no drift") {
		t.Fatalf("drift right after the deployment:\n%s", out)
	}
	if err := os.Rename(filepath.Join(dir, key), filepath.Join(dir, key+".moved")); err != nil {
		t.Fatal(err)
	}
	if out, err := runTenantctl(t, env, "drift", "--tenant", key); err == nil || !strings.Contains(out, "MISSING deployment "+key) {
		t.Fatalf("drift with the application gone: %v\n%s", err, out)
	}
	if err := os.Rename(filepath.Join(dir, key+".moved"), filepath.Join(dir, key)); err != nil {
		t.Fatal(err)
	}

	secret := deployauth.Secret([]byte(testSigningKey), id, 1)
	wrong := deployauth.Secret([]byte("someone-else-entirely-different-key"), id, 1)
	if code, _ := p.report(t, id, wrong, `{"attempt":1,"status":"deployed"}`); code != http.StatusUnauthorized {
		t.Fatalf("bad signature: %d, want 401", code)
	}
	if code, body := p.report(t, id, secret, `{"attempt":1,"status":"failed","error":"replayed"}`); code != http.StatusOK || body["recorded"] != false {
		t.Fatalf("replayed report: %d %v, want 200 ignored", code, body)
	}
	if p.tenant(t, op, id)["status"] != "ACTIVE" {
		t.Fatal("a replayed report changed the tenant")
	}

	// Deprovisioning asks the agent to remove the deployment.
	waitNotified(t, p, op, id)
	req, _ := http.NewRequest(http.MethodDelete, p.base+"/tenants/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+op)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("delete: %v %v", resp, err)
	}
	p.waitStatus(t, op, id, "INACTIVE")
	wait.For(t, 30*time.Second, func() error {
		if _, err := os.Stat(filepath.Join(dir, key)); !os.IsNotExist(err) {
			return fmt.Errorf("the agent has not removed the deployment (%v)", err)
		}
		return nil
	})
	wait.For(t, 30*time.Second, func() error {
		got, err := os.ReadFile(filepath.Join(dir, key+".undone"))
		if err == nil && strings.TrimSpace(string(got)) == "pooled-pipeline" {
			return nil
		}
		return fmt.Errorf("the undo command got TENANT_PIPELINE=%q (%v), want the plan's metaData.pipelineName", got, err)
	})

	// The removal is confirmed by the agent before the undo chain goes on:
	// the deploy step's compensated is the agent's report, after the
	// request, and every earlier step's undo comes after it.
	history := p.eventTypes(t, op, id)
	requested := slices.Index(history, "tenant.deployment.undo_requested by handler:step.deploy")
	confirmed := slices.Index(history, "tenant.deploy.compensated by appplane-agent")
	if requested < 0 || confirmed < requested {
		t.Fatalf("the deployment's removal was not requested, then confirmed by the agent:\n%s", strings.Join(history, "\n"))
	}
	later := domain.UndoableSteps[slices.Index(domain.UndoableSteps, domain.StepDeploy)+1:] // undone before the deployment
	for i, e := range history {
		step, _, _ := strings.Cut(strings.TrimPrefix(e, "tenant."), ".")
		if strings.Contains(e, ".compensated by") && i < confirmed && !slices.Contains(later, step) {
			t.Fatalf("%q was recorded before the deployment's removal was confirmed:\n%s", e, strings.Join(history, "\n"))
		}
	}

	// A removal the application plane fails is an orphan naming the
	// deployment, and the silo tenant's infrastructure is destroyed only
	// after that report; once the removal works, "tenantctl orphans retry"
	// asks again and the agent's confirmation takes the orphan off.
	kept, keptKey := provisionTier("kep", "silo")
	p.waitStatus(t, op, kept, "ACTIVE")
	waitNotified(t, p, op, kept)
	if err := os.WriteFile(filepath.Join(dir, keptKey+".keep"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, body := p.send(t, op, http.MethodDelete, "/tenants/"+kept, ""); code != http.StatusAccepted {
		t.Fatalf("delete: %d %v", code, body)
	}
	left := p.waitStatus(t, op, kept, "INACTIVE")
	if got := orphansOf(left); !slices.Equal(got, []string{"deploy/deployment/" + keptKey}) {
		t.Fatalf("after a failed removal the orphans are %v, want the deployment", got)
	}
	if _, err := os.Stat(filepath.Join(dir, keptKey)); err != nil {
		t.Fatalf("the deployment the agent could not remove is gone: %v", err)
	}
	history = p.eventTypes(t, op, kept)
	failedAt := slices.Index(history, "tenant.deploy.compensation_failed by appplane-agent")
	destroyedAt := slices.IndexFunc(history, func(e string) bool { return strings.HasPrefix(e, "tenant.infrastructure.compensated by") })
	if failedAt < 0 || destroyedAt < failedAt {
		t.Fatalf("the infrastructure was not destroyed after the agent's report on the deployment:\n%s", strings.Join(history, "\n"))
	}
	_ = os.Remove(filepath.Join(dir, keptKey+".keep"))
	orphanOps, _ := signer.Mint("deploy-test", []string{auth.ManageOrphans, auth.ViewTenant}, "", time.Hour, time.Now())
	p.tenantctl(t, map[string]string{"TENANTCTL_TOKEN": orphanOps}, "orphans", "retry", kept)
	wait.For(t, 60*time.Second, func() error {
		if tn := p.tenant(t, op, kept); len(orphansOf(tn)) != 0 || tn["status"] != "INACTIVE" {
			return fmt.Errorf("the retried removal has not taken the orphan off: %v", tn)
		}
		return nil
	})
	if _, err := os.Stat(filepath.Join(dir, keptKey)); !os.IsNotExist(err) {
		t.Fatalf("the orphan went but the deployment is still there: %v", err)
	}

	// Without an agent, the deadline fails the step and the attempt rolls
	// back; the removal nobody confirms fails at its own deadline and leaves
	// the deployment as an orphan, never "compensated".
	_ = agent.Process.Kill()
	late, _ := provision("lat")
	failed := p.waitStatus(t, op, late, "PROVISION_FAILED")
	if !strings.Contains(failed["lastError"].(string), "deploy: no deployment report within 4s") {
		t.Fatalf("lastError %v", failed["lastError"])
	}
	if got, lateKey := orphansOf(failed), failed["key"]; !slices.Equal(got, []string{fmt.Sprintf("deploy/deployment/%v", lateKey)}) {
		t.Fatalf("an unconfirmed removal left orphans %v, want the deployment", got)
	}
	if h := p.eventTypes(t, op, late); slices.Contains(h, "tenant.deploy.compensated by handler:step.deploy") ||
		!slices.Contains(h, "tenant.deploy.compensation_failed by handler:step.deploy") {
		t.Fatalf("the unconfirmed removal was not recorded as compensation_failed:\n%s", strings.Join(h, "\n"))
	}
	if code, body := p.report(t, late, deployauth.Secret([]byte(testSigningKey), late, 1), `{"attempt":1,"status":"deployed"}`); code != http.StatusOK || body["recorded"] != false {
		t.Fatalf("late report: %d %v, want 200 ignored", code, body)
	}
	if p.tenant(t, op, late)["status"] != "PROVISION_FAILED" {
		t.Fatal("a late report changed the tenant")
	}
	status := exec.Command(binary(t, "../tenantctl"), "status", late, "--wait=30s")
	status.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TENANTCTL_URL=" + p.base, "TENANTCTL_TOKEN=" + op}
	if out, err := status.CombinedOutput(); err == nil || !strings.Contains(string(out), "✖ deploy") {
		t.Fatalf("tenantctl status on a failed tenant: %v\n%q", err, out)
	}
	if !strings.Contains(p.out.String(), "deployment report ignored") {
		t.Fatal("the late report was not logged")
	}
	for name, secret := range map[string]string{"signing key": testSigningKey, "agent key": testAgentKey,
		"report secret": hex.EncodeToString(secret), "token": op} {
		if strings.Contains(p.out.String(), secret) {
			t.Errorf("tenantd logged the %s", name)
		}
	}
	p.stop(t)
}

// waitNotified waits until the tenant's welcome mail is recorded: a DELETE
// racing that append would get the (correct) 409 of a concurrent change.
func waitNotified(t *testing.T, p *proc, token, id string) {
	t.Helper()
	wait.For(t, 30*time.Second, func() error {
		for _, s := range p.tenant(t, token, id)["steps"].([]any) {
			if st := s.(map[string]any); st["step"] == "notify" && st["state"] != "pending" {
				return nil
			}
		}
		return errors.New("the welcome mail is not recorded")
	})
}
