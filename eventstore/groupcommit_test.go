package eventstore

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/google/uuid"
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

// One group commit answers every part on its own, deterministically: two
// parts of one stream in a row (the second starts at the first's new
// head), an expectation the stream does not meet, and an append already
// made (a retry). The call is shared, not split into lone appends, and the
// chains it wrote verify. (Ids stored in another stream fail the whole call
// by design, and each part is then appended alone: the contract tests.)
func TestGroupCommitAnswersEachPart(t *testing.T) {
	s := newPostgres(t)
	ctx := context.Background()
	retried := newEvents(2, "test.grouped")
	done := streamID()
	if _, err := s.Append(ctx, done, NoStream, retried...); err != nil {
		t.Fatal(err)
	}
	twice, conflicted := "tenant-a"+uuid.NewString(), "tenant-b"+uuid.NewString()
	request := func(stream string, expected ExpectedVersion, events []NewEvent) *appendRequest {
		batch, err := normalize(stream, events)
		if err != nil {
			t.Fatal(err)
		}
		meta, err := encodeMetadata(batch)
		if err != nil {
			t.Fatal(err)
		}
		return &appendRequest{stream: stream, expected: expected, events: batch, meta: meta, done: make(chan appendResult, 1)}
	}
	group := []*appendRequest{
		request(twice, NoStream, newEvents(2, "test.grouped")),
		request(twice, Exactly(2), newEvents(1, "test.grouped")),
		request(conflicted, Exactly(5), newEvents(1, "test.grouped")),
		request(done, NoStream, retried),
	}
	before := s.groups.Load()
	s.groupCommit(slices.Clone(group))
	answers := make([]appendResult, len(group))
	for i, r := range group {
		answers[i] = <-r.done
	}
	var ce *ConcurrencyError
	switch {
	case answers[0].err != nil || answers[0].version != 2:
		t.Errorf("first part of a stream: %+v", answers[0])
	case answers[1].err != nil || answers[1].version != 3:
		t.Errorf("second part of the same stream: %+v", answers[1])
	case !errors.As(answers[2].err, &ce) || ce.Actual != 0 || ce.Stream != conflicted:
		t.Errorf("unmet expectation: %+v", answers[2])
	case answers[3].err != nil || answers[3].version != 2:
		t.Errorf("an append already made: %+v", answers[3])
	}
	if s.groups.Load() != before+1 {
		t.Errorf("the group was split into lone appends")
	}
	if got, err := s.Load(ctx, twice); err != nil || len(got) != 3 {
		t.Errorf("stream of two parts holds %d events (%v)", len(got), err)
	}
	report, err := s.Verify(ctx, nil)
	if err != nil || len(report.Problems) != 0 {
		t.Fatalf("hash chains: %v %+v", err, report.Problems)
	}
}
