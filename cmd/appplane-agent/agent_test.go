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
	"github.com/tenantflow/tenantflow/internal/deployauth"
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
		UndoCommand: []string{"sh", "-c", `rm -f "$DIR/$TENANT_KEY" && touch "$DIR/$TENANT_KEY.removed"`}}
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
