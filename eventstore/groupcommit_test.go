package eventstore

import (
	"context"
	"errors"
	"sync"
	"testing"
)

// Appends made at the same time share transactions (group commit), and each
// still answers as if it had been alone: its own version, its own version
// conflict, a retried append recognised as done; the hash chains stay whole.
func TestConcurrentAppendsShareCommitsAndAnswerEachOnItsOwn(t *testing.T) {
	s := newPostgres(t)
	ctx := context.Background()
	for round := 0; s.groups.Load() == 0; round++ {
		if round == 10 {
			t.Fatal("ten rounds of 120 concurrent appends never shared a transaction")
		}
		var wg sync.WaitGroup
		errs := make(chan error, 120)
		for i := range 120 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				stream, evs := streamID(), newEvents(2, "test.grouped")
				switch i % 3 {
				case 0: // an expectation the stream does not meet
					_, err := s.Append(ctx, stream, Exactly(5), evs...)
					var ce *ConcurrencyError
					if !errors.As(err, &ce) || ce.Actual != 0 || ce.Stream != stream {
						errs <- errors.Join(errors.New("want a version conflict at 0"), err)
					}
				case 1: // the same append twice, at once: one stores, the other finds it done
					var inner sync.WaitGroup
					for range 2 {
						inner.Add(1)
						go func() {
							defer inner.Done()
							if v, err := s.Append(ctx, stream, NoStream, evs...); err != nil || v != 2 {
								errs <- errors.Join(errors.New("retried append: want version 2"), err)
							}
						}()
					}
					inner.Wait()
				default:
					if v, err := s.Append(ctx, stream, NoStream, evs...); err != nil || v != 2 {
						errs <- errors.Join(errors.New("want version 2"), err)
						return
					}
					if v, err := s.Append(ctx, stream, Exactly(2), newEvents(1, "test.grouped")...); err != nil || v != 3 {
						errs <- errors.Join(errors.New("want version 3"), err)
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if t.Failed() {
			return
		}
	}
	report, err := s.Verify(ctx, nil)
	if err != nil || len(report.Problems) != 0 {
		t.Fatalf("hash chains after grouped appends: %v %+v", err, report.Problems)
	}
}
