// Package backoff is tenantflow's one retry policy: how often and how
// patiently something that failed is tried again — a step's back-end call,
// and a handler failing on a record.
package backoff

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Policy is how often and how patiently a call is tried.
type Policy struct {
	MaxTries  int           // tries in all, at least 1
	BaseDelay time.Duration // delay before the second try; doubles each time
	MaxDelay  time.Duration // cap on one delay
	// TryTimeout bounds one try (0: unbounded). A back end that never
	// answers — a request Keycloak accepted and then sat on — would
	// otherwise hold the tenant's partition for ever; a timed-out try is a
	// transient error like any other.
	TryTimeout time.Duration
	// Stop says whether an error is one retrying cannot mend (nil: none is).
	Stop func(error) bool
}

// Run calls fn until it succeeds, fails for good (Stop), ctx ends or
// MaxTries are used. It returns how many tries it made. Delays are
// exponential with full jitter, so that many callers failing together do not
// retry in step.
func (p Policy) Run(ctx context.Context, fn func(ctx context.Context) error) (int, error) {
	delay := p.BaseDelay
	for try := 1; ; try++ {
		err := p.try(ctx, fn)
		if err == nil || (p.Stop != nil && p.Stop(err)) || try >= max(p.MaxTries, 1) {
			return try, err
		}
		wait := time.NewTimer(time.Duration(rand.Int64N(int64(delay) + 1)))
		select {
		case <-ctx.Done():
			wait.Stop()
			return try, errors.Join(err, ctx.Err())
		case <-wait.C:
		}
		delay = min(2*delay, p.MaxDelay)
	}
}

func (p Policy) try(ctx context.Context, fn func(ctx context.Context) error) error {
	if p.TryTimeout <= 0 {
		return fn(ctx)
	}
	tctx, cancel := context.WithTimeout(ctx, p.TryTimeout)
	defer cancel()
	err := fn(tctx)
	if err != nil && ctx.Err() == nil && errors.Is(tctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("try timed out after %s: %w", p.TryTimeout, err)
	}
	return err
}

// permanent marks an error that retrying cannot fix.
type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// Permanent marks err as not worth retrying: a 4xx answer, invalid input,
// a resource that belongs to someone else. A Policy whose Stop is
// IsPermanent ends its tries at such an error.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanent{err}
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p permanent
	return errors.As(err, &p)
}
