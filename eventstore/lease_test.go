package eventstore

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
)

// holderEnv names the lease a re-executed test binary takes and holds
// (TestLeaseHolderProcess), and the database it takes it in.
const holderEnv = "TENANTFLOW_TEST_LEASE_HOLDER"

// TestMain runs the test binary as TestFrozenLeaseHolderIsTakenOver's
// child when holderEnv is set: it takes the lease, says so, and holds it
// until killed. Otherwise it runs the tests.
func TestMain(m *testing.M) {
	if spec := os.Getenv(holderEnv); spec != "" {
		holdLease(spec)
	}
	os.Exit(m.Run())
}

func holdLease(spec string) {
	url, name, _ := strings.Cut(spec, "|")
	pool, err := pgxpool.New(context.Background(), url)
	if err == nil {
		_, _, err = NewPostgres(pool, quiet).Lead(context.Background(), name, 200*time.Millisecond, quiet)
	}
	if err != nil {
		os.Stdout.WriteString("failed: " + err.Error() + "\n")
		os.Exit(1)
	}
	os.Stdout.WriteString("holding\n")
	select {}
}

// A lease holder that freezes (SIGSTOP: the process is there, its kernel
// still acknowledges TCP, but it sends nothing) loses the lease within
// LeaseTimeout: the server ends its quiet session and a standby leads.
// Before, the session — and the lock — lived as long as the frozen process.
func TestFrozenLeaseHolderIsTakenOver(t *testing.T) {
	url := testenv.DatabaseURL(t)
	name := "test-lease-" + uuid.NewString()
	poll := 200 * time.Millisecond
	holder := exec.Command(os.Args[0])
	holder.Env = append(os.Environ(), holderEnv+"="+url+"|"+name)
	out, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = holder.Process.Kill(); _ = holder.Wait() })
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "holding\n" {
		t.Fatalf("the holder never took the lease: %q %v", line, err)
	}

	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	store := NewPostgres(pool, quiet)
	// Held and alive: a standby does not get it.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	if _, _, err := store.Lead(ctx, name, poll, quiet); err == nil {
		t.Fatal("a standby took the lease of a live holder")
	}
	cancel()

	if err := holder.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	frozen := time.Now()
	ctx, cancel = context.WithTimeout(context.Background(), LeaseTimeout(poll)+30*time.Second)
	defer cancel()
	_, release, err := store.Lead(ctx, name, poll, quiet)
	if err != nil {
		t.Fatalf("the lease of a frozen holder was never taken over: %v", err)
	}
	defer release()
	took := time.Since(frozen)
	t.Logf("taken over %.1f s after the holder froze (LeaseTimeout %s)", took.Seconds(), LeaseTimeout(poll))
}
