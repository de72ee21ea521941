package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
	"github.com/tenantflow/tenantflow/internal/testkit/wait"
)

// fleetEnv is `make run`'s configuration (every TENANTFLOW_* variable of
// devstack.sh env) with a database, topic and consumer groups of the run's
// own (with the prefixes the dev stack's Kafka ACLs grant: bench- for
// tenantd, appplane for the agent), so that nothing of other runs mixes in.
func fleetEnv(b *testing.B) map[string]string {
	env := testenv.Require(b, "TENANTFLOW_DATABASE_URL", "TENANTFLOW_KAFKA_BROKERS", "TENANTFLOW_KEYCLOAK_URL",
		"TENANTFLOW_KEYCLOAK_CLIENT_ID", "TENANTFLOW_SMTP_ADDR", "TENANTFLOW_DNS_SERVER", "TENANTFLOW_STORAGE", "TENANTFLOW_JWT_SECRET",
		"TENANTFLOW_DEPLOY_SIGNING_KEY", "TENANTFLOW_AGENT_KEY", "TENANTFLOW_DEVSTACK_KAFKA_AGENT_PASSWORD")
	for _, kv := range os.Environ() {
		if k, v, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "TENANTFLOW_") {
			env[k] = v
		}
	}
	owner := testenv.NewDatabase(b)
	env["TENANTFLOW_DATABASE_MIGRATE_URL"], env["TENANTFLOW_DATABASE_URL"] = owner, testenv.RuntimeURL(b, owner)
	env["TENANTFLOW_TENANT_DATABASE_URL"] = owner
	run := strings.ReplaceAll(uuid.NewString(), "-", "")[:8]
	env["TENANTFLOW_KAFKA_TOPIC"], env["TENANTFLOW_KAFKA_GROUP_PREFIX"] = "tenant.events.fleet-"+run, "bench-fleet-"+run
	env["TENANTFLOW_INFRA_STATE_DIR"] = b.TempDir()
	env["TENANTFLOW_HTTP_ADDR"], env["TENANTFLOW_ADMIN_ADDR"] = freeAddr(b), freeAddr(b)
	env["TENANTFLOW_LOG_LEVEL"] = "warn"
	return env
}

func freeAddr(b *testing.B) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// service is tenantd and the agent, running as processes of their own.
type service struct {
	base            string
	bin             string
	tenantd, agent  *exec.Cmd
	tenantdLog, agt *bytes.Buffer
}

func (s *service) pids() (tenantd, agent int) { return s.tenantd.Process.Pid, s.agent.Process.Pid }

// root is the repository's root.
func root() string {
	_, here, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(here), "..", "..")
}

// startService builds tenantd, tenantctl and the agent and starts tenantd
// and the agent (the dev stack's deploy and undo scripts), as `make run`.
func startService(b *testing.B, env map[string]string) *service {
	bin := b.TempDir()
	build := exec.Command("go", "build", "-o", bin+"/", "./cmd/tenantd", "./cmd/tenantctl", "./cmd/appplane-agent")
	build.Dir = root()
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	s := &service{base: "http://" + env["TENANTFLOW_HTTP_ADDR"], bin: bin, tenantdLog: &bytes.Buffer{}, agt: &bytes.Buffer{}}
	s.tenantd = exec.Command(filepath.Join(bin, "tenantd"))
	s.tenantd.Env = environ(env)
	s.tenantd.Stdout, s.tenantd.Stderr = &lockedWriter{w: s.tenantdLog}, &lockedWriter{w: s.tenantdLog}
	if err := s.tenantd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stop(s.tenantd) })
	wait.For(b, 2*time.Minute, func() error {
		resp, err := http.Get(s.base + "/readyz")
		if err != nil {
			return fmt.Errorf("tenantd not ready: %v\n%s", err, s.tenantdLog)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("tenantd not ready: /readyz %d\n%s", resp.StatusCode, s.tenantdLog)
		}
		return nil
	})
	agentEnv := map[string]string{}
	for k, v := range env {
		agentEnv[k] = v
	}
	agentEnv["TENANTFLOW_KAFKA_USERNAME"], agentEnv["TENANTFLOW_KAFKA_PASSWORD"] = "tenantflow-agent", env["TENANTFLOW_DEVSTACK_KAFKA_AGENT_PASSWORD"]
	agentEnv["APPPLANE_DIR"] = env["TENANTFLOW_DEVSTACK_APPPLANE_DIR"]
	s.agent = exec.Command(filepath.Join(bin, "appplane-agent"), "--control", s.base, "--group", "appplane-fleet-"+uuid.NewString()[:8],
		"--pass-env", "APPPLANE_DIR", "--state", filepath.Join(b.TempDir(), "agent.json"), "--deploy", filepath.Join(root(), "devstack", "appplane-deploy.sh"), "--undo", filepath.Join(root(), "devstack", "appplane-undo.sh"))
	s.agent.Env = environ(agentEnv)
	s.agent.Stdout, s.agent.Stderr = &lockedWriter{w: s.agt}, &lockedWriter{w: s.agt}
	if err := s.agent.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stop(s.agent) })
	return s
}

func environ(env map[string]string) []string {
	out := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

func stop(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// tenantctl runs tenantctl with env.
func (s *service) tenantctl(env map[string]string, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(s.bin, "tenantctl"), args...)
	cmd.Env = environ(env)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// client is an operator of the REST API.
type client struct {
	base, token string
}

func (c *client) send(ctx context.Context, method, path, body string) (int, map[string]any, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &out)
	if resp.StatusCode >= 300 {
		return resp.StatusCode, out, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode, out, nil
}

// poll is how often a tenant's status is read while waiting for it.
const poll = 200 * time.Millisecond

// waitStatus reads the tenant until it has status want, or fails on
// status bad.
func (c *client) waitStatus(ctx context.Context, id, want, bad string) error {
	for {
		_, t, err := c.send(ctx, http.MethodGet, "/tenants/"+id, "")
		if err != nil {
			return err
		}
		switch t["status"] {
		case want:
			return nil
		case bad:
			return fmt.Errorf("tenant %s is %s: %v", id, bad, t["lastError"])
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(poll):
		}
	}
}

// provision creates tenant key and provisions it on tier; the time is the
// provisioning request's to ACTIVE.
func (c *client) provision(ctx context.Context, key, tier string) (string, time.Duration, error) {
	_, t, err := c.send(ctx, http.MethodPost, "/tenants", `{"key":"`+key+`","name":"Fleet `+key+`",
		"contact":{"email":"`+key+`@fleet.example.com","firstName":"F","lastName":"L"}}`)
	if err != nil {
		return "", 0, err
	}
	id, _ := t["id"].(string)
	if id == "" {
		return "", 0, errors.New("POST /tenants answered no id")
	}
	start := time.Now()
	_, _, err = c.send(ctx, http.MethodPost, "/tenants/"+id+"/provision", `{"id":"s-`+key+`","subscriberId":"c-`+key+`","planId":"p",
		"startDate":"2026-12-01T00:00:00Z","status":1,"plan":{"id":"p","name":"P","price":1,"currencyId":"EUR","tier":"`+tier+`","billingCycleId":"monthly"}}`)
	if err == nil {
		err = c.waitStatus(ctx, id, "ACTIVE", "PROVISION_FAILED")
	}
	return id, time.Since(start), err
}

// deprovision deletes the tenant; the time is the request's to INACTIVE.
func (c *client) deprovision(ctx context.Context, id string) (time.Duration, error) {
	if id == "" {
		return 0, errors.New("the tenant was never created")
	}
	start := time.Now()
	_, _, err := c.send(ctx, http.MethodDelete, "/tenants/"+id, "")
	if err == nil {
		err = c.waitStatus(ctx, id, "INACTIVE", "")
	}
	return time.Since(start), err
}
