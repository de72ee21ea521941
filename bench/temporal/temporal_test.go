// Package temporal is the workflow-engine baseline of `make bench`: the
// eleven provisioning steps as one Temporal workflow of eleven no-op
// activities, run on the Temporal server (go.temporal.io/server v1.32.1,
// its temporaltest single-process server) under the same closed and open
// loops as tenantflow's benchmark (internal/loadgen).
//
// The server persists to SQLite in memory (temporaltest's only mode), so
// the baseline never waits for a disk; tenantflow's figures include
// PostgreSQL's commits and Kafka's. That favours the baseline.
package temporal

import (
	"context"
	"fmt"
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

// steps are tenantflow's eleven: the request, the nine of domain.Steps and
// the notification.
var steps = []string{"request", "idp", "admin_user", "database", "storage", "infrastructure", "deploy", "dns", "resources", "activate", "notify"}

const queue = "provisioning"

// activated lets a benchmark see the moment a tenant became ACTIVE (the
// activate activity ran), as tenantflow's sees tenant.activated.
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
	if activity.GetInfo(ctx).ActivityType.Name == "activate" {
		if ch, ok := activated.Load(activity.GetInfo(ctx).WorkflowExecution.ID); ok {
			close(ch.(chan struct{}))
		}
	}
	return nil
}

func BenchmarkTemporal(b *testing.B) {
	ts := temporaltest.NewServer()
	defer ts.Stop()
	w := ts.NewWorker(queue, func(r worker.Registry) {
		r.RegisterWorkflow(Provision)
		for _, s := range steps {
			r.RegisterActivityWithOptions(noop, activity.RegisterOptions{Name: s})
		}
	})
	defer w.Stop()
	c := ts.GetDefaultClient()
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
		if _, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: queue}, Provision, id); err != nil {
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
	if _, err := op(ctx, 0); err != nil { // warm-up
		b.Fatal(err)
	}
	b.Run("Provisioning", func(b *testing.B) {
		for _, outstanding := range []int{32, 128} {
			b.Run(fmt.Sprintf("closed-%d", outstanding), func(b *testing.B) {
				loadgen.ClosedRun(ctx, outstanding, op).Report(b)
			})
		}
		rates, err := loadgen.Rates(loadgen.DefaultRates)
		if err != nil {
			b.Fatal(err)
		}
		for _, rate := range rates {
			b.Run(fmt.Sprintf("open-%g-per-s", rate), func(b *testing.B) {
				loadgen.Open(ctx, rate, loadgen.OpenSeconds(), op).Report(b)
			})
		}
	})
}
