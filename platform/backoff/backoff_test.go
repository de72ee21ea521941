package backoff

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
	p := Policy{MaxTries: 3, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond, TryTimeout: 20 * time.Millisecond}
	tries, err := p.Run(context.Background(), hang)
	if tries != 3 || err == nil || !strings.Contains(err.Error(), "try timed out after 20ms") {
		t.Fatalf("tries %d, err %v", tries, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p.TryTimeout = time.Hour
	if _, err := p.Run(ctx, hang); !errors.Is(err, context.Canceled) || strings.Contains(err.Error(), "timed out") {
		t.Fatalf("cancelled caller: %v", err)
	}

	ok := func(context.Context) error { return nil }
	if tries, err := p.Run(context.Background(), ok); tries != 1 || err != nil {
		t.Fatalf("a quick success: %d %v", tries, err)
	}
}

// An error Stop names ends the tries at once; others use them all.
func TestStopEndsTheTries(t *testing.T) {
	final := errors.New("final")
	p := Policy{MaxTries: 5, BaseDelay: time.Microsecond, MaxDelay: time.Microsecond, Stop: func(err error) bool { return errors.Is(err, final) }}
	if tries, err := p.Run(context.Background(), func(context.Context) error { return final }); tries != 1 || !errors.Is(err, final) {
		t.Fatalf("a final error: %d tries, %v", tries, err)
	}
	if tries, _ := p.Run(context.Background(), func(context.Context) error { return errors.New("transient") }); tries != 5 {
		t.Fatalf("a transient error: %d tries, want 5", tries)
	}
}
