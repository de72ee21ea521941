package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Nerzal/gocloak/v13"
	"github.com/google/uuid"
	"github.com/tenantflow/tenantflow/adapters/postgres"
	"github.com/tenantflow/tenantflow/internal/testkit/kafkatest"
	"github.com/tenantflow/tenantflow/internal/testkit/wait"
	"github.com/tenantflow/tenantflow/platform/auth"
)

// TestErasureByCryptoShredding: a tenant's contact is sealed in the log and
// on the topic, open in the API; `tenantctl erase --contact` destroys the
// person's key and records person.erased; afterwards the API, the export
// and the projections show "[erased]", the topic and the log still hold
// only the sealed strings, and the log verifies.
func TestErasureByCryptoShredding(t *testing.T) {
	env := devStackEnv(t)
	env["TENANTFLOW_JWT_SECRET"] = "tenantd-test-secret-tenantd-test-secret"
	p := start(t, env)
	p.readyzUntil(t, "ready", isReady)
	signer, _ := auth.NewHS256(env["TENANTFLOW_JWT_SECRET"], "tenantflow")
	tok, _ := signer.Mint("tester", []string{auth.CreateTenant, auth.ViewTenant}, "", time.Hour, time.Now())
	ctx := context.Background()

	const email, first, last = "Grace.Hopper@erase.example.com", "Grace", "Hopperton"
	location := p.createTenant(t, tok, `{"key":"erase","name":"Erase Co","contact":{"email":"`+email+`","firstName":"`+first+`","lastName":"`+last+`"}}`)
	id := strings.TrimPrefix(location, "/tenants/")
	get := func(path string) string {
		t.Helper()
		req, _ := http.NewRequest("GET", p.base+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s = %d %s", path, resp.StatusCode, b)
		}
		return string(b)
	}
	if got := get(location); !strings.Contains(got, email) || !strings.Contains(got, last) {
		t.Fatalf("the API shows the contact opened: %s", got)
	}

	// The log and the topic hold the sealed strings only.
	owner, err := postgres.Open(ctx, env["TENANTFLOW_DATABASE_MIGRATE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	var data string
	if err := owner.QueryRow(ctx, `select data::text from events where stream_id = $1 and stream_version = 1`, "tenant-"+id).Scan(&data); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.ToLower(data), strings.ToLower(email)) || strings.Contains(data, last) || !strings.Contains(data, `"pii:1:`) {
		t.Fatalf("tenant.created in the log is not sealed: %s", data)
	}
	recs := kafkatest.Read(t, strings.Split(env["TENANTFLOW_KAFKA_BROKERS"], ","), env["TENANTFLOW_KAFKA_TOPIC"], func(rs []kafkatest.Record, _ int) bool {
		for _, r := range rs {
			if r.Key == "tenant-"+id {
				return true
			}
		}
		return false
	})
	for _, r := range recs {
		if v := string(r.Raw.Value); strings.Contains(strings.ToLower(v), strings.ToLower(email)) || strings.Contains(v, last) {
			t.Fatalf("a record on the topic carries the contact in the clear: %s", v)
		}
	}

	refused := p.tenantctlErr(t, env, "erase", "--contact", email, "--reason", " ")
	if !strings.Contains(refused, "--reason") {
		t.Errorf("erase without a reason: %q", refused)
	}
	out := p.tenantctl(t, env, "erase", "--contact", strings.ToUpper(email), "--reason", "GDPR request 4711", "--actor", "dpo")
	if !strings.Contains(out, "erased") {
		t.Fatalf("erase: %s", out)
	}
	if again := p.tenantctlErr(t, env, "erase", "--contact", email, "--reason", "again"); !strings.Contains(again, "no personal data kept") {
		t.Errorf("a second erasure: %q", again)
	}

	// Everywhere the fields read [erased]; nothing opens them again.
	wait.For(t, 30*time.Second, func() error {
		if got := get(location); strings.Contains(got, email) || strings.Contains(got, last) || !strings.Contains(got, `"[erased]"`) {
			return fmt.Errorf("the API after the erasure: %s", got)
		}
		return nil
	})
	list := get("/tenants?limit=100")
	if strings.Contains(list, email) || strings.Contains(list, last) {
		t.Errorf("the tenant list after the erasure: %s", list)
	}
	export := p.tenantctl(t, env, "export", "--since", "1970-01-01T00:00:00Z")
	if strings.Contains(strings.ToLower(export), strings.ToLower(email)) || strings.Contains(export, last) || !strings.Contains(export, `"[erased]"`) {
		t.Errorf("the export after the erasure:\n%s", export)
	}
	var erasure struct {
		Data struct {
			KeyID, Reason string
		}
		Metadata struct{ Actor string }
	}
	for _, line := range strings.Split(export, "\n") {
		if strings.Contains(line, `"type":"person.erased"`) {
			if err := json.Unmarshal([]byte(line), &erasure); err != nil {
				t.Fatal(err)
			}
		}
	}
	if erasure.Data.KeyID == "" || erasure.Data.Reason != "GDPR request 4711" || erasure.Metadata.Actor != "tenantctl:dpo" {
		t.Errorf("person.erased: %+v", erasure)
	}
	if !strings.Contains(data, erasure.Data.KeyID) {
		t.Errorf("the erased key %s is not the one the contact was sealed with: %s", erasure.Data.KeyID, data)
	}
	var after string
	if err := owner.QueryRow(ctx, `select data::text from events where stream_id = $1 and stream_version = 1`, "tenant-"+id).Scan(&after); err != nil || after != data {
		t.Errorf("the log changed: %v\nbefore %s\nafter  %s", err, data, after)
	}
	if v := p.tenantctl(t, env, "verify"); !strings.Contains(v, "the log verifies") {
		t.Errorf("verify after the erasure: %s", v)
	}
}

// An erasure reaches the places outside the log that keep the person in
// the clear: the Keycloak user tenantflow made for them as a tenant's
// administrator is deleted, and the recorded idempotent answer to the POST
// /tenants that named them is purged — before the key is destroyed.
func TestErasureReachesKeycloakAndRecordedAnswers(t *testing.T) {
	env := devStackEnv(t)
	env["TENANTFLOW_JWT_SECRET"] = "tenantd-test-secret-tenantd-test-secret"
	p := start(t, env)
	p.readyzUntil(t, "ready", isReady)
	signer, _ := auth.NewHS256(env["TENANTFLOW_JWT_SECRET"], "tenantflow")
	op, _ := signer.Mint("tester", []string{auth.CreateTenant, auth.ProvisionTenant, auth.ViewTenant}, "", time.Hour, time.Now())
	ctx := context.Background()
	key := "er" + strings.ReplaceAll(uuid.NewString(), "-", "")[:7]
	email := "Erase.Me-" + key + "@example.com"
	req, _ := http.NewRequest("POST", p.base+"/tenants", strings.NewReader(`{"key":"`+key+`","name":"E","contact":{"email":"`+email+`","firstName":"Eraseme","lastName":"Fully"}}`))
	req.Header.Set("Authorization", "Bearer "+op)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", uuid.NewString())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /tenants: %d", resp.StatusCode)
	}
	id := strings.TrimPrefix(resp.Header.Get("Location"), "/tenants/")
	t.Cleanup(func() { deleteRealm(t, env, "tenant-"+key) })
	p.post(t, op, "/tenants/"+id+"/provision", `{"id":"s","subscriberId":"c","planId":"p","startDate":"2026-11-26T00:00:00Z","status":1,
		"plan":{"id":"p","name":"P","price":1,"currencyId":"EUR","tier":"pooled","billingCycleId":"monthly"}}`)
	p.waitStatus(t, op, id, "ACTIVE")

	kc, kcToken := keycloakAdmin(t, env)
	users := func() int {
		us, err := kc.GetUsers(ctx, kcToken, "tenant-"+key, gocloak.GetUsersParams{Email: gocloak.StringP(email), Exact: gocloak.BoolP(true)})
		if err != nil {
			t.Fatal(err)
		}
		return len(us)
	}
	owner, err := postgres.Open(ctx, env["TENANTFLOW_DATABASE_MIGRATE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	answers := func() int {
		var n int
		if err := owner.QueryRow(ctx, `select count(*) from idempotency_keys where strpos(lower(convert_from(body, 'UTF8')), lower($1)) > 0`, email).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if users() != 1 || answers() != 1 {
		t.Fatalf("before the erasure: %d Keycloak users, %d recorded answers with the address; want 1 and 1", users(), answers())
	}
	out := p.tenantctl(t, env, "erase", "--contact", email, "--reason", "GDPR request 4712", "--actor", "dpo")
	if !strings.Contains(out, "removed: Keycloak user tenant-"+key+"/") || !strings.Contains(out, "removed: 1 recorded idempotent answers") || !strings.Contains(out, "erased") {
		t.Fatalf("erase: %s", out)
	}
	if users() != 0 || answers() != 0 {
		t.Fatalf("after the erasure: %d Keycloak users, %d recorded answers with the address; want none", users(), answers())
	}
}
