package kafka

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/tenantflow/tenantflow/platform/metrics"
	"github.com/tenantflow/tenantflow/platform/telemetry"
)

var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// The standard chain: a panic becomes a *PanicError (the process lives),
// the handler sees the record's trace continued, and the group's records
// are counted by result.
func TestConsumerMiddlewareRecoversTracesAndCounts(t *testing.T) {
	const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	c := Consumer{Group: "mw-test-" + t.Name(), Logger: quietLogger}
	var sawTrace string
	h := c.Wrap(func(ctx context.Context, r Record) error {
		sawTrace = telemetry.TraceID(ctx)
		if r.Key == "bad" {
			panic("boom")
		}
		return nil
	})
	ok := Record{Key: "good", Headers: map[string]string{"ce_traceparent": traceparent}}
	if err := h(context.Background(), ok); err != nil {
		t.Fatalf("a good record failed: %v", err)
	}
	if sawTrace != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("the handler ran in trace %q, not the record's", sawTrace)
	}
	err := h(context.Background(), Record{Key: "bad", Headers: map[string]string{}})
	var p *PanicError
	if !errors.As(err, &p) || p.Value != "boom" || !strings.Contains(p.Stack, "middleware_test.go") {
		t.Fatalf("a panic came back as %v, want a *PanicError with its stack", err)
	}
	if n := testutil.ToFloat64(metrics.ConsumedRecords.WithLabelValues(c.Group, "ok")); n != 1 {
		t.Errorf("ok records counted: %v, want 1", n)
	}
	if n := testutil.ToFloat64(metrics.ConsumedRecords.WithLabelValues(c.Group, "error")); n != 1 {
		t.Errorf("failed records counted: %v, want 1", n)
	}
}
