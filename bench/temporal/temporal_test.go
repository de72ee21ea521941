// Package temporal is the workflow-engine baseline of `make bench`: the
// eleven provisioning steps as one Temporal workflow of eleven no-op
// activities, run on the Temporal server (go.temporal.io/server v1.32.1)
// under the same closed and open loops as tenantflow's benchmark
// (internal/loadgen). The server persists to the dev stack's PostgreSQL,
// configured as postgres_test.go says; TENANTFLOW_BENCH_TEMPORAL_STORE=sqlite
// runs the temporaltest in-memory SQLite server of the earlier runs.
package temporal

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/internal/loadgen"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.temporal.io/server/temporaltest"
)

// server starts the baseline's server and a worker of the provisioning
// task queue; stop ends both.
func server(b *testing.B) (client.Client, func()) {
	register := func(r worker.Registry) {
		r.RegisterWorkflow(Provision)
		for _, s := range steps {
			r.RegisterActivityWithOptions(noop, activity.RegisterOptions{Name: s})
		}
	}
	if os.Getenv("TENANTFLOW_BENCH_TEMPORAL_STORE") == "sqlite" {
		ts := temporaltest.NewServer()
		w := ts.NewWorker(queue, register)
		return ts.GetDefaultClient(), func() { w.Stop(); ts.Stop() }
	}
	c, stop := startServer(b)
	w := worker.New(c, queue, worker.Options{
		WorkflowTaskPollerBehavior: worker.NewPollerBehaviorAutoscaling(worker.PollerBehaviorAutoscalingOptions{}),
		ActivityTaskPollerBehavior: worker.NewPollerBehaviorAutoscaling(worker.PollerBehaviorAutoscalingOptions{}),
	})
	register(w)
	if err := w.Start(); err != nil {
		stop()
		b.Fatal(err)
	}
	return c, func() { w.Stop(); stop() }
}

// The server runs as a process of its own — this test binary started again
// in the role "temporal-server" (loadgen.StartRole) — so that its CPU is measured apart from the
// worker's. The worker stays in the benchmark process with the loop that
// starts the workflows: eager workflow start hands a new workflow's first
// task to a worker of the client that started it, so the starter and the
// worker are one process, as in an application that starts its workflows
// from its own API. Its CPU is reported as "worker" and includes the load
// generator.
func TestMain(m *testing.M) { loadgen.Main(m, map[string]func() error{"temporal-server": runServer}) }

// runServer serves until its standard input closes, then drops its
// databases. It prints "frontend=<host:port>" when it serves, and answers
// each "vacuum" line with "vacuumed" once VACUUM ANALYZE ran.
func runServer() error {
	hostPort, dbs, stop, err := serveOnPostgres()
	if err != nil {
		return err
	}
	defer stop()
	fmt.Printf("frontend=%s\n", hostPort)
	return loadgen.UntilStdinCloses(func(line string) error {
		if line != "vacuum" {
			return nil
		}
		if err := vacuum(dbs); err != nil {
			return err
		}
		fmt.Println("vacuumed")
		return nil
	})
}

// srvProc is the server's process (nil with the SQLite server).
var srvProc *loadgen.Child

// vacuumServer has the server's process run VACUUM ANALYZE in its databases.
func vacuumServer(b *testing.B) {
	if _, err := io.WriteString(srvProc.Stdin, "vacuum\n"); err != nil {
		b.Fatal(err)
	}
	if line, err := srvProc.Stdout.ReadString('\n'); err != nil || line != "vacuumed\n" {
		b.Fatalf("the server's vacuum: %q %v", line, err)
	}
}

// startServer starts the server's process and returns a client of its
// default namespace; stop ends it (and so drops its databases).
func startServer(b *testing.B) (client.Client, func()) {
	child, line, err := loadgen.StartRole("temporal-server")
	if err != nil {
		b.Fatal(err)
	}
	stop := child.Stop
	hostPort, ok := strings.CutPrefix(line, "frontend=")
	if !ok {
		stop()
		b.Fatalf("the server said %q", line)
	}
	srvProc = child
	c, err := client.Dial(client.Options{HostPort: hostPort, Namespace: benchNamespace})
	if err != nil {
		stop()
		b.Fatal(err)
	}
	return c, func() { c.Close(); stop() }
}

// sampleCPU is the CPU time of the server's process, of this one (the
// worker, and the loop starting workflows) and of the dev stack's
// PostgreSQL.
func sampleCPU() loadgen.Split {
	s := loadgen.Split{"worker": loadgen.ProcessCPU([]int{os.Getpid()}), "postgres": loadgen.ProcessCPU(loadgen.DevStackPostgres())}
	if srvProc != nil {
		s["server"] = loadgen.ProcessCPU([]int{srvProc.Pid})
	}
	return s
}

// measured runs one loop after VACUUM ANALYZE, with its CPU split.
func measured(b *testing.B, run func() loadgen.Result) {
	if srvProc != nil {
		vacuumServer(b)
	}
	cpu0 := sampleCPU()
	r := run()
	sampleCPU().Report(b, cpu0, r.Done)
	r.Report(b)
}

// steps are tenantflow's eleven: the request, the nine of domain.Steps and
// the notification.
var steps = []string{"request", "idp", "admin_user", "database", "storage", "infrastructure", "deploy", "dns", "resources", "activate", "notify"}

const queue = "provisioning"

// activated lets a benchmark see the moment a tenant's activation was
// durably recorded, as tenantflow's sees tenant.activated read back from
// its log: when the activity after activate (notify) starts, the activate
// activity's completion is in the workflow's history (the workflow task that
// scheduled notify ran on it). Until 2026-12-07 the baseline stopped when
// activate started, a step earlier than tenantflow.
var activated sync.Map // workflow id → chan struct{}

// Provision is the workflow: the steps in order, each an activity with the
// retry policy a provisioning workflow would have.
func Provision(ctx workflow.Context, tenant string) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 500 * time.Millisecond, MaximumInterval: 30 * time.Second, MaximumAttempts: 5},
	})
	for _, s := range steps {
		if err := workflow.ExecuteActivity(ctx, s, tenant).Get(ctx, nil); err != nil {
			return err
		}
	}
	return nil
}

func noop(ctx context.Context, tenant string) error {
	if activity.GetInfo(ctx).ActivityType.Name == "notify" {
		if ch, ok := activated.Load(activity.GetInfo(ctx).WorkflowExecution.ID); ok {
			close(ch.(chan struct{}))
		}
	}
	return nil
}

func BenchmarkTemporal(b *testing.B) {
	c, stop := server(b)
	defer stop()
	var n sync.Mutex
	seq := 0
	op := func(ctx context.Context, _ int) (time.Duration, error) {
		n.Lock()
		seq++
		id := fmt.Sprintf("tenant-%d", seq)
		n.Unlock()
		done := make(chan struct{})
		activated.Store(id, done)
		defer activated.Delete(id)
		t0 := time.Now()
		if _, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: queue, EnableEagerStart: true}, Provision, id); err != nil {
			return 0, err
		}
		select {
		case <-done:
			return time.Since(t0), nil
		case <-time.After(2 * time.Minute):
			return 0, fmt.Errorf("%s not active after 2 minutes", id)
		}
	}
	ctx := context.Background()
	// Warm-up; a namespace just registered reaches every service's cache
	// within seconds, so the first start may be refused until then.
	for deadline := time.Now().Add(time.Minute); ; {
		_, err := op(ctx, 0)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond) // the namespace cache's refresh, not a condition this process can see
	}
	b.Run("Provisioning", func(b *testing.B) {
		for _, outstanding := range []int{32, 128} {
			b.Run(fmt.Sprintf("closed-%d", outstanding), func(b *testing.B) {
				measured(b, func() loadgen.Result { return loadgen.ClosedRun(ctx, outstanding, op) })
			})
		}
		rates, err := loadgen.Rates(loadgen.DefaultRates)
		if err != nil {
			b.Fatal(err)
		}
		for _, rate := range rates {
			b.Run(fmt.Sprintf("open-%g-per-s", rate), func(b *testing.B) {
				measured(b, func() loadgen.Result { return loadgen.Open(ctx, rate, loadgen.OpenSeconds(), op) })
			})
		}
	})
}
