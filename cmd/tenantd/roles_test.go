package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/tenantflow/tenantflow/internal/testkit/mailtest"
	"github.com/tenantflow/tenantflow/platform/auth"
)

func (p *proc) metricsText(t *testing.T) string {
	t.Helper()
	resp, err := http.Get(p.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return string(raw)
}

// The parts run as separate processes: a front (api, relay, projections)
// and two handler-only instances sharing the work through their consumer
// groups provision a tenant; the front runs no step.
func TestRolesInSeparateProcesses(t *testing.T) {
	env := devStackEnv(t)
	env["TENANTFLOW_JWT_SECRET"] = "tenantd-test-secret-tenantd-test-secret"
	env["TENANTFLOW_SMTP_ADDR"] = mailtest.SMTPAddr(t)
	front := start(t, env, "--roles", "api,relay,projections")
	front.readyzUntil(t, "ready", isReady)
	workers := []*proc{start(t, env, "--roles", "handlers"), start(t, env, "--roles", "handlers")}
	for _, w := range workers {
		w.readyzUntil(t, "ready", isReady)
		if resp, err := http.Get(w.base + "/tenants"); err != nil || resp.StatusCode != http.StatusNotFound {
			t.Fatalf("a handlers-only tenantd serves the API: %v %v", resp, err)
		}
	}
	signer, _ := auth.NewHS256(env["TENANTFLOW_JWT_SECRET"], "tenantflow")
	op, _ := signer.Mint("roles-test", []string{auth.CreateTenant, auth.ProvisionTenant, auth.ViewTenant}, "", time.Hour, time.Now())
	key := "rol" + strings.ReplaceAll(uuid.NewString(), "-", "")[:7]
	id := front.post(t, op, "/tenants", `{"key":"`+key+`","name":"R","contact":{"email":"`+key+`@example.com","firstName":"R","lastName":"O"}}`)["id"].(string)
	front.post(t, op, "/tenants/"+id+"/provision", `{"id":"s","subscriberId":"c","planId":"p","startDate":"2026-11-26T00:00:00Z","status":1,
		"plan":{"id":"p","name":"P","price":1,"currencyId":"EUR","tier":"pooled","billingCycleId":"monthly"}}`)
	t.Cleanup(func() { deleteRealm(t, env, "tenant-"+key) })
	front.waitStatus(t, op, id, "ACTIVE")

	if strings.Contains(front.metricsText(t), "tenantflow_step_outcomes_total{") {
		t.Fatal("the front ran steps")
	}
	ran := 0
	for _, w := range workers {
		if strings.Contains(w.metricsText(t), "tenantflow_step_outcomes_total{") {
			ran++
		}
	}
	if ran == 0 {
		t.Fatal("no handlers-only instance ran a step")
	}
	for _, w := range workers {
		w.stop(t)
	}
	front.stop(t)
}
