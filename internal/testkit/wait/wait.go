// Package wait is how tests wait: for a condition, never for a fixed time.
// A test that sleeps either waits too long on a fast machine or fails on a
// slow one; one that polls a condition with a deadline does neither.
package wait

import (
	"testing"
	"time"
)

// Poll is the first pause between two checks; it doubles up to MaxPoll, so
// a condition that holds soon is seen soon and a slow one costs few checks.
const (
	Poll    = 10 * time.Millisecond
	MaxPoll = 250 * time.Millisecond
)

// For calls check until it returns nil, and fails t with check's last error
// when it has not by timeout.
func For(t testing.TB, timeout time.Duration, check func() error) {
	t.Helper()
	Value(t, timeout, func() (struct{}, error) { return struct{}{}, check() })
}

// Value calls get until it returns no error and gives back what it
// returned then; it fails t with get's last error when none came by timeout.
func Value[T any](t testing.TB, timeout time.Duration, get func() (T, error)) T {
	t.Helper()
	v, err := UntilValue(timeout, get)
	if err != nil {
		t.Fatalf("not within %s: %v", timeout, err)
	}
	return v
}

// Until is For for a caller that goes on after a timeout (a chaos scenario
// that reports what it saw and moves on): check's last error, or nil.
func Until(timeout time.Duration, check func() error) error {
	_, err := UntilValue(timeout, func() (struct{}, error) { return struct{}{}, check() })
	return err
}

// UntilValue is Value without a test to fail: get's value, or its last
// error when none came by timeout.
func UntilValue[T any](timeout time.Duration, get func() (T, error)) (T, error) {
	deadline, pause := time.Now().Add(timeout), Poll
	for {
		v, err := get()
		if err == nil || time.Now().After(deadline) {
			return v, err
		}
		time.Sleep(pause) // the poll interval between checks, not a wait for the outcome
		pause = min(2*pause, MaxPoll)
	}
}
