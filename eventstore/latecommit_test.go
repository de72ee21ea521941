package eventstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/tenantflow/tenantflow/internal/testkit/wait"
)

// holdOpen appends in a transaction the caller commits or rolls back later.
func holdOpen(t *testing.T, s *Postgres, stream string, evs []NewEvent) pgx.Tx {
	t.Helper()
	tx, err := s.Pool().Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// A failing test must not leave the transaction open: closing the pool
	// would wait for its connection forever.
	t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	if _, err := appendWith(context.Background(), tx, stream, Any, evs); err != nil {
		t.Fatal(err)
	}
	return tx
}

// appendWith appends through q, a transaction a test holds open.
func appendWith(ctx context.Context, q querier, stream string, expected ExpectedVersion, events []NewEvent) (int64, error) {
	batch, err := normalize(stream, events)
	if err != nil {
		return 0, err
	}
	meta, err := encodeMetadata(batch)
	if err != nil {
		return 0, err
	}
	return appendEncoded(ctx, q, stream, expected, batch, meta)
}

func readMine(t *testing.T, s *Postgres, streams ...string) []Event {
	t.Helper()
	mine := map[string]bool{}
	for _, st := range streams {
		mine[st] = true
	}
	evs, err := s.ReadAll(context.Background(), Cursor{}, 10000)
	if err != nil {
		t.Fatal(err)
	}
	var out []Event
	for _, e := range evs {
		if mine[e.Stream] {
			out = append(out, e)
		}
	}
	return out
}

// readMineUntil reads until at least n of the streams' events are below the
// horizon, or 30 s pass.
func readMineUntil(t *testing.T, s *Postgres, n int, streams ...string) []Event {
	t.Helper()
	return wait.Value(t, 30*time.Second, func() ([]Event, error) {
		got := readMine(t, s, streams...)
		if len(got) < n {
			return nil, fmt.Errorf("%d of %d events below the horizon: %+v", len(got), n, got)
		}
		return got, nil
	})
}

// TestReadAllNeverPassesAnOpenTransaction: an event committed after an
// earlier-started open transaction is held back until that one ends, and the
// late commit then comes first in log order.
func TestReadAllNeverPassesAnOpenTransaction(t *testing.T) {
	s := newPostgres(t)
	ctx := context.Background()
	slow, fast := streamID(), streamID()

	open := holdOpen(t, s, slow, newEvents(1, "x.slow"))
	mustAppend(t, s, fast, NoStream, newEvents(1, "x.fast")...)
	if got := readMine(t, s, slow, fast); len(got) != 0 {
		t.Fatalf("ReadAll returned %d events past an open transaction", len(got))
	}
	if err := open.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// Other transactions in the cluster (other tests) may hold the horizon
	// a little longer: wait for it to pass.
	got := readMineUntil(t, s, 2, slow, fast)
	if len(got) != 2 || got[0].Stream != slow || got[1].Stream != fast {
		t.Fatalf("after the commit: %+v", got)
	}

	// A rolled-back transaction releases the horizon and leaves no event.
	rolled, after := streamID(), streamID()
	tx := holdOpen(t, s, rolled, newEvents(1, "x.rolled"))
	mustAppend(t, s, after, NoStream, newEvents(1, "x.after")...)
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	got = readMineUntil(t, s, 1, rolled, after)
	if len(got) != 1 || got[0].Stream != after {
		t.Fatalf("after the rollback: %+v", got)
	}
}

// TestSubscriptionDeliversEveryLateCommitOnce: many writers hold their
// transactions open for random times and a quarter roll back; a subscription
// running meanwhile must deliver exactly the committed events, each once, in
// version order per stream.
func TestSubscriptionDeliversEveryLateCommitOnce(t *testing.T) {
	s := newPostgres(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var mu sync.Mutex
	delivered := map[string]int{}
	lastVersion := map[string]int64{}
	var orderErr error
	sub := Subscription{Name: "late-commit-test", Store: s, Logger: quiet, BatchSize: 7, PollInterval: 20 * time.Millisecond,
		Handle: func(_ context.Context, evs []Event) error {
			mu.Lock()
			defer mu.Unlock()
			for _, e := range evs {
				delivered[e.ID]++
				if e.Version <= lastVersion[e.Stream] && orderErr == nil && delivered[e.ID] == 1 {
					orderErr = &ConcurrencyError{Stream: e.Stream, Actual: e.Version, Expected: ExpectedVersion(lastVersion[e.Stream])}
				}
				if e.Version > lastVersion[e.Stream] {
					lastVersion[e.Stream] = e.Version
				}
			}
			return nil
		}}
	subDone := make(chan error, 1)
	go func() { subDone <- sub.Run(ctx) }()

	streams := make([]string, 8)
	for i := range streams {
		streams[i] = streamID()
	}
	const writers = 48
	var wg sync.WaitGroup
	var cmu sync.Mutex
	committed := map[string]bool{}
	rolledBack := map[string]bool{}
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			evs := newEvents(1+w%3, "x.late")
			tx, err := s.Pool().Begin(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			if _, err := appendWith(ctx, tx, streams[w%len(streams)], Any, evs); err != nil {
				t.Error(err)
				_ = tx.Rollback(ctx)
				return
			}
			time.Sleep(time.Duration(rand.IntN(150)) * time.Millisecond) // a slow writer, on purpose
			rollback := w%4 == 0
			if rollback {
				err = tx.Rollback(ctx)
			} else {
				err = tx.Commit(ctx)
			}
			if err != nil {
				t.Error(err)
				return
			}
			s.appended()
			cmu.Lock()
			for _, e := range evs {
				if rollback {
					rolledBack[e.ID] = true
				} else {
					committed[e.ID] = true
				}
			}
			cmu.Unlock()
		}()
	}
	wg.Wait()

	wait.For(t, 30*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(delivered) < len(committed) {
			return fmt.Errorf("%d of %d committed events delivered", len(delivered), len(committed))
		}
		return nil
	})
	cancel()
	<-subDone

	mu.Lock()
	defer mu.Unlock()
	if orderErr != nil {
		t.Errorf("out of stream order: %v", orderErr)
	}
	for id := range committed {
		switch delivered[id] {
		case 1:
		case 0:
			t.Errorf("committed event %s never delivered", id)
		default:
			t.Errorf("event %s delivered %d times", id, delivered[id])
		}
	}
	for id := range delivered {
		if rolledBack[id] {
			t.Errorf("rolled-back event %s delivered", id)
		} else if !committed[id] {
			t.Errorf("unknown event %s delivered", id)
		}
	}
	if len(committed) == 0 || len(rolledBack) == 0 {
		t.Fatalf("the scenario did not run: %d committed, %d rolled back", len(committed), len(rolledBack))
	}
	t.Logf("%d committed events delivered once each, %d rolled back", len(committed), len(rolledBack))
}

// TestReadAllOrdersTransactionIDsAsNumbers: the log's order must not change
// when transaction ids grow a digit (9 < 10 < 11 < 100). A text sort
// once put 1001 before 999 and made the relay skip thousands of events on
// a young cluster.
func TestReadAllOrdersTransactionIDsAsNumbers(t *testing.T) {
	s := newPostgres(t)
	ctx := context.Background()
	stream := streamID()
	mustAppend(t, s, stream, NoStream, newEvents(4, "x.digits")...)
	// ids even a new cluster has passed (initdb alone uses hundreds), so all
	// lie below the horizon
	if _, err := s.Pool().Exec(ctx, `update events set tx_id = (array['9','10','11','100'])[stream_version]::xid8 where stream_id = $1`, stream); err != nil {
		t.Fatal(err)
	}
	got, err := s.ReadAll(ctx, Cursor{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []uint64{9, 10, 11, 100}
	if len(got) != len(want) {
		t.Fatalf("read %d events, want %d", len(got), len(want))
	}
	for i, e := range got {
		if e.TxID != want[i] || e.Version != int64(i+1) {
			t.Fatalf("event %d: tx %d version %d, want tx %d version %d", i, e.TxID, e.Version, want[i], i+1)
		}
	}
	rest, err := s.ReadAll(ctx, got[0].After(), 10)
	if err != nil || len(rest) != 3 || rest[0].TxID != 10 {
		t.Fatalf("after tx 9: %d events, %v", len(rest), err)
	}
}

// TestSubscriptionReadsPastAHorizonThatEndsSilently: the transaction holding
// the log's horizon appends nothing, so its end sends no NOTIFY; with a poll
// interval of an hour, the subscription must still deliver the event it
// found held back, because it looks again while events wait behind the
// horizon.
func TestSubscriptionReadsPastAHorizonThatEndsSilently(t *testing.T) {
	s := newPostgres(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	blocker, err := s.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = blocker.Rollback(context.Background()) })
	if _, err := blocker.Exec(ctx, `select pg_current_xact_id()`); err != nil { // a transaction id, as a projection's batch has
		t.Fatal(err)
	}

	stream := streamID()
	var reads atomic.Int64
	delivered := make(chan struct{})
	var once sync.Once
	sub := Subscription{Name: "silent-horizon-test", Store: s, Logger: quiet, PollInterval: time.Hour,
		Before: func(context.Context) { reads.Add(1) },
		Handle: func(_ context.Context, evs []Event) error {
			for _, e := range evs {
				if e.Stream == stream {
					once.Do(func() { close(delivered) })
				}
			}
			return nil
		}}
	done := make(chan error, 1)
	go func() { done <- sub.Run(ctx) }()
	wait.For(t, 10*time.Second, func() error {
		if reads.Load() == 0 {
			return fmt.Errorf("the subscription has not read yet")
		}
		return nil
	})

	before := reads.Load()
	mustAppend(t, s, stream, NoStream, newEvents(1, "x.held")...) // its NOTIFY wakes the subscription
	wait.For(t, 10*time.Second, func() error {
		if reads.Load() == before {
			return fmt.Errorf("no read after the append")
		}
		return nil
	})
	select {
	case <-delivered:
		t.Fatal("an event past an open transaction was delivered")
	default:
	}
	if err := blocker.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-delivered:
	case <-time.After(30 * time.Second): // other packages' transactions may hold the horizon a little longer
		t.Fatalf("the event was not delivered after the horizon moved on silently (%d reads)", reads.Load())
	}
	cancel()
	<-done
}
