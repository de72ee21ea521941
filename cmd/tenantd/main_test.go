package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/tenantflow/tenantflow/adapters/postgres"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/internal/testkit/kafkatest"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
	"github.com/tenantflow/tenantflow/internal/testkit/wait"
	"github.com/tenantflow/tenantflow/platform/auth"
)

// These tests build and run the real tenantd binary, as an operator would.

var (
	buildMu  sync.Mutex
	buildDir string
	built    = map[string]string{}
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// binary builds (once) the command in pkg, relative to this directory, with -race.
func binary(t *testing.T, pkg string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if path, ok := built[pkg]; ok {
		return path
	}
	if buildDir == "" {
		dir, err := os.MkdirTemp("", "tenantd-test")
		if err != nil {
			t.Fatal(err)
		}
		buildDir = dir
	}
	path := filepath.Join(buildDir, filepath.Base(filepath.Clean(pkg)))
	if pkg == "." {
		path = filepath.Join(buildDir, "tenantd")
	}
	out, err := exec.Command("go", "build", "-race", "-o", path, pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	built[pkg] = path
	return path
}

func tenantdBinary(t *testing.T) string { return binary(t, ".") }

// syncBuffer collects a child's output while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type proc struct {
	cmd   *exec.Cmd
	out   *syncBuffer
	base  string // the API
	admin string // the admin listener: /metrics, the detailed /readyz
	done  chan error
}

func freeAddr(t *testing.T) string { return freeAddrs(t, 1)[0] }

// freeAddrs are n distinct free addresses: each is held until all are
// found, so the kernel never hands out one port twice (it did: the API's
// and the admin listener's, and tenantd refused to start).
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		out = append(out, ln.Addr().String())
	}
	return out
}

// start runs tenantd with exactly env (plus PATH and HOME) and waits for /healthz.
func start(t *testing.T, env map[string]string, args ...string) *proc {
	t.Helper()
	addrs := freeAddrs(t, 2)
	addr, admin := addrs[0], addrs[1]
	cmd := exec.Command(tenantdBinary(t), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TENANTFLOW_HTTP_ADDR=" + addr, "TENANTFLOW_ADMIN_ADDR=" + admin}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, out: out, base: "http://" + addr, admin: "http://" + admin, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("tenantd output:\n%s", out)
		}
	})

	wait.For(t, 30*time.Second, func() error {
		resp, err := http.Get(p.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("tenantd exited before serving /healthz: %v", err)
		default:
		}
		return fmt.Errorf("tenantd does not serve /healthz: %v", err)
	})
	return p
}

type readyBody struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
	Failed []string          `json:"failed"`
}

// readyz is the admin listener's readiness, which names each dependency.
func (p *proc) readyz(t *testing.T) (int, readyBody) {
	t.Helper()
	resp, err := http.Get(p.admin + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b readyBody
	if err := json.NewDecoder(resp.Body).Decode(&b); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// stop sends SIGTERM and requires a clean exit before the 10 s budget ends.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			t.Fatalf("tenantd exited with %v after SIGTERM", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("tenantd did not stop within 10s of SIGTERM")
	}
}

// devStackEnv is the dev stack's settings with a database of the test's own.
func devStackEnv(t *testing.T) map[string]string {
	env := testenv.Require(t,
		"TENANTFLOW_DATABASE_URL", "TENANTFLOW_KAFKA_BROKERS",
		"TENANTFLOW_KEYCLOAK_URL", "TENANTFLOW_KEYCLOAK_ADMIN_USER", "TENANTFLOW_KEYCLOAK_ADMIN_PASSWORD",
		"TENANTFLOW_KEYCLOAK_CLIENT_ID", "TENANTFLOW_KEYCLOAK_CLIENT_SECRET")
	// tenantd signs in to Keycloak with the service account (its client
	// wins over the admin user, whose settings the tests use to inspect).
	// tenantd migrates as the owner and runs as the runtime role, as in
	// production: it may only read and append to the event log.
	owner := testenv.NewDatabase(t)
	env["TENANTFLOW_DATABASE_MIGRATE_URL"] = owner
	env["TENANTFLOW_DATABASE_URL"] = testenv.RuntimeURL(t, owner)
	env["TENANTFLOW_TENANT_DATABASE_URL"] = owner // tenants' schemas and roles: the owner makes them
	// A topic and consumer groups of the test's own: tenantd instances of
	// other tests (other databases) must not take this one's events.
	run := strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	// The brokers' TLS and the principals (tenantd's and the relay's), as the
	// dev stack exports them.
	for _, k := range []string{"TENANTFLOW_KAFKA_SASL_MECHANISM", "TENANTFLOW_KAFKA_USERNAME", "TENANTFLOW_KAFKA_PASSWORD",
		"TENANTFLOW_KAFKA_RELAY_USERNAME", "TENANTFLOW_KAFKA_RELAY_PASSWORD", "TENANTFLOW_KAFKA_TLS", "TENANTFLOW_KAFKA_TLS_CA_FILE",
		"TENANTFLOW_KAFKA_REPLICATION_FACTOR", "TENANTFLOW_KAFKA_MIN_INSYNC_REPLICAS",
		"TENANTFLOW_PII_KEY",                                                                                                 // and the master key of people's personal data keys
		"TENANTFLOW_BILLING", "TENANTFLOW_STRIPE_API_URL", "TENANTFLOW_STRIPE_API_KEY", "TENANTFLOW_STRIPE_WEBHOOK_SECRET"} { // and the billing stand-in

		if v := os.Getenv(k); v != "" {
			env[k] = v
		}
	}
	env["TENANTFLOW_KAFKA_TOPIC"] = "tenant.events.test-" + run
	env["TENANTFLOW_KAFKA_GROUP_PREFIX"] = "test-" + run
	env["TENANTFLOW_KAFKA_PARTITIONS"] = "4"
	env["TENANTFLOW_STORAGE_DIR"] = t.TempDir() // the local storage default is shared by every run otherwise
	return env
}

// readyzUntil polls /readyz until cond holds (the event log's start-up —
// migrations, topic — takes a moment) and returns the last answer.
func (p *proc) readyzUntil(t *testing.T, what string, cond func(code int, b readyBody) bool) (int, readyBody) {
	t.Helper()
	var code int
	var body readyBody
	wait.For(t, 60*time.Second, func() error {
		if code, body = p.readyz(t); !cond(code, body) {
			return fmt.Errorf("/readyz does not show %s; last: %d %+v", what, code, body)
		}
		return nil
	})
	return code, body
}

func isReady(code int, _ readyBody) bool { return code == http.StatusOK }

func TestReadyOnTheRealDevStackAndStopsOnSIGTERM(t *testing.T) {
	p := start(t, devStackEnv(t))
	_, body := p.readyzUntil(t, "ready", isReady)
	for _, dep := range []string{"postgres", "kafka", "keycloak", "eventlog"} {
		if body.Checks[dep] != "ok" {
			t.Errorf("check %s = %q", dep, body.Checks[dep])
		}
	}
	p.stop(t)
	if !strings.Contains(p.out.String(), `"msg":"stopped"`) {
		t.Errorf("no clean-stop log line:\n%s", p.out)
	}
	if strings.Contains(p.out.String(), "as the admin user") {
		t.Errorf("tenantd signed in to Keycloak as the admin user, not the service account:\n%s", p.out)
	}
}

func TestEmbeddedBrokerWhenNoneConfigured(t *testing.T) {
	env := devStackEnv(t)
	delete(env, "TENANTFLOW_KAFKA_BROKERS")
	delete(env, "TENANTFLOW_KEYCLOAK_URL")
	p := start(t, env)
	if !strings.Contains(p.out.String(), "EMBEDDED KAFKA BROKER") || !strings.Contains(p.out.String(), "NOT durable") {
		t.Errorf("the embedded broker must be announced loudly:\n%s", p.out)
	}
	_, body := p.readyzUntil(t, "ready", isReady)
	if body.Checks["kafka"] != "ok" || body.Checks["eventlog"] != "ok" {
		t.Fatalf("/readyz = %+v", body)
	}
	if _, ok := body.Checks["keycloak"]; ok {
		t.Error("keycloak is checked although it is not configured")
	}
	p.stop(t)
}

func TestNotReadyNamesTheMissingDependency(t *testing.T) {
	env := devStackEnv(t)
	env["TENANTFLOW_KEYCLOAK_URL"] = "http://" + freeAddr(t) // nothing listens there
	p := start(t, env)
	code, body := p.readyzUntil(t, "the event log up", func(_ int, b readyBody) bool { return b.Checks["eventlog"] == "ok" })
	if code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz = %d, want 503", code)
	}
	if len(body.Failed) != 1 || body.Failed[0] != "keycloak" {
		t.Fatalf("failed = %v, want [keycloak]", body.Failed)
	}
	if body.Checks["postgres"] != "ok" || body.Checks["kafka"] != "ok" {
		t.Errorf("healthy dependencies reported as failing: %+v", body.Checks)
	}
	p.stop(t)
}

func TestRefusesAnInvalidConfigNamingEachVariable(t *testing.T) {
	cmd := exec.Command(tenantdBinary(t))
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"TENANTFLOW_HTTP_ADDR=nonsense",
		"TENANTFLOW_LOG_LEVEL=chatty",
		"TENANTFLOW_KEYCLOAK_URL=http://kc:8080",
	}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("want exit code 2, got %v\n%s", err, out)
	}
	for _, name := range []string{"TENANTFLOW_HTTP_ADDR", "TENANTFLOW_LOG_LEVEL", "TENANTFLOW_KEYCLOAK_ADMIN_PASSWORD"} {
		if !strings.Contains(string(out), name) {
			t.Errorf("output does not name %s:\n%s", name, out)
		}
	}
}

// TestRelaysCommittedEventsToTheTopic: an event appended to the log of a
// running tenantd reaches tenant.events.v1 on the real broker.
func TestRelaysCommittedEventsToTheTopic(t *testing.T) {
	env := devStackEnv(t)
	p := start(t, env)
	p.readyzUntil(t, "ready", isReady)

	ctx := context.Background()
	pool, err := postgres.Open(ctx, env["TENANTFLOW_DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	store := eventstore.NewPostgres(pool, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer store.Close()
	id := uuid.NewString()
	stream := "tenant-" + uuid.NewString()
	if _, err := store.Append(ctx, stream, eventstore.NoStream, eventstore.NewEvent{
		ID: id, Type: "tenant.smoke.happened", Data: []byte(`{"ok":true}`),
	}); err != nil {
		t.Fatal(err)
	}
	recs := kafkatest.Read(t, strings.Split(env["TENANTFLOW_KAFKA_BROKERS"], ","), env["TENANTFLOW_KAFKA_TOPIC"], kafkatest.Contains(id))
	for _, r := range recs {
		if r.Headers["ce_id"] == id && (r.Key != stream || r.Headers["ce_type"] != "tenant.smoke.happened") {
			t.Errorf("record %v", r)
		}
	}
	p.stop(t)
}

// TestTenantCommandThroughTheRealService: a token minted from the configured
// secret creates a tenant on a running tenantd, and reading it back right
// after shows it.
func TestTenantCommandThroughTheRealService(t *testing.T) {
	env := devStackEnv(t)
	env["TENANTFLOW_JWT_SECRET"] = "tenantd-test-secret-tenantd-test-secret"
	p := start(t, env)
	p.readyzUntil(t, "ready", isReady)
	signer, _ := auth.NewHS256(env["TENANTFLOW_JWT_SECRET"], "tenantflow")
	tok, _ := signer.Mint("tester", []string{auth.CreateTenant, auth.ViewTenant}, "", time.Hour, time.Now())

	body := `{"key":"acme","name":"Acme","contact":{"email":"ops@example.com","firstName":"Ada","lastName":"L"}}`
	location := p.createTenant(t, tok, body)
	req, _ := http.NewRequest("GET", p.base+location, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || got["key"] != "acme" || got["status"] != "PENDING_PROVISION" {
		t.Fatalf("GET = %d %v", resp.StatusCode, got)
	}
	// without a token: 401
	resp, err = http.Post(p.base+"/tenants", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no token: %d", resp.StatusCode)
	}
	p.stop(t)
}

// TestSIGTERMDrainsARequestInFlight: a request whose body has not arrived
// when tenantd gets SIGTERM is served to the end (201, its event in the
// log), while new connections are refused; then tenantd exits cleanly.
func TestSIGTERMDrainsARequestInFlight(t *testing.T) {
	env := devStackEnv(t)
	env["TENANTFLOW_JWT_SECRET"] = "tenantd-test-secret-tenantd-test-secret"
	p := start(t, env)
	p.readyzUntil(t, "ready", isReady)
	signer, _ := auth.NewHS256(env["TENANTFLOW_JWT_SECRET"], "tenantflow")
	tok, _ := signer.Mint("tester", []string{auth.CreateTenant}, "", time.Hour, time.Now())
	addr := strings.TrimPrefix(p.base, "http://")

	body := `{"key":"drain","name":"Drain Co","contact":{"email":"ops@drain.example.com","firstName":"Ada","lastName":"L"}}`
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Expect: 100-continue makes the server say when its handler starts
	// reading the body: from then on the request is in flight for sure.
	head := "POST /tenants HTTP/1.1\r\nHost: " + addr + "\r\nAuthorization: Bearer " + tok +
		"\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n"
	if _, err := conn.Write([]byte(head)); err != nil {
		t.Fatal(err)
	}
	answers := bufio.NewReader(conn)
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	if line, err := answers.ReadString('\n'); err != nil || !strings.Contains(line, "100 Continue") {
		t.Fatalf("no 100 Continue: %q %v", line, err)
	}
	if blank, err := answers.ReadString('\n'); err != nil || blank != "\r\n" {
		t.Fatalf("after 100 Continue: %q %v", blank, err)
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	wait.For(t, 10*time.Second, func() error {
		if !strings.Contains(p.out.String(), `"msg":"shutting down"`) {
			return fmt.Errorf("no shutdown after SIGTERM:\n%s", p.out)
		}
		return nil
	})
	// The listener is closed: a new connection is refused.
	wait.For(t, 5*time.Second, func() error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return nil
		}
		c.Close()
		return errors.New("new connections still accepted after SIGTERM")
	})

	if _, err := conn.Write([]byte(body)); err != nil {
		t.Fatalf("the request in flight was cut off: %v", err)
	}
	resp, err := http.ReadResponse(answers, nil)
	if err != nil {
		t.Fatalf("no answer to the request in flight: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("request in flight: %d, want 201", resp.StatusCode)
	}
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			t.Fatalf("tenantd exited with %v after draining", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("tenantd did not stop after draining")
	}
	if !strings.Contains(p.out.String(), `"msg":"stopped"`) {
		t.Errorf("no clean-stop log line:\n%s", p.out)
	}

	// The tenant the drained request created is in the log.
	pool, err := postgres.Open(context.Background(), env["TENANTFLOW_DATABASE_MIGRATE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	id := strings.TrimPrefix(resp.Header.Get("Location"), "/tenants/")
	var n int
	if err := pool.QueryRow(context.Background(), `select count(*) from events where stream_id = $1`, "tenant-"+id).Scan(&n); err != nil || n == 0 {
		t.Fatalf("tenant %s of the drained request: %d events (%v)", id, n, err)
	}
}

// createTenant POSTs body to /tenants with tok and returns the new
// tenant's location; any answer but 201 fails t.
func (p *proc) createTenant(t *testing.T, tok, body string) string {
	t.Helper()
	req, _ := http.NewRequest("POST", p.base+"/tenants", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /tenants = %d", resp.StatusCode)
	}
	return resp.Header.Get("Location")
}
