package wait

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestValueReturnsOnceTheConditionHolds(t *testing.T) {
	calls := 0
	got := Value(t, time.Second, func() (int, error) {
		calls++
		if calls < 3 {
			return 0, errors.New("not yet")
		}
		return calls, nil
	})
	if got != 3 {
		t.Fatalf("got %d after %d calls, want the third call's value", got, calls)
	}
}

// fakeT records a failure instead of ending the test.
type fakeT struct {
	testing.TB
	failed string
}

func (f *fakeT) Helper() {}
func (f *fakeT) Fatalf(format string, args ...any) {
	f.failed = fmt.Sprintf(format, args...)
	panic(f) // like runtime.Goexit in a real test: nothing after Fatalf runs
}

func TestForFailsWithTheLastErrorAfterTheTimeout(t *testing.T) {
	f := &fakeT{TB: t}
	start := time.Now()
	func() {
		defer func() {
			if r := recover(); r != f {
				panic(r)
			}
		}()
		n := 0
		For(f, 100*time.Millisecond, func() error { n++; return fmt.Errorf("still %d", n) })
	}()
	if !strings.HasPrefix(f.failed, "not within 100ms: still ") {
		t.Fatalf("failure %q does not carry the last error", f.failed)
	}
	if waited := time.Since(start); waited < 100*time.Millisecond {
		t.Fatalf("gave up after %s, before the timeout", waited)
	}
}
