package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"
	"github.com/tenantflow/tenantflow/internal/testkit/mailtest"
	"github.com/tenantflow/tenantflow/platform/auth"
)

// chromium returns Debian's headless Chromium, or stops the test: failing
// under CI (the dev stack installs it), skipping elsewhere.
func chromium(t *testing.T) string {
	path, err := exec.LookPath("chromium")
	if err == nil {
		return path
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed: run devstack/devstack.sh up")
	}
	t.Skip("chromium is not installed (devstack/devstack.sh up installs it)")
	return ""
}

// The console, in a real headless browser: a provisioning the test starts
// shows up in the list and reaches ACTIVE there and on the tenant's page,
// without reloading (server-sent events).
func TestConsoleShowsProvisioningLive(t *testing.T) {
	browser := chromium(t)
	env := devStackEnv(t)
	env["TENANTFLOW_JWT_SECRET"] = "tenantd-test-secret-tenantd-test-secret"
	env["TENANTFLOW_SMTP_ADDR"] = mailtest.SMTPAddr(t)
	env["TENANTFLOW_STEP_RETRY_BASE"] = "50ms"
	p := start(t, env)
	p.readyzUntil(t, "ready", isReady)
	signer, _ := auth.NewHS256(env["TENANTFLOW_JWT_SECRET"], "tenantflow")
	viewer, _ := signer.Mint("console-test", []string{auth.ViewTenant}, "", time.Hour, time.Now())
	operator, _ := signer.Mint("console-test", []string{auth.CreateTenant, auth.ProvisionTenant}, "", time.Hour, time.Now())

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.Headless, chromedp.WindowSize(1200, 900))...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	defer cancelTimeout()

	// Sign in with a 10207 token; the list page opens and connects its stream.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(p.base+"/console"),
		chromedp.WaitVisible(`input[name=token]`),
		chromedp.SendKeys(`input[name=token]`, viewer),
		chromedp.Submit(`input[name=token]`),
		chromedp.WaitVisible(`#tenants`),
		chromedp.WaitVisible(`//span[@id="state"][text()="connected"]`),
	); err != nil {
		t.Fatalf("sign in: %v", err)
	}

	// Start a provisioning through the API while the page is open.
	key := "con" + strings.ReplaceAll(uuid.NewString(), "-", "")[:7]
	created := p.post(t, operator, "/tenants", `{"key":"`+key+`","name":"Console","contact":{"email":"`+key+`@example.com","firstName":"C","lastName":"O"}}`)
	id := created["id"].(string)
	p.post(t, operator, "/tenants/"+id+"/provision", `{"id":"s","subscriberId":"c","planId":"p","startDate":"2026-11-26T00:00:00Z","status":1,
		"plan":{"id":"p","name":"P","price":1,"currencyId":"EUR","tier":"pooled","billingCycleId":"monthly"}}`)
	t.Cleanup(func() { deleteRealm(t, env, "tenant-"+key) })

	row := `tr[data-key="` + key + `"]`
	if err := chromedp.Do(ctx,
		chromedp.WaitVisible(row),                           // shows up without a reload
		chromedp.WaitVisible(row+` td.ACTIVE[data-status]`), // and reaches ACTIVE
		chromedp.Click(row+` a`),
		chromedp.WaitVisible(`#status.ACTIVE`),
		chromedp.WaitVisible(`//table[@id="resources"]//td[text()="keycloak-realm"]`),
	); err != nil {
		t.Fatalf("the console never showed %s ACTIVE: %v", key, err)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100: PNG
	if err != nil {
		t.Fatal(err)
	}
	dir := os.Getenv("TENANTFLOW_TEST_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "console-tenant.png")
	if err := os.WriteFile(file, shot, 0o644); err != nil || len(shot) < 1000 {
		t.Fatalf("screenshot: %d bytes, %v", len(shot), err)
	}
	t.Logf("screenshot: %s (%d bytes)", file, len(shot))

	// Without a token the console sends the browser to the sign-in form.
	var resp *http.Response
	resp, err = (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Get(p.base + "/console")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/login" {
		t.Fatalf("anonymous /console: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	p.stop(t)
}

// post sends a JSON body with a token and returns the decoded answer; any
// status but 2xx fails the test.
func (p *proc) post(t *testing.T, token, path, body string) map[string]any {
	t.Helper()
	code, out := p.send(t, token, http.MethodPost, path, body)
	if code/100 != 2 {
		t.Fatalf("POST %s: %d %v", path, code, out)
	}
	return out
}

// send sends a JSON body with a token: the status and the decoded answer.
func (p *proc) send(t *testing.T, token, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, p.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}
