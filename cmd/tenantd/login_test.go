package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
	"github.com/tenantflow/tenantflow/internal/testkit/wait"
	"github.com/tenantflow/tenantflow/platform/auth"
)

// claimsOf reads a JWT's payload without verifying it (the test checks what
// Keycloak put in; tenantd does the verifying).
func claimsOf(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// keptSession reads the file tenantctl login keeps.
func keptSession(t *testing.T, path string) map[string]any {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatalf("tenantctl login kept no token: %v", err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("the kept token is readable by others: %v", info.Mode())
	}
	raw, _ := os.ReadFile(path)
	var s map[string]any
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// Operators' tokens come from Keycloak's operators' realm, which the dev
// stack sets up: a person signs in with `tenantctl login` (the device
// authorization grant, driven here in headless Chromium as the person
// would), a script with `--client-credentials`; the permission codes come
// from roles; tenantd verifies the tokens through the realm's JWKS; an
// expired kept token is refreshed; and HS256 development tokens go on
// working beside them.
func TestOperatorsSignInWithKeycloak(t *testing.T) {
	browser := chromium(t)
	kc := testenv.Require(t, "TENANTFLOW_DEVSTACK_OPERATORS_ISSUER", "TENANTFLOW_DEVSTACK_OPERATOR_PASSWORD", "TENANTFLOW_DEVSTACK_CI_CLIENT_SECRET")
	issuer := kc["TENANTFLOW_DEVSTACK_OPERATORS_ISSUER"]
	env := devStackEnv(t)
	env["TENANTFLOW_JWT_SECRET"] = "tenantd-test-secret-tenantd-test-secret"
	env["TENANTFLOW_JWT_JWKS_URL"] = issuer + "/protocol/openid-connect/certs"
	env["TENANTFLOW_JWT_AUDIENCE"] = "tenantflow-api" // the client whose roles are the codes
	p := start(t, env)
	p.readyzUntil(t, "ready", isReady)
	dir := t.TempDir()
	ctl := func(tokenFile string, extra []string, args ...string) *exec.Cmd {
		cmd := exec.Command(binary(t, "../tenantctl"), args...)
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "TENANTCTL_URL=" + p.base,
			"TENANTCTL_ISSUER=" + issuer, "TENANTCTL_TOKEN_FILE=" + tokenFile}, extra...)
		return cmd
	}

	// A person: tenantctl prints a link; the person opens it, signs in and
	// confirms; tenantctl keeps the token.
	personFile := filepath.Join(dir, "person.json")
	login := ctl(personFile, nil, "login", "--wait=2m")
	stdout, _ := login.StdoutPipe()
	var stderr strings.Builder
	login.Stderr = &stderr
	if err := login.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	var link string
	for lines.Scan() {
		if m := regexp.MustCompile(`open (http\S+)`).FindStringSubmatch(lines.Text()); m != nil {
			link = m[1]
			break
		}
	}
	if link == "" {
		t.Fatalf("tenantctl login printed no link: %s", stderr.String())
	}
	go func() {
		for lines.Scan() { // drain, so tenantctl never blocks on its output
		}
	}()
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.Headless)...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	defer cancelTimeout()
	if err := chromedp.Do(ctx, chromedp.Navigate(link)); err != nil {
		t.Fatalf("open the link: %v", err)
	}
	// act runs a form's action and waits until the browser has left that
	// page: the mark set on the old document is gone from the new one.
	act := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__acted = true`)); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		wait.For(t, 30*time.Second, func() error {
			if still, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__acted === true`)); err != nil || still {
				return fmt.Errorf("%s: the page has not changed (%v)", what, err)
			}
			return nil
		})
	}
	wait.For(t, 90*time.Second, func() error {
		// Whatever page Keycloak shows next: the sign-in form, the code's
		// confirmation or the consent (Yes), or the end.
		page, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#username') ? 'login' :
			document.querySelector('input[name=accept], #kc-login') ? 'confirm' :
			/success/i.test(document.body.innerText) ? 'done' : 'wait'`))
		switch {
		case err == nil && page == "done":
			return nil
		case err == nil && page == "login":
			act("sign in", chromedp.SetValue(chromedp.CSS(`#username`), "operator"),
				chromedp.SetValue(chromedp.CSS(`#password`), kc["TENANTFLOW_DEVSTACK_OPERATOR_PASSWORD"]),
				chromedp.Click(chromedp.CSS(`#kc-login`)))
		case err == nil && page == "confirm":
			act("confirm", chromedp.Click(chromedp.CSS(`input[name=accept], #kc-login`)))
		}
		text, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		return fmt.Errorf("the device sign-in has not finished; the page says: %q", text)
	})
	if err := login.Wait(); err != nil {
		t.Fatalf("tenantctl login: %v\n%s", err, stderr.String())
	}
	person := keptSession(t, personFile)
	token := person["token"].(map[string]any)["access_token"].(string)
	claims := claimsOf(t, token)
	var codes []string
	for _, c := range claims["permissions"].([]any) {
		codes = append(codes, c.(string))
	}
	for _, want := range auth.Known {
		if !slices.Contains(codes, want) {
			t.Errorf("the operator's token lacks %s (granted through the role): %v", want, codes)
		}
	}
	if claims["iss"] != issuer {
		t.Errorf("iss %v, want %s", claims["iss"], issuer)
	}

	// The kept token works against tenantd (verified through the JWKS),
	// and the operator is the actor of what it does.
	if out, err := ctl(personFile, nil, "tenant", "create", "--key", "kcop"+strings.ReplaceAll(uuid.NewString(), "-", "")[:6], "--name", "Keycloak Op",
		"--email", "kcop@example.com", "--first-name", "K", "--last-name", "C").CombinedOutput(); err != nil {
		t.Fatalf("tenantctl with the kept token: %v\n%s", err, out)
	}
	// Expired: the next command refreshes it and keeps the new one.
	person["token"].(map[string]any)["expiry"] = time.Now().Add(-time.Minute).Format(time.RFC3339)
	raw, _ := json.Marshal(person)
	if err := os.WriteFile(personFile, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := ctl(personFile, nil, "tenant", "list").CombinedOutput(); err != nil {
		t.Fatalf("tenantctl with an expired kept token: %v\n%s", err, out)
	}
	if fresh := keptSession(t, personFile)["token"].(map[string]any)["access_token"]; fresh == token {
		t.Error("the expired token was not refreshed")
	}

	// A script: client credentials, the secret from the environment only.
	scriptFile := filepath.Join(dir, "script.json")
	if out, err := ctl(scriptFile, []string{"TENANTCTL_CLIENT_SECRET=wrong"}, "login", "--client-credentials").CombinedOutput(); err == nil {
		t.Fatalf("a wrong client secret signed in: %s", out)
	}
	if out, err := ctl(scriptFile, []string{"TENANTCTL_CLIENT_SECRET=" + kc["TENANTFLOW_DEVSTACK_CI_CLIENT_SECRET"]}, "login", "--client-credentials").CombinedOutput(); err != nil {
		t.Fatalf("client credentials: %v\n%s", err, out)
	}
	raw, _ = os.ReadFile(scriptFile)
	if strings.Contains(string(raw), kc["TENANTFLOW_DEVSTACK_CI_CLIENT_SECRET"]) {
		t.Error("the client secret was kept on disk")
	}
	if out, err := ctl(scriptFile, nil, "tenant", "list").CombinedOutput(); err != nil {
		t.Fatalf("tenantctl with the script's token: %v\n%s", err, out)
	}

	// Nobody signed in: 401, not a crash.
	if out, err := ctl(filepath.Join(dir, "nobody.json"), nil, "tenant", "list").CombinedOutput(); err == nil || !strings.Contains(string(out), "401") {
		t.Fatalf("without a token: %v\n%s", err, out)
	}
	// Beside the key set, an HS256 token granting permissions is refused
	// (TENANTFLOW_JWT_HS256_OPERATORS is not set here).
	signer, _ := auth.NewHS256(env["TENANTFLOW_JWT_SECRET"], "tenantflow")
	dev, _ := signer.Mint("dev", []string{auth.ViewTenant}, "", time.Hour, time.Now())
	if out, err := ctl(filepath.Join(dir, "nobody.json"), []string{"TENANTCTL_TOKEN=" + dev}, "tenant", "list").CombinedOutput(); err == nil || !strings.Contains(string(out), "401") {
		t.Fatalf("an HS256 operator's token beside the key set: %v\n%s", err, out)
	}
}

// The replaced system's admin tokens work as its scripts made them (HS256,
// claims id, userTenantId and permissions, issuer "arc-saas") when tenantd
// has the same secret and issuer; the log names the token's id as the
// actor; another issuer, or no expiry, is refused.
func TestReplacedSystemsTokens(t *testing.T) {
	env := devStackEnv(t)
	env["TENANTFLOW_JWT_SECRET"] = "the-replaced-systems-secret-of-32-bytes!"
	env["TENANTFLOW_JWT_ISSUER"] = "arc-saas"
	p := start(t, env)
	p.readyzUntil(t, "ready", isReady)
	mint := func(claims jwt.MapClaims) string {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(env["TENANTFLOW_JWT_SECRET"]))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	claims := func(issuer string) jwt.MapClaims {
		return jwt.MapClaims{"id": "admin-user-id", "userTenantId": "admin-user-id", "permissions": []string{auth.CreateTenant, auth.ViewTenant},
			"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(), "iss": issuer}
	}
	admin := mint(claims("arc-saas"))
	key := "rs" + strings.ReplaceAll(uuid.NewString(), "-", "")[:8]
	id := p.post(t, admin, "/tenants", `{"key":"`+key+`","name":"Replaced","contact":{"email":"r@example.com","firstName":"R","lastName":"S"}}`)["id"].(string)
	if history := p.eventTypes(t, admin, id); len(history) == 0 || history[0] != "tenant.created by admin-user-id" {
		t.Fatalf("history %v, want tenant.created by the token's id", history)
	}
	noExpiry := claims("arc-saas")
	delete(noExpiry, "exp")
	for name, tok := range map[string]string{"another issuer": mint(claims("tenantflow")), "no expiry": mint(noExpiry)} {
		if code, _ := p.send(t, tok, http.MethodGet, "/tenants", ""); code != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", name, code)
		}
	}
}
