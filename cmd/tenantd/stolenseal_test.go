package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/adapters/postgres"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
	"github.com/tenantflow/tenantflow/platform/auth"
)

// Personal data opens only where tenantflow sealed it. Someone who got
// another person's sealed email address (from a backup, the topic, an
// export) posts it through every writable field of the API — as a tenant's
// name and domain, its contact's fields, a lead's fields, a configuration
// value, a rename — and never reads the address back: every such body is
// refused (400) and changes nothing.
func TestStolenSealedStringsNeverOpen(t *testing.T) {
	env := devStackEnv(t)
	env["TENANTFLOW_JWT_SECRET"] = "tenantd-test-secret-tenantd-test-secret"
	env["TENANTFLOW_SMTP_ADDR"] = testenv.Require(t, "TENANTFLOW_SMTP_ADDR")["TENANTFLOW_SMTP_ADDR"] // sign-up is served
	p := start(t, env)
	p.readyzUntil(t, "ready", isReady)
	signer, _ := auth.NewHS256(env["TENANTFLOW_JWT_SECRET"], "tenantflow")
	tok, _ := signer.Mint("tester", []string{auth.CreateTenant, auth.ViewTenant, auth.UpdateTenant, auth.CreateTenantConfig,
		auth.ViewTenantConfig, auth.UpdateTenantConfig, auth.CreateLead, auth.ViewLead}, "", time.Hour, time.Now())
	ctx := context.Background()

	const victim = "Victim.Person@stolen.example.com"
	suffix := fmt.Sprint(time.Now().UnixNano() % 1_000_000)
	victimID := strings.TrimPrefix(p.createTenant(t, tok, `{"key":"v`+suffix+`","name":"Victim Co","contact":{"email":"`+victim+`","firstName":"Vic","lastName":"Tim"}}`), "/tenants/")
	owner, err := postgres.Open(ctx, env["TENANTFLOW_DATABASE_MIGRATE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	var data string
	if err := owner.QueryRow(ctx, `select data::text from events where stream_id = $1 and stream_version = 1`, "tenant-"+victimID).Scan(&data); err != nil {
		t.Fatal(err)
	}
	stolen := regexp.MustCompile(`"email": ?"(pii:1:[^"]+)"`).FindStringSubmatch(data)
	if stolen == nil {
		t.Fatalf("no sealed email in the victim's tenant.created: %s", data)
	}
	sealed := stolen[1]
	// The same string, JSON-escaped, must not slip through either.
	escaped := strings.Replace(sealed, "p", `\u0070`, 1)

	attackerID := strings.TrimPrefix(p.createTenant(t, tok, `{"key":"t`+suffix+`","name":"Thief Co","contact":{"email":"thief@example.com","firstName":"T","lastName":"H"}}`), "/tenants/")
	before := 0
	if err := owner.QueryRow(ctx, `select count(*) from events`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{sealed, escaped} {
		for name, c := range map[string]struct{ method, path, body string }{
			"tenant name":           {"POST", "/tenants", `{"key":"x` + suffix + `","name":"` + s + `","contact":{"email":"x@example.com","firstName":"X","lastName":"Y"}}`},
			"contact first name":    {"POST", "/tenants", `{"key":"y` + suffix + `","name":"Y","contact":{"email":"y@example.com","firstName":"` + s + `","lastName":"Y"}}`},
			"contact last name":     {"POST", "/tenants", `{"key":"y` + suffix + `","name":"Y","contact":{"email":"y@example.com","firstName":"Y","lastName":"` + s + `"}}`},
			"contact email":         {"POST", "/tenants", `{"key":"y` + suffix + `","name":"Y","contact":{"email":"` + s + `","firstName":"Y","lastName":"Y"}}`},
			"domain":                {"POST", "/tenants", `{"key":"y` + suffix + `","name":"Y","domains":["` + s + `"],"contact":{"email":"y@example.com","firstName":"Y","lastName":"Y"}}`},
			"lead first name":       {"POST", "/leads", `{"firstName":"` + s + `","lastName":"L","email":"lead@example.com","companyName":"C"}`},
			"lead company":          {"POST", "/leads", `{"firstName":"L","lastName":"L","email":"lead@example.com","companyName":"` + s + `"}`},
			"lead address":          {"POST", "/leads", `{"firstName":"L","lastName":"L","email":"lead@example.com","companyName":"C","address":"` + s + `"}`},
			"rename":                {"PATCH", "/tenants/" + attackerID, `{"name":"` + s + `"}`},
			"contacts on update":    {"PATCH", "/tenants/" + attackerID, `{"contacts":[{"email":"thief@example.com","firstName":"` + s + `","lastName":"H","primary":true}]}`},
			"configuration value":   {"POST", "/tenants/" + attackerID + "/config", `{"key":"profile","value":{"email":"` + s + `"}}`},
			"configuration key":     {"POST", "/tenants/" + attackerID + "/config", `{"key":"` + s + `","value":1}`},
			"configuration as text": {"POST", "/tenants/" + attackerID + "/config", `{"key":"note","value":"` + s + `"}`},
		} {
			code, out := p.send(t, tok, c.method, c.path, c.body)
			answer, _ := json.Marshal(out)
			if code != http.StatusBadRequest {
				t.Errorf("%s: %d %s, want 400", name, code, answer)
			}
			if strings.Contains(strings.ToLower(string(answer)), strings.ToLower(victim)) {
				t.Errorf("%s: the answer carries the victim's address: %s", name, answer)
			}
		}
	}
	after := 0
	if err := owner.QueryRow(ctx, `select count(*) from events`).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Errorf("refused requests appended %d events", after-before)
	}
	// What the API shows of the attacker's tenant holds no plain address of
	// the victim's either.
	for _, path := range []string{"/tenants/" + attackerID, "/tenants/" + attackerID + "/events", "/tenants/" + attackerID + "/config", "/tenants?limit=200"} {
		_, out := p.send(t, tok, "GET", path, "")
		if answer, _ := json.Marshal(out); strings.Contains(strings.ToLower(string(answer)), strings.ToLower(victim)) {
			t.Errorf("GET %s carries the victim's address: %s", path, answer)
		}
	}
}
