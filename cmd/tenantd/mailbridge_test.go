package main

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Nerzal/gocloak/v13"
	"github.com/google/uuid"
	"github.com/tenantflow/tenantflow/internal/testkit/wait"
	"github.com/tenantflow/tenantflow/platform/auth"
)

// novuStandIn records Novu event triggers. Novu cannot run here: this is a
// stand-in for its trigger API (POST /v1/events/trigger), in tests only.
type novuStandIn struct {
	mu       sync.Mutex
	triggers []map[string]any
}

func (n *novuStandIn) serve(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		raw, _ := io.ReadAll(r.Body)
		if r.URL.Path != "/v1/events/trigger" || json.Unmarshal(raw, &body) != nil || r.Header.Get("Authorization") != "ApiKey novu-test-key" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		n.mu.Lock()
		n.triggers = append(n.triggers, body)
		n.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// wait returns the payload of the first trigger of workflow for email.
func (n *novuStandIn) wait(t *testing.T, workflow, email string) map[string]any {
	t.Helper()
	return wait.Value(t, 90*time.Second, func() (map[string]any, error) {
		n.mu.Lock()
		defer n.mu.Unlock()
		for _, tr := range n.triggers {
			if tr["name"] == workflow && tr["to"].(map[string]any)["email"] == email {
				return tr["payload"].(map[string]any), nil
			}
		}
		return nil, fmt.Errorf("no %s trigger for %s", workflow, email)
	})
}

// When Keycloak cannot mail (no SMTP, Novu notifier only), the admin_user
// step still completes, and the admin receives Keycloak's own set-password
// link through Novu: Keycloak mails it to tenantflow's mail bridge. The
// link works: following it in Keycloak sets the password, and the admin
// logs in with it. The link is never logged.
func TestSetPasswordLinkThroughNovuWhenKeycloakCannotMail(t *testing.T) {
	novu := &novuStandIn{}
	env := devStackEnv(t)
	env["TENANTFLOW_JWT_SECRET"] = "tenantd-test-secret-tenantd-test-secret"
	env["TENANTFLOW_NOTIFIER"], env["TENANTFLOW_NOVU_URL"], env["TENANTFLOW_NOVU_API_KEY"] = "novu", novu.serve(t), "novu-test-key"
	env["TENANTFLOW_MAIL_BRIDGE_ADDR"] = freeAddr(t)
	p := start(t, env)
	p.readyzUntil(t, "ready", isReady)
	signer, _ := auth.NewHS256(env["TENANTFLOW_JWT_SECRET"], "tenantflow")
	op, _ := signer.Mint("bridge-test", []string{auth.CreateTenant, auth.ProvisionTenant, auth.ViewTenant}, "", time.Hour, time.Now())

	key := "nv" + strings.ReplaceAll(uuid.NewString(), "-", "")[:8]
	email := "admin@" + key + ".example.com"
	t.Cleanup(func() { deleteRealm(t, env, "tenant-"+key) })
	id := p.post(t, op, "/tenants", `{"key":"`+key+`","name":"Novu Corp","contact":{"email":"`+email+`","firstName":"Nora","lastName":"Vu"}}`)["id"].(string)
	p.post(t, op, "/tenants/"+id+"/provision", `{"id":"s","subscriberId":"`+id+`","planId":"p","startDate":"2026-11-26T00:00:00Z","status":1,
		"plan":{"id":"p","name":"P","price":1,"currencyId":"EUR","tier":"pooled","billingCycleId":"monthly"}}`)
	p.waitStatus(t, op, id, "ACTIVE")

	link, _ := novu.wait(t, "tenant-set-password", email)["setPasswordUrl"].(string)
	if !strings.HasPrefix(link, env["TENANTFLOW_KEYCLOAK_URL"]+"/realms/tenant-"+key+"/login-actions/action-token?key=") {
		t.Fatalf("set-password link %q", link)
	}
	novu.wait(t, "tenant-welcome", email)
	password := uuid.NewString()
	followSetPasswordLink(t, link, password)
	kc := gocloak.NewClient(env["TENANTFLOW_KEYCLOAK_URL"])
	if jwt, err := kc.Login(context.Background(), "admin-cli", "", "tenant-"+key, email, password); err != nil || jwt.AccessToken == "" {
		t.Fatalf("the admin cannot log in with the password chosen through the link: %v", err)
	}
	token, _ := url.Parse(link)
	if strings.Contains(p.out.String(), token.Query().Get("key")) {
		t.Error("tenantd logged the set-password link")
	}
	p.stop(t)
}

var (
	formAction   = regexp.MustCompile(`<form[^>]*action="([^"]+)"`)
	proceedLink  = regexp.MustCompile(`href="([^"]*login-actions/action-token[^"]*)"`)
	passwordForm = regexp.MustCompile(`name="password-new"`)
)

// followSetPasswordLink does what the admin does in a browser: open the
// link, proceed, choose the password.
func followSetPasswordLink(t *testing.T, link, password string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	get := func(u string) string {
		resp, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d\n%s", u, resp.StatusCode, body)
		}
		return string(body)
	}
	page := get(link)
	for range 3 {
		if passwordForm.MatchString(page) {
			break
		}
		m := proceedLink.FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("neither a password form nor a link to proceed:\n%s", page)
		}
		page = get(html.UnescapeString(m[1]))
	}
	m := formAction.FindStringSubmatch(page)
	if m == nil || !passwordForm.MatchString(page) {
		t.Fatalf("no password form:\n%s", page)
	}
	resp, err := c.PostForm(html.UnescapeString(m[1]), url.Values{"password-new": {password}, "password-confirm": {password}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || passwordForm.Match(body) {
		t.Fatalf("setting the password: %d\n%s", resp.StatusCode, body)
	}
}
