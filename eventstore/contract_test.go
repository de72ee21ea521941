package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/tenantflow/tenantflow/internal/testkit/wait"
)

func newEvents(n int, typ string) []NewEvent {
	out := make([]NewEvent, n)
	for i := range out {
		out[i] = NewEvent{
			ID:       uuid.NewString(),
			Type:     typ,
			Data:     json.RawMessage(fmt.Sprintf(`{"n": %d, "note": "é \"quoted\""}`, i)),
			Metadata: Metadata{CorrelationID: "corr-1", CausationID: "cause-1", Actor: "tester"},
		}
	}
	return out
}

func streamID() string { return "tenant-" + uuid.NewString() }

func sameJSON(t *testing.T, a, b json.RawMessage) bool {
	t.Helper()
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	ja, _ := json.Marshal(x)
	jb, _ := json.Marshal(y)
	return string(ja) == string(jb)
}

func mustAppend(t testing.TB, s Store, stream string, exp ExpectedVersion, evs ...NewEvent) int64 {
	t.Helper()
	v, err := s.Append(context.Background(), stream, exp, evs...)
	if err != nil {
		t.Fatalf("append to %s: %v", stream, err)
	}
	return v
}

// wantEvents fails t unless stream holds exactly n events.
func wantEvents(t *testing.T, s Store, stream string, n int) {
	t.Helper()
	got, err := s.Load(context.Background(), stream)
	if err != nil || len(got) != n {
		t.Fatalf("stream %s has %d events (%v), want %d", stream, len(got), err, n)
	}
}

func runContract(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := context.Background()

	// Not parallel: the counts are exact only while nothing else appends.
	t.Run("Count, Behind, Tip and checkpoints follow the log", func(t *testing.T) {
		s := newStore(t)
		name := "contract-" + uuid.NewString()
		before, err := s.Count(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if behind, err := s.Behind(ctx, name); err != nil || behind != before {
			t.Fatalf("with no checkpoint %d events are behind (%v), want all %d", behind, err, before)
		}
		stream := streamID()
		mustAppend(t, s, stream, NoStream, newEvents(3, "x.counted")...)
		evs, err := s.Load(ctx, stream)
		if err != nil {
			t.Fatal(err)
		}
		last := evs[len(evs)-1]
		if n, err := s.Count(ctx); err != nil || n != before+3 {
			t.Fatalf("count %d (%v) after 3 appends to %d", n, err, before)
		}
		if pos, at, err := s.Tip(ctx); err != nil || pos != last.Position || !at.Equal(last.RecordedAt) {
			t.Fatalf("tip %d at %v (%v), want the last append's %d at %v", pos, at, err, last.Position, last.RecordedAt)
		}
		if err := s.SaveCheckpoint(ctx, name, evs[0].After()); err != nil {
			t.Fatal(err)
		}
		if c, err := s.Checkpoint(ctx, name); err != nil || c != evs[0].After() {
			t.Fatalf("checkpoint read back as %+v (%v), saved %+v", c, err, evs[0].After())
		}
		if behind, err := s.Behind(ctx, name); err != nil || behind != 2 {
			t.Fatalf("%d events behind the checkpoint (%v), want the 2 appended after it", behind, err)
		}
	})

	t.Run("a subscription delivers every event once, in stream order, and keeps its place", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		streams := map[string]bool{streamID(): true, streamID(): true}
		for st := range streams {
			mustAppend(t, s, st, NoStream, newEvents(3, "x.subscribed")...)
		}
		got := make(chan Event, 64)
		sctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		name := "contract-sub-" + uuid.NewString()
		go func() {
			defer close(done)
			_ = Subscription{Name: name, Store: s, PollInterval: 10 * time.Millisecond, Handle: func(_ context.Context, events []Event) error {
				for _, e := range events {
					if streams[e.Stream] {
						got <- e
					}
				}
				return nil
			}}.Run(sctx)
		}()
		next := map[string]int64{}
		timeout := time.After(30 * time.Second)
		for n := 0; n < 6; n++ {
			select {
			case e := <-got:
				if e.Version != next[e.Stream]+1 {
					t.Fatalf("stream %s: version %d after %d", e.Stream, e.Version, next[e.Stream])
				}
				next[e.Stream] = e.Version
			case <-timeout:
				t.Fatalf("the subscription delivered %d of 6 events", n)
			}
		}
		// The subscription keeps its place: its checkpoint reaches the last
		// of these events (saved after Handle returns, so wait for it).
		var last Cursor
		for st := range streams {
			evs, err := s.Load(ctx, st)
			if err != nil {
				t.Fatal(err)
			}
			if c := evs[len(evs)-1].After(); last.Less(c) {
				last = c
			}
		}
		for {
			c, err := s.Checkpoint(ctx, name)
			if err == nil && !c.Less(last) {
				break
			}
			select {
			case <-timeout:
				t.Fatalf("the checkpoint stayed at %+v (%v), short of the last event delivered (%+v)", c, err, last)
			case <-time.After(10 * time.Millisecond):
			}
		}
		stop()
		<-done
		select {
		case e := <-got:
			t.Fatalf("event %s of %s delivered twice", e.ID, e.Stream)
		default:
		}
	})

	t.Run("append then load gives gapless versions from 1 with data and metadata", func(t *testing.T) {
		t.Parallel()
		s, stream := newStore(t), streamID()
		evs := newEvents(3, "tenant.test.happened")
		if v := mustAppend(t, s, stream, NoStream, evs...); v != 3 {
			t.Fatalf("version after append = %d, want 3", v)
		}
		if v := mustAppend(t, s, stream, Exactly(3), newEvents(2, "tenant.test.more")...); v != 5 {
			t.Fatalf("version = %d, want 5", v)
		}
		got, err := s.Load(ctx, stream)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 5 {
			t.Fatalf("loaded %d events, want 5", len(got))
		}
		for i, e := range got {
			if e.Version != int64(i+1) || e.Stream != stream {
				t.Errorf("event %d: stream %s version %d", i, e.Stream, e.Version)
			}
			if e.SchemaVersion != 1 || e.RecordedAt.IsZero() || e.Position == 0 {
				t.Errorf("event %d: schema %d recorded %v position %d", i, e.SchemaVersion, e.RecordedAt, e.Position)
			}
		}
		for i, e := range evs {
			if got[i].ID != e.ID || got[i].Type != e.Type || !sameJSON(t, got[i].Data, e.Data) || got[i].Metadata != e.Metadata {
				t.Errorf("event %d round trip: got %+v, want %+v", i, got[i], e)
			}
		}
		from, err := s.LoadFrom(ctx, stream, 4)
		if err != nil || len(from) != 2 || from[0].Version != 4 {
			t.Fatalf("LoadFrom(4) = %d events, %v", len(from), err)
		}
		none, err := s.Load(ctx, streamID())
		if err != nil || len(none) != 0 {
			t.Fatalf("Load of an absent stream = %v, %v", none, err)
		}
	})

	t.Run("expected version mismatches are concurrency errors carrying the actual version", func(t *testing.T) {
		t.Parallel()
		s, stream := newStore(t), streamID()
		mustAppend(t, s, stream, NoStream, newEvents(2, "x.y")...)
		for _, exp := range []ExpectedVersion{NoStream, Exactly(1), Exactly(3)} {
			_, err := s.Append(ctx, stream, exp, newEvents(1, "x.y")...)
			var ce *ConcurrencyError
			if !errors.As(err, &ce) || ce.Actual != 2 || ce.Expected != exp || ce.Stream != stream {
				t.Errorf("expected %d: got %v", exp, err)
			}
		}
		if _, err := s.Append(ctx, streamID(), Exactly(4), newEvents(1, "x.y")...); err == nil {
			t.Error("append at version 4 to an empty stream succeeded")
		}
		if v := mustAppend(t, s, stream, Any, newEvents(1, "x.y")...); v != 3 {
			t.Errorf("Any append gave version %d, want 3", v)
		}
	})

	t.Run("concurrent appends at the same expected version: exactly one wins", func(t *testing.T) {
		t.Parallel()
		s, stream := newStore(t), streamID()
		mustAppend(t, s, stream, NoStream, newEvents(1, "x.y")...)
		const writers = 16
		var wg sync.WaitGroup
		errs := make([]error, writers)
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = s.Append(ctx, stream, Exactly(1), newEvents(2, "x.y")...)
			}()
		}
		wg.Wait()
		wins := 0
		for _, err := range errs {
			var ce *ConcurrencyError
			switch {
			case err == nil:
				wins++
			case errors.As(err, &ce):
				if ce.Actual != 3 {
					t.Errorf("loser saw actual version %d, want 3", ce.Actual)
				}
			default:
				t.Errorf("unexpected error: %v", err)
			}
		}
		if wins != 1 {
			t.Fatalf("%d appends won, want exactly 1", wins)
		}
		wantEvents(t, s, stream, 3)
	})

	t.Run("re-appending stored events is an idempotent retry", func(t *testing.T) {
		t.Parallel()
		s, stream := newStore(t), streamID()
		evs := newEvents(3, "x.y")
		mustAppend(t, s, stream, NoStream, evs...)
		mustAppend(t, s, stream, Exactly(3), newEvents(1, "x.z")...)
		for _, exp := range []ExpectedVersion{NoStream, Any} {
			v, err := s.Append(ctx, stream, exp, evs...)
			if err != nil || v != 3 {
				t.Errorf("retry with expected %d: version %d, err %v; want 3, nil", exp, v, err)
			}
		}
		// a retry may carry other metadata (a new trace): still the same event
		retry := append([]NewEvent(nil), evs[2])
		retry[0].Metadata.TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
		if v, err := s.Append(ctx, stream, Exactly(2), retry...); err != nil || v != 3 {
			t.Errorf("single-event retry: %d, %v", v, err)
		}
		wantEvents(t, s, stream, 4)
	})

	t.Run("a stored id elsewhere or with other content is a conflict and writes nothing", func(t *testing.T) {
		t.Parallel()
		s, stream := newStore(t), streamID()
		evs := newEvents(2, "x.y")
		mustAppend(t, s, stream, NoStream, evs...)

		changed := evs[0]
		changed.Data = json.RawMessage(`{"n": 99}`)
		otherType := evs[0]
		otherType.Type = "x.other"
		partial := []NewEvent{evs[1], newEvents(1, "x.y")[0]}
		cases := map[string]struct {
			stream string
			exp    ExpectedVersion
			evs    []NewEvent
		}{
			"other data":              {stream, Any, []NewEvent{changed}},
			"other type":              {stream, Any, []NewEvent{otherType}},
			"other stream":            {streamID(), NoStream, evs},
			"other place":             {stream, Exactly(1), evs},
			"part stored, part new":   {stream, Any, partial},
			"stored in another order": {stream, Any, []NewEvent{evs[1], evs[0]}},
		}
		for name, c := range cases {
			if _, err := s.Append(ctx, c.stream, c.exp, c.evs...); !errors.Is(err, ErrEventConflict) {
				t.Errorf("%s: got %v, want ErrEventConflict", name, err)
			}
		}
		wantEvents(t, s, stream, 2)
	})

	t.Run("invalid batches are refused before anything is written", func(t *testing.T) {
		t.Parallel()
		s, stream := newStore(t), streamID()
		good := newEvents(1, "x.y")[0]
		badID, noType, badJSON := good, good, good
		badID.ID = "not-a-uuid"
		noType.ID, noType.Type = uuid.NewString(), ""
		badJSON.ID, badJSON.Data = uuid.NewString(), json.RawMessage(`{"a":`)
		cases := map[string][]NewEvent{
			"empty batch":      nil,
			"bad id":           {badID},
			"no type":          {newEvents(1, "x.y")[0], noType},
			"data is not JSON": {badJSON},
			"id twice":         {good, good},
		}
		for name, evs := range cases {
			if _, err := s.Append(ctx, stream, Any, evs...); !errors.Is(err, ErrInvalidEvent) {
				t.Errorf("%s: got %v, want ErrInvalidEvent", name, err)
			}
		}
		wantEvents(t, s, stream, 0)
	})

	t.Run("an event over the size cap is refused, naming its type and size, and nothing is written", func(t *testing.T) {
		t.Parallel()
		s, stream := newStore(t), streamID()
		big := newEvents(2, "x.big")
		big[1].Data = json.RawMessage(`{"blob":"` + strings.Repeat("x", DefaultMaxEventBytes) + `"}`)
		_, err := s.Append(ctx, stream, Any, big...)
		var tooBig *EventTooLargeError
		if !errors.As(err, &tooBig) || tooBig.Type != "x.big" || tooBig.Size != len(big[1].Data) || tooBig.Max != DefaultMaxEventBytes {
			t.Fatalf("got %v, want an EventTooLargeError", err)
		}
		err = s.AppendStreams(ctx, StreamAppend{Stream: streamID(), Expected: NoStream, Events: newEvents(1, "x.y")},
			StreamAppend{Stream: stream, Expected: NoStream, Events: big[1:]})
		if !errors.As(err, &tooBig) {
			t.Fatalf("AppendStreams: got %v, want an EventTooLargeError", err)
		}
		wantEvents(t, s, stream, 0)
	})

	t.Run("AppendStreams writes all streams or none", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		key, tenant := "tenantkey-"+uuid.NewString()[:8], streamID()
		if err := s.AppendStreams(ctx,
			StreamAppend{Stream: tenant, Expected: NoStream, Events: newEvents(1, "tenant.created")},
			StreamAppend{Stream: key, Expected: NoStream, Events: newEvents(1, "tenant.key.reserved")},
		); err != nil {
			t.Fatal(err)
		}
		wantEvents(t, s, tenant, 1)
		wantEvents(t, s, key, 1)
		// the key is taken: the second tenant is not created either
		other := streamID()
		err := s.AppendStreams(ctx,
			StreamAppend{Stream: other, Expected: NoStream, Events: newEvents(1, "tenant.created")},
			StreamAppend{Stream: key, Expected: NoStream, Events: newEvents(1, "tenant.key.reserved")},
		)
		var ce *ConcurrencyError
		if !errors.As(err, &ce) || ce.Stream != key {
			t.Fatalf("got %v, want a concurrency error on %s", err, key)
		}
		wantEvents(t, s, other, 0)
		wantEvents(t, s, key, 1)
	})

	t.Run("concurrent AppendStreams on one reserved stream: exactly one wins", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		key := "tenantkey-" + uuid.NewString()[:8]
		var wg sync.WaitGroup
		errs := make([]error, 12)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = s.AppendStreams(ctx,
					StreamAppend{Stream: streamID(), Expected: NoStream, Events: newEvents(1, "tenant.created")},
					StreamAppend{Stream: key, Expected: NoStream, Events: newEvents(1, "tenant.key.reserved")})
			}()
		}
		wg.Wait()
		wins := 0
		for _, err := range errs {
			if err == nil {
				wins++
			}
		}
		if wins != 1 {
			t.Fatalf("%d of 12 won: %v", wins, errs)
		}
		wantEvents(t, s, key, 1)
	})

	t.Run("ReadAll follows the log in stream order and resumes after a cursor", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		streams := []string{streamID(), streamID(), streamID()}
		for round := 0; round < 3; round++ {
			for _, st := range streams {
				mustAppend(t, s, st, Any, newEvents(2, "x.y")...)
			}
		}
		mine := map[string]bool{streams[0]: true, streams[1]: true, streams[2]: true}
		var all []Event
		var cur Cursor
		// Read page after page; an empty page means "nothing below the
		// horizon yet": a transaction elsewhere in the cluster may still be
		// open, so wait and read on until all of this test's events have come.
		wait.For(t, 30*time.Second, func() error {
			for len(all) < 18 {
				page, err := s.ReadAll(ctx, cur, 4)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) == 0 {
					return fmt.Errorf("read %d of my events, want 18", len(all))
				}
				if len(page) > 4 {
					t.Fatalf("page of %d events, limit 4", len(page))
				}
				for _, e := range page {
					if !cur.Less(e.After()) {
						t.Fatalf("ReadAll went backwards: %+v after %+v", e.After(), cur)
					}
					cur = e.After()
					if mine[e.Stream] {
						all = append(all, e)
					}
				}
			}
			return nil
		})
		if len(all) != 18 {
			t.Fatalf("read %d of my events, want 18", len(all))
		}
		next := map[string]int64{}
		for _, e := range all {
			if e.Version != next[e.Stream]+1 {
				t.Fatalf("stream %s: version %d after %d", e.Stream, e.Version, next[e.Stream])
			}
			next[e.Stream] = e.Version
		}
	})

	t.Run("Overdue names each stream whose request is past its deadline and unanswered", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		request := func(deadline time.Time) NewEvent {
			return NewEvent{ID: uuid.NewString(), Type: "x.requested", Data: json.RawMessage(fmt.Sprintf(`{"deadline": %q}`, deadline.UTC().Format(time.RFC3339Nano)))}
		}
		past, future := time.Now().Add(-time.Minute), time.Now().Add(time.Hour)
		overdue, answered, waiting, twice := streamID(), streamID(), streamID(), streamID()
		mustAppend(t, s, overdue, NoStream, request(past))
		mustAppend(t, s, answered, NoStream, request(past), NewEvent{ID: uuid.NewString(), Type: "x.answer.done", Data: json.RawMessage(`{}`)})
		mustAppend(t, s, waiting, NoStream, request(future))
		mustAppend(t, s, twice, NoStream, request(past), NewEvent{ID: uuid.NewString(), Type: "x.other", Data: json.RawMessage(`{}`)}, request(past))
		got, err := s.Overdue(ctx, []string{"x.requested"}, "x.answer.")
		if err != nil {
			t.Fatal(err)
		}
		mine := map[string]int{}
		for _, st := range got {
			mine[st]++
		}
		if mine[overdue] != 1 || mine[twice] != 1 || mine[answered] != 0 || mine[waiting] != 0 {
			t.Fatalf("overdue streams %v: want %s and %s once each, not the answered or the waiting one", mine, overdue, twice)
		}
	})

	t.Run("SubscriptionsEnded names each stream whose latest request's subscription ended, unless ended since", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		request := func(end time.Time) NewEvent {
			return NewEvent{ID: uuid.NewString(), Type: provisioningRequested,
				Data: json.RawMessage(fmt.Sprintf(`{"subscription":{"endDate":%q}}`, end.UTC().Format(time.RFC3339Nano)))}
		}
		other := func(typ string) NewEvent {
			return NewEvent{ID: uuid.NewString(), Type: typ, Data: json.RawMessage(`{}`)}
		}
		now := time.Now().Truncate(time.Millisecond) // PostgreSQL keeps microseconds
		ended, endsNow, endless, running, renewed, offboarded := streamID(), streamID(), streamID(), streamID(), streamID(), streamID()
		mustAppend(t, s, ended, NoStream, request(now.Add(-time.Hour)), other("x.activated"))
		mustAppend(t, s, endsNow, NoStream, request(now))
		mustAppend(t, s, endless, NoStream, request(time.Time{}))
		mustAppend(t, s, running, NoStream, request(now.Add(time.Hour)))
		mustAppend(t, s, renewed, NoStream, request(now.Add(-time.Hour)), request(now.Add(time.Hour)))
		mustAppend(t, s, offboarded, NoStream, request(now.Add(-time.Hour)), other("x.deprovisioned"))
		got, err := s.SubscriptionsEnded(ctx, []string{"x.deprovisioned"}, now)
		if err != nil {
			t.Fatal(err)
		}
		mine := map[string]int{}
		for _, st := range got {
			mine[st]++
		}
		if mine[ended] != 1 || mine[endsNow] != 1 || mine[endless]+mine[running]+mine[renewed]+mine[offboarded] != 0 {
			t.Fatalf("ended streams %v: want %s and %s once, and none of the others", mine, ended, endsNow)
		}
	})

	t.Run("OffboardingsDue names each stream whose latest offboarding's retention is over, unless restored or purged", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		request := func(purge time.Time) NewEvent {
			return NewEvent{ID: uuid.NewString(), Type: offboardingRequested,
				Data: json.RawMessage(fmt.Sprintf(`{"purgeAt":%q}`, purge.UTC().Format(time.RFC3339Nano)))}
		}
		other := func(typ string) NewEvent {
			return NewEvent{ID: uuid.NewString(), Type: typ, Data: json.RawMessage(`{}`)}
		}
		now := time.Now()
		due, kept, restored, again := streamID(), streamID(), streamID(), streamID()
		mustAppend(t, s, due, NoStream, request(now.Add(-time.Hour)), other("x.suspended"))
		mustAppend(t, s, kept, NoStream, request(now.Add(time.Hour)))
		mustAppend(t, s, restored, NoStream, request(now.Add(-time.Hour)), other("x.restored"))
		mustAppend(t, s, again, NoStream, request(now.Add(-time.Hour)), other("x.restored"), request(now.Add(time.Hour)))
		got, err := s.OffboardingsDue(ctx, []string{"x.restored"}, now)
		if err != nil {
			t.Fatal(err)
		}
		mine := map[string]int{}
		for _, st := range got {
			mine[st]++
		}
		if mine[due] != 1 || mine[kept]+mine[restored]+mine[again] != 0 {
			t.Fatalf("due streams %v: want %s once, and none of the others", mine, due)
		}
	})
}

func TestMemoryStoreContract(t *testing.T) {
	m := NewMemory()
	runContract(t, func(*testing.T) Store { return m })
}
