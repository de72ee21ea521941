package handlers

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// A back end that never answers costs one TryTimeout per try, not the
// tenant's partition for ever; the caller's own cancellation still wins.
func TestTryTimeoutEndsAHungTry(t *testing.T) {
	hang := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	r := Retry{MaxTries: 3, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond, TryTimeout: 20 * time.Millisecond}
	tries, err := r.run(context.Background(), hang)
	if tries != 3 || err == nil || !strings.Contains(err.Error(), "try timed out after 20ms") {
		t.Fatalf("tries %d, err %v", tries, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r.TryTimeout = time.Hour
	if _, err := r.run(ctx, hang); !errors.Is(err, context.Canceled) || strings.Contains(err.Error(), "timed out") {
		t.Fatalf("cancelled caller: %v", err)
	}

	ok := func(context.Context) error { return nil }
	if tries, err := r.run(context.Background(), ok); tries != 1 || err != nil {
		t.Fatalf("a quick success: %d %v", tries, err)
	}
}
