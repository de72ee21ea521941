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

// DeadLetters sets a record aside at once when its handling panicked, after
// maxFailures failures in a row otherwise, and never when 0 (wait out an
// outage); the record then counts as handled, so its offset moves on.
func TestDeadLettersMiddleware(t *testing.T) {
	var aside []string
	setAside := func(_ context.Context, r Record, reason string) error {
		aside = append(aside, r.Key+": "+reason)
		return nil
	}
	outage := errors.New("database unreachable")
	handler := func(ctx context.Context, rs []Record) error {
		switch rs[0].Key {
		case "panics":
			panic("bug")
		case "fails":
			return outage
		}
		return nil
	}
	for _, tc := range []struct {
		max       int
		key       string
		tries     int
		wantAside int
	}{
		{max: 3, key: "fails", tries: 2, wantAside: 0},
		{max: 3, key: "fails", tries: 3, wantAside: 1},
		{max: 0, key: "fails", tries: 50, wantAside: 0},
		{max: 0, key: "panics", tries: 1, wantAside: 1},
		{max: 3, key: "fine", tries: 1, wantAside: 0},
	} {
		aside = nil
		h := chain(handler, DeadLetters(tc.max, setAside, quietLogger), Recover())
		var err error
		for range tc.tries {
			err = h(context.Background(), []Record{{Key: tc.key, Partition: 1, Offset: 7}})
		}
		if len(aside) != tc.wantAside {
			t.Errorf("max %d, %s %d times: %d set aside (%v), want %d", tc.max, tc.key, tc.tries, len(aside), aside, tc.wantAside)
		}
		if wantErr := tc.key == "fails" && tc.wantAside == 0; (err != nil) != wantErr {
			t.Errorf("max %d, %s %d times: last error %v; want an error: %v", tc.max, tc.key, tc.tries, err, wantErr)
		}
	}
}
