package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/Nerzal/gocloak/v13"
	"github.com/google/uuid"
	"github.com/tenantflow/tenantflow/internal/testkit/mailtest"
	"github.com/tenantflow/tenantflow/internal/testkit/wait"
)

// tenantctl runs the real tenantctl binary against p with env and returns
// its standard output; a non-zero exit fails the test.
func (p *proc) tenantctl(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	out, err := p.tenantctlCmd(t, env, args...).Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("tenantctl %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
	}
	return string(out)
}

func field(t *testing.T, out, name string) any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	return m[name]
}

// TestSignUpPathWithTenantctl walks the sign-up path of docs/api.md on a running
// tenantd with the real tenantctl: lead → mail (the dev stack's SMTP server)
// → verify → tenant → provision → get, list (the projection tenantd runs) and
// history.
func TestSignUpPathWithTenantctl(t *testing.T) {
	env := devStackEnv(t)
	env["TENANTFLOW_JWT_SECRET"] = "tenantd-test-secret-tenantd-test-secret"
	env["TENANTFLOW_SMTP_ADDR"] = mailtest.SMTPAddr(t)
	env["TENANTFLOW_STEP_RETRY_BASE"] = "50ms"
	p := start(t, env)
	_, ready := p.readyzUntil(t, "ready", isReady)
	if ready.Checks["smtp"] != "ok" {
		t.Fatalf("readyz does not check smtp: %v", ready.Checks)
	}
	email := "ctl-" + uuid.NewString()[:8] + "@example.com"
	none := map[string]string{}

	leadID, _ := field(t, p.tenantctl(t, none, "lead", "create", "--first-name=Ada", "--last-name=Lovelace",
		"--email="+email, "--company=Analytical Engines"), "id").(string)
	mail := mailtest.WaitFor(t, email, 15*time.Second)
	m := regexp.MustCompile(`token: (\S+)`).FindStringSubmatch(mail.Body)
	if leadID == "" || m == nil {
		t.Fatalf("lead %q, mail:\n%s", leadID, mail.Body)
	}
	leadToken := strings.TrimSpace(p.tenantctl(t, none, "lead", "verify", leadID, "--mailed-token="+m[1]))
	suffix := strings.ReplaceAll(uuid.NewString(), "-", "")[:7] // realms and roles are shared by every test run
	tenant := p.tenantctl(t, map[string]string{"TENANTCTL_TOKEN": leadToken}, "lead", "tenant", leadID, "--key=eng"+suffix, "--domain=engines.example.com")
	tenantID, _ := field(t, tenant, "id").(string)
	if field(t, tenant, "status") != "PENDING_PROVISION" {
		t.Fatalf("tenant: %s", tenant)
	}

	operator := strings.TrimSpace(p.tenantctl(t, map[string]string{"TENANTFLOW_JWT_SECRET": env["TENANTFLOW_JWT_SECRET"]},
		"token", "--permissions=10216,10207"))
	as := map[string]string{"TENANTCTL_TOKEN": operator}
	sub := filepath.Join(t.TempDir(), "subscription.json")
	if err := os.WriteFile(sub, []byte(`{"id":"sub-1","subscriberId":"cust-1","planId":"basic","startDate":"2026-11-26T00:00:00Z",
		"status":1,"plan":{"id":"basic","name":"Basic","price":49,"currencyId":"EUR","tier":"pooled","billingCycleId":"monthly"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := p.tenantctl(t, as, "tenant", "provision", tenantID, "--subscription="+sub); field(t, out, "status") != "PROVISIONING" {
		t.Fatalf("provision: %s", out)
	}
	// tenantctl status follows it until it settles and exits 0 on ACTIVE.
	live := p.tenantctl(t, as, "status", tenantID, "--wait=90s")
	for _, want := range []string{"ACTIVE", "✔ idp", "✔ admin_user", "✔ database", "– infrastructure", "✔ notify"} {
		if !strings.Contains(live, want) {
			t.Fatalf("tenantctl status lacks %q:\n%s", want, live)
		}
	}
	// The handlers in tenantd provisioned it: ACTIVE, in the list, with its history.
	wait.For(t, 90*time.Second, func() error {
		if got := p.tenantctl(t, as, "tenant", "get", tenantID); field(t, got, "status") != "ACTIVE" {
			return fmt.Errorf("not ACTIVE: %s", got)
		}
		return nil
	})
	wait.For(t, 30*time.Second, func() error {
		if !strings.Contains(p.tenantctl(t, as, "tenant", "list", "--status=ACTIVE"), tenantID) {
			return errors.New("the tenant is not in the list: tenantd's projection does not follow the log")
		}
		return nil
	})
	events, _ := field(t, p.tenantctl(t, as, "tenant", "events", tenantID), "events").([]any)
	if len(events) < 12 {
		t.Fatalf("history of %d events: %v", len(events), events)
	}
	t.Cleanup(func() { deleteRealm(t, env, "tenant-eng"+suffix) })

	// Keycloak mailed the admin a set-password link; once a password is set
	// (here through the admin API, as the link would), the admin logs in to
	// the tenant's realm with a password grant.
	mailtest.WaitForSubject(t, email, "is ready", 15*time.Second)
	setPassword := mailtest.WaitForSubject(t, email, "Update Your Account", 15*time.Second)
	if !strings.Contains(setPassword.Body, "/realms/tenant-eng"+suffix+"/login-actions/action-token") {
		t.Fatalf("Keycloak's mail holds no set-password link:\n%s", setPassword.Body)
	}
	adminLogin(t, env, "tenant-eng"+suffix, email)

	// Metrics moved: the provisioning's requests, steps, relay and state gauges.
	resp, err := http.Get(p.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	scraped, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`tenantflow_http_requests_total{method="POST",route="/tenants/{id}/provision",status="202"} 1`,
		`tenantflow_step_outcomes_total{outcome="completed",step="idp"} 1`,
		`tenantflow_step_outcomes_total{outcome="completed",step="storage"} 1`,
		`tenantflow_step_outcomes_total{outcome="skipped",step="infrastructure"} 1`,
		`tenantflow_tenants{status="ACTIVE"} 1`,
		`tenantflow_dlq_size 0`,
		`tenantflow_step_duration_seconds_count{step="admin_user"} 1`,
		`tenantflow_projection_lag_positions{projection="tenants"}`,
		`tenantflow_consumer_lag_records{group="` + env["TENANTFLOW_KAFKA_GROUP_PREFIX"] + `.handlers"}`,
		`tenantflow_relay_backlog_events`,
	} {
		if !strings.Contains(string(scraped), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if m := regexp.MustCompile(`tenantflow_relay_published_total (\d+)`).FindStringSubmatch(string(scraped)); m == nil || m[1] == "0" {
		t.Errorf("relay published nothing: %v", m)
	}
	// No secret in any log line of the whole provisioning.
	for name, secret := range map[string]string{"JWT secret": env["TENANTFLOW_JWT_SECRET"], "Keycloak admin password": env["TENANTFLOW_KEYCLOAK_ADMIN_PASSWORD"],
		"mailed token": m[1], "lead token": leadToken, "operator token": operator} {
		if strings.Contains(p.out.String(), secret) {
			t.Errorf("tenantd logged the %s", name)
		}
	}

	// Drift: none, until the realm is deleted behind tenantflow's back.
	if out := p.tenantctl(t, env, "drift", "--tenant", "eng"+suffix); !strings.Contains(out, "no drift") {
		t.Fatalf("drift right after provisioning:\n%s", out)
	}
	deleteRealm(t, env, "tenant-eng"+suffix)
	out, err := runTenantctl(t, env, "drift", "--tenant", "eng"+suffix)
	if err == nil || !strings.Contains(out, "MISSING keycloak-realm tenant-eng"+suffix) {
		t.Fatalf("drift after deleting the realm: %v\n%s", err, out)
	}
	p.stop(t)
}

func keycloakAdmin(t *testing.T, env map[string]string) (*gocloak.GoCloak, string) {
	t.Helper()
	kc := gocloak.NewClient(env["TENANTFLOW_KEYCLOAK_URL"])
	tok, err := kc.LoginAdmin(context.Background(), env["TENANTFLOW_KEYCLOAK_ADMIN_USER"], env["TENANTFLOW_KEYCLOAK_ADMIN_PASSWORD"], "master")
	if err != nil {
		t.Fatal(err)
	}
	return kc, tok.AccessToken
}

func adminLogin(t *testing.T, env map[string]string, realm, email string) {
	t.Helper()
	ctx := context.Background()
	kc, token := keycloakAdmin(t, env)
	users, err := kc.GetUsers(ctx, token, realm, gocloak.GetUsersParams{Username: &email, Exact: gocloak.BoolP(true)})
	if err != nil || len(users) != 1 {
		t.Fatalf("admin user: %v %v", users, err)
	}
	password := uuid.NewString()
	if err := kc.SetPassword(ctx, token, *users[0].ID, realm, password, false); err != nil {
		t.Fatal(err)
	}
	jwt, err := kc.Login(ctx, "admin-cli", "", realm, email, password)
	if err != nil || jwt.AccessToken == "" {
		t.Fatalf("the admin cannot log in to %s: %v", realm, err)
	}
}

func deleteRealm(t *testing.T, env map[string]string, realm string) {
	kc, token := keycloakAdmin(t, env)
	_ = kc.DeleteRealm(context.Background(), token, realm)
}

// tenantctlErr runs tenantctl expecting it to fail and returns what it said.
func (p *proc) tenantctlErr(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	out, err := p.tenantctlCmd(t, env, args...).CombinedOutput()
	if err == nil {
		t.Fatalf("tenantctl %s succeeded:\n%s", strings.Join(args, " "), out)
	}
	return string(out)
}

// tenantctlCmd is the real tenantctl binary set up against p with env.
func (p *proc) tenantctlCmd(t *testing.T, env map[string]string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(binary(t, "../tenantctl"), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TENANTCTL_URL=" + p.base}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return cmd
}
