package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/domain"
	deploystep "github.com/tenantflow/tenantflow/handlers/deploy"
	"github.com/tenantflow/tenantflow/platform/deployauth"
)

// A change's requests run the agent's suspend, resume and deploy (resize,
// with the new size) commands — only when the control plane signed them,
// once each, never an older one after a newer one, never one older than a
// day.
func TestAgentCarriesOutChanges(t *testing.T) {
	dir := t.TempDir()
	ledger, err := OpenLedger(filepath.Join(dir, "ledger.json"))
	if err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "acme")
	a := Agent{AgentKey: agentKey, Handled: ledger, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), PassEnv: []string{"DIR"},
		SuspendCommand: []string{"sh", "-c", `echo suspended >> "$DIR/$TENANT_KEY"`},
		ResumeCommand:  []string{"sh", "-c", `echo resumed >> "$DIR/$TENANT_KEY"`},
		Command:        []string{"sh", "-c", `echo "$TENANT_ACTION $TENANT_SIZE $TENANT_SIZE_CONFIG" >> "$DIR/$TENANT_KEY"`}}
	t.Setenv("DIR", dir)
	ctx := context.Background()
	request := func(action string, round int, undo bool, at time.Time, sign bool) domain.AppPlaneRequested {
		e := domain.AppPlaneRequested{Action: action, Step: "app_" + action, Round: round, Undo: undo, Attempt: 1, TenantKey: "acme", Tier: "pooled",
			Size: "LARGE", SizeConfig: json.RawMessage(`{"maxUsers": 100}`), RequestedAt: at.UTC()}
		if sign {
			e.Signature = deployauth.SignRequest(agentKey, deploystep.AppPlaneRequestOf("t-acme", e))
		}
		return e
	}
	now := time.Now()
	for _, e := range []domain.AppPlaneRequested{
		request(domain.AppPlaneSuspend, 1, false, now, false),                   // not signed: nothing
		request(domain.AppPlaneSuspend, 1, false, now.Add(-25*time.Hour), true), // too old: nothing
		request(domain.AppPlaneSuspend, 1, false, now, true),                    // suspended
		request(domain.AppPlaneSuspend, 1, false, now, true),                    // again: nothing
		request(domain.AppPlaneResume, 2, false, now, true),                     // resumed
		request(domain.AppPlaneSuspend, 1, true, now, true),                     // an older round's undo: nothing
		request(domain.AppPlaneResize, 3, false, now, true),                     // resized
	} {
		headers, value := record(t, "t-acme", e)
		if err := a.Handle(ctx, headers, value); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := os.ReadFile(state)
	if want := "suspended\nresumed\nresize LARGE {\"maxUsers\":100}\n"; string(got) != want {
		t.Fatalf("the agent ran:\n%s\nwant:\n%s", got, want)
	}
}
