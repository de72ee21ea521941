package handlers

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/tenantflow/tenantflow/handlers/step"
)

// Retry is how often and how patiently a step retries transient errors.
type Retry struct {
	MaxTries  int           // tries in all, at least 1
	BaseDelay time.Duration // delay before the second try; doubles each time
	MaxDelay  time.Duration // cap on one delay
	// TryTimeout bounds one try (0: unbounded). A back end that never
	// answers — a request Keycloak accepted and then sat on — would
	// otherwise hold the tenant's partition for ever; a timed-out try is a
	// transient error like any other.
	TryTimeout time.Duration
}

// run calls fn until it succeeds, fails permanently, ctx ends or MaxTries
// are used. It returns how many tries it made. Delays are exponential with
// full jitter, so that many tenants failing together do not retry in step.
func (r Retry) run(ctx context.Context, fn func(ctx context.Context) error) (int, error) {
	delay := r.BaseDelay
	for try := 1; ; try++ {
		err := r.try(ctx, fn)
		if err == nil || step.IsPermanent(err) || try >= max(r.MaxTries, 1) {
			return try, err
		}
		wait := time.Duration(rand.Int64N(int64(delay) + 1))
		select {
		case <-ctx.Done():
			return try, errors.Join(err, ctx.Err())
		case <-time.After(wait):
		}
		delay = min(2*delay, r.MaxDelay)
	}
}

func (r Retry) try(ctx context.Context, fn func(ctx context.Context) error) error {
	if r.TryTimeout <= 0 {
		return fn(ctx)
	}
	tctx, cancel := context.WithTimeout(ctx, r.TryTimeout)
	defer cancel()
	err := fn(tctx)
	if err != nil && ctx.Err() == nil && errors.Is(tctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("try timed out after %s: %w", r.TryTimeout, err)
	}
	return err
}
