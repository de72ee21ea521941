package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/domain"
	deploystep "github.com/tenantflow/tenantflow/handlers/deploy"
	"github.com/tenantflow/tenantflow/platform/deployauth"
)

var (
	agentKey   = bytes.Repeat([]byte{7}, 32)
	signingKey = []byte("the-control-planes-own-signing-key!")
)

// controlPlane records the reports that reach it and checks their signature.
type controlPlane struct {
	mu      sync.Mutex
	reports []map[string]any
}

func (c *controlPlane) serve(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/tenants/"), "/deployment")
		var rep map[string]any
		_ = json.Unmarshal(body, &rep)
		secret := deployauth.Secret(signingKey, id, int(rep["attempt"].(float64)))
		if err := deployauth.Verify(secret, r.Header.Get(deployauth.HeaderTimestamp), r.Header.Get(deployauth.HeaderSignature), body, time.Now()); err != nil {
			t.Errorf("a report the control plane cannot verify: %v", err)
		}
		c.mu.Lock()
		c.reports = append(c.reports, rep)
		c.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// record is a request as the relay publishes it.
func record(t *testing.T, tenantID string, e domain.Event) (map[string]string, []byte) {
	t.Helper()
	data, _ := json.Marshal(e)
	value, _ := json.Marshal(map[string]any{"streamVersion": 9, "data": json.RawMessage(data)})
	return map[string]string{"ce_type": e.EventType(), "ce_subject": "tenant-" + tenantID, "ce_id": "x"}, value
}

func sealed(t *testing.T, tenantID string, attempt int, key string) string {
	t.Helper()
	s, err := deployauth.Seal(agentKey, deployauth.Secret(signingKey, tenantID, attempt), deployauth.Binding(tenantID, attempt, key))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The agent acts only on requests the control plane signed, with a secret
// sealed for that very tenant, attempt and key: a forged or altered removal
// request and a secret moved from another tenant's request run nothing and
// report nothing; the control plane's signed requests deploy and remove.
func TestAgentActsOnlyOnSignedRequests(t *testing.T) {
	dir := t.TempDir()
	cp := &controlPlane{}
	srv := cp.serve(t)
	a := Agent{AgentKey: agentKey, ControlURL: srv.URL, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Command:     []string{"sh", "-c", `echo "$ATTEMPT" > "$DIR/$TENANT_KEY" && echo https://$TENANT_KEY.apps.test`},
		UndoCommand: []string{"sh", "-c", `rm -f "$DIR/$TENANT_KEY" && touch "$DIR/$TENANT_KEY.removed"`}, PassEnv: []string{"DIR"}}
	t.Setenv("DIR", dir)
	ctx := context.Background()
	deadline := time.Now().Add(time.Hour).UTC()

	deploy := domain.DeploymentRequested{Attempt: 1, TenantKey: "acme", Tier: "pooled", RequestedAt: time.Now().UTC(), Deadline: deadline,
		SealedSecret: sealed(t, "t-acme", 1, "acme")}
	deploy.Signature = deployauth.SignRequest(agentKey, deploystep.RequestOf("t-acme", deploy))
	undo := domain.DeploymentUndoRequested{Attempt: 1, TenantKey: "acme", RequestedAt: time.Now().UTC(), Deadline: deadline,
		SealedSecret: sealed(t, "t-acme", 1, "acme")}
	undo.Signature = deployauth.SignRequest(agentKey, deploystep.UndoRequestOf("t-acme", undo))

	forged := undo
	forged.Signature = deployauth.SignRequest(bytes.Repeat([]byte{9}, 32), deploystep.UndoRequestOf("t-acme", undo))
	altered := undo
	altered.TenantKey = "other"
	// A secret moved from acme's request into one for tenant "beta", signed
	// as the control plane would sign beta's request.
	transplanted := domain.DeploymentRequested{Attempt: 1, TenantKey: "beta", Tier: "pooled", Deadline: deadline, SealedSecret: deploy.SealedSecret}
	transplanted.Signature = deployauth.SignRequest(agentKey, deploystep.RequestOf("t-beta", transplanted))
	unsigned := deploy
	unsigned.Signature = ""

	for name, req := range map[string]struct {
		tenant string
		e      domain.Event
	}{"forged removal": {"t-acme", forged}, "altered removal": {"t-acme", altered}, "transplanted secret": {"t-beta", transplanted},
		"unsigned deployment": {"t-acme", unsigned}} {
		h, v := record(t, req.tenant, req.e)
		if err := a.Handle(ctx, h, v); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 || len(cp.reports) != 0 {
			t.Fatalf("%s: the agent acted: %d files, reports %v", name, len(entries), cp.reports)
		}
	}

	h, v := record(t, "t-acme", deploy)
	if err := a.Handle(ctx, h, v); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "acme")); err != nil || len(cp.reports) != 1 || cp.reports[0]["status"] != "deployed" {
		t.Fatalf("the signed deployment: %v, reports %v", err, cp.reports)
	}
	h, v = record(t, "t-acme", undo)
	if err := a.Handle(ctx, h, v); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "acme.removed")); err != nil || len(cp.reports) != 2 || cp.reports[1]["status"] != "removed" {
		t.Fatalf("the signed removal: %v, reports %v", err, cp.reports)
	}
}

// signedDeploy and signedUndo are requests the control plane signed.
func signedDeploy(t *testing.T, tenantID, key string, attempt int, deadline time.Time) domain.DeploymentRequested {
	d := domain.DeploymentRequested{Attempt: attempt, TenantKey: key, Tier: "pooled", RequestedAt: time.Now().UTC(), Deadline: deadline,
		SealedSecret: sealed(t, tenantID, attempt, key)}
	d.Signature = deployauth.SignRequest(agentKey, deploystep.RequestOf(tenantID, d))
	return d
}

func signedUndo(t *testing.T, tenantID, key string, attempt, round int, deadline time.Time) domain.DeploymentUndoRequested {
	u := domain.DeploymentUndoRequested{Attempt: attempt, Round: round, TenantKey: key, RequestedAt: time.Now().UTC(), Deadline: deadline,
		SealedSecret: sealed(t, tenantID, attempt, key)}
	u.Signature = deployauth.SignRequest(agentKey, deploystep.UndoRequestOf(tenantID, u))
	return u
}

// The agent refuses signed requests that are stale or carried out already:
// one past its signed deadline runs nothing; a redelivered deployment runs
// once; an old removal redriven or replayed after the tenant's next attempt
// deployed leaves that deployment alone — also after the agent restarts,
// from its ledger on disk.
func TestAgentRefusesStaleAndRepeatedRequests(t *testing.T) {
	dir := t.TempDir()
	cp := &controlPlane{}
	srv := cp.serve(t)
	state := filepath.Join(t.TempDir(), "ledger.json")
	agent := func() Agent {
		ledger, err := OpenLedger(state)
		if err != nil {
			t.Fatal(err)
		}
		return Agent{AgentKey: agentKey, ControlURL: srv.URL, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Handled: ledger,
			Command:     []string{"sh", "-c", `echo "$ATTEMPT" >> "$DIR/$TENANT_KEY.runs" && echo "$ATTEMPT" > "$DIR/$TENANT_KEY"`},
			UndoCommand: []string{"sh", "-c", `echo undo >> "$DIR/$TENANT_KEY.runs" && rm -f "$DIR/$TENANT_KEY"`}, PassEnv: []string{"DIR"}}
	}
	t.Setenv("DIR", dir)
	ctx := context.Background()
	later := time.Now().Add(time.Hour).UTC()
	handle := func(a Agent, tenantID string, e domain.Event) {
		t.Helper()
		h, v := record(t, tenantID, e)
		if err := a.Handle(ctx, h, v); err != nil {
			t.Fatal(err)
		}
	}
	runs := func() string {
		raw, _ := os.ReadFile(filepath.Join(dir, "acme.runs"))
		return strings.Join(strings.Fields(string(raw)), ",")
	}

	a := agent()
	handle(a, "t-acme", signedDeploy(t, "t-acme", "acme", 1, time.Now().Add(-time.Second).UTC()))
	if runs() != "" || len(cp.reports) != 0 {
		t.Fatalf("an expired request ran: %q, reports %v", runs(), cp.reports)
	}
	first := signedDeploy(t, "t-acme", "acme", 1, later)
	handle(a, "t-acme", first)
	handle(a, "t-acme", first) // redelivered
	if runs() != "1" || len(cp.reports) != 1 {
		t.Fatalf("a redelivered deployment: runs %q, reports %d", runs(), len(cp.reports))
	}
	oldUndo := signedUndo(t, "t-acme", "acme", 1, 0, later)
	handle(a, "t-acme", oldUndo)
	handle(a, "t-acme", signedDeploy(t, "t-acme", "acme", 2, later))
	if runs() != "1,undo,2" {
		t.Fatalf("runs %q, want deploy 1, its removal, deploy 2", runs())
	}
	// Attempt 1's removal again (a dead letter redriven, the topic replayed),
	// by a restarted agent: attempt 2's deployment stays.
	handle(agent(), "t-acme", oldUndo)
	if runs() != "1,undo,2" {
		t.Fatalf("an old removal ran again: runs %q", runs())
	}
	if _, err := os.Stat(filepath.Join(dir, "acme")); err != nil {
		t.Fatalf("attempt 2's deployment is gone: %v", err)
	}
	// The next round's removal of attempt 2 is new: it runs.
	handle(agent(), "t-acme", signedUndo(t, "t-acme", "acme", 2, 1, later))
	if runs() != "1,undo,2,undo" {
		t.Fatalf("runs %q, want attempt 2's removal", runs())
	}
}

// The deploy and undo commands get an allow-listed environment: none of
// the agent's own secrets (its key, its Kafka password) reaches them.
func TestAgentScriptsGetNoSecret(t *testing.T) {
	dir := t.TempDir()
	cp := &controlPlane{}
	srv := cp.serve(t)
	t.Setenv("TENANTFLOW_AGENT_KEY", "agent-key-that-must-not-leak")
	t.Setenv("TENANTFLOW_KAFKA_PASSWORD", "kafka-password-that-must-not-leak")
	t.Setenv("OUT", filepath.Join(dir, "env"))
	a := Agent{AgentKey: agentKey, ControlURL: srv.URL, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), PassEnv: []string{"OUT"},
		Command: []string{"sh", "-c", `env > "$OUT"`}}
	h, v := record(t, "t-env", signedDeploy(t, "t-env", "envy", 1, time.Now().Add(time.Hour).UTC()))
	if err := a.Handle(context.Background(), h, v); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "env"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "must-not-leak") || strings.Contains(string(raw), "TENANTFLOW_") || !strings.Contains(string(raw), "TENANT_KEY=envy") {
		t.Fatalf("the deploy command's environment:\n%s", raw)
	}
}
