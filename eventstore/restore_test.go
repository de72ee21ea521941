package eventstore

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/internal/testkit/wait"
)

// TestRepairAfterRestore simulates a logical restore into a younger cluster:
// stored transaction ids lie far beyond the cluster's own. The store detects
// it, and the repair keeps every reader gap-free: a checkpoint in the middle
// of the old log re-delivers at most what it had seen, skips nothing, and new
// events come after all old ones.
func TestRepairAfterRestore(t *testing.T) {
	s := newPostgres(t)
	ctx := context.Background()
	if err := s.CheckHorizon(ctx); err != nil {
		t.Fatalf("fresh log reported as restored: %v", err)
	}
	streams := []string{streamID(), streamID()}
	for i := 0; i < 5; i++ {
		for _, st := range streams {
			mustAppend(t, s, st, Any, newEvents(1, "x.old")...)
		}
	}
	// "Restore": the ids the old cluster had issued, far above this one's.
	if _, err := s.Pool().Exec(ctx, `update events set tx_id = (1000000000000 + position * 7 % 5)::text::xid8`); err != nil {
		t.Fatal(err)
	}
	// The old cluster's readers followed (tx_id, position); here the horizon
	// hides these ids (readers stall rather than skip), so read them directly.
	rows, err := s.Pool().Query(ctx, `select `+eventColumns+` from events order by tx_id, position`)
	if err != nil {
		t.Fatal(err)
	}
	old, err := collect(rows)
	if err != nil || len(old) != 10 {
		t.Fatalf("%d events, %v", len(old), err)
	}
	if visible, _ := s.ReadAll(ctx, Cursor{}, 100); len(visible) != 0 {
		t.Fatalf("ReadAll returned %d events with ids beyond the horizon", len(visible))
	}
	// a reader that had seen the first 4 events of the old order
	if err := s.SaveCheckpoint(ctx, "reader", old[3].After()); err != nil {
		t.Fatal(err)
	}
	seenBefore := map[string]bool{}
	for _, e := range old[:4] {
		seenBefore[e.ID] = true
	}

	if err := s.CheckHorizon(ctx); !errors.Is(err, ErrRestoredLog) {
		t.Fatalf("restored log not detected: %v", err)
	}
	// Without the repair, a new event sorts before the old ones: a reader
	// past them would never see it. That is what the check prevents.
	nEvents, nCheckpoints, err := s.RepairAfterRestore(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if nEvents != 10 || nCheckpoints != 1 {
		t.Fatalf("repair rewrote %d events and %d checkpoints, want 10 and 1", nEvents, nCheckpoints)
	}
	if err := s.CheckHorizon(ctx); err != nil {
		t.Fatalf("still restored after repair: %v", err)
	}
	if n, c, err := s.RepairAfterRestore(ctx); err != nil || n != 0 || c != 0 {
		t.Fatalf("a second repair changed %d/%d (%v)", n, c, err)
	}

	newEv := newEvents(1, "x.new")
	mustAppend(t, s, streams[0], Any, newEv...)
	cp, err := s.Checkpoint(ctx, "reader")
	if err != nil {
		t.Fatal(err)
	}
	// wait for the new event to pass the horizon (other tests' transactions
	// may hold it briefly)
	rest := wait.Value(t, 30*time.Second, func() ([]Event, error) {
		rest, err := s.ReadAll(ctx, cp, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(rest) == 0 || rest[len(rest)-1].ID != newEv[0].ID {
			return nil, fmt.Errorf("the new event is not past the horizon: read %d events", len(rest))
		}
		return rest, nil
	})
	got := map[string]bool{}
	for _, e := range rest {
		got[e.ID] = true
	}
	for _, e := range old[4:] {
		if !got[e.ID] {
			t.Errorf("event %s behind the moved checkpoint: skipped", e.ID)
		}
	}
	if len(rest) == 0 || rest[len(rest)-1].ID != newEv[0].ID {
		t.Fatalf("the new event is not last after the repair: %d events", len(rest))
	}
	last := map[string]int64{}
	for _, e := range rest {
		if e.Version <= last[e.Stream] {
			t.Fatalf("stream %s out of order after repair", e.Stream)
		}
		last[e.Stream] = e.Version
	}
	again := 0
	for _, e := range rest {
		if seenBefore[e.ID] {
			again++
		}
	}
	t.Logf("after the repair the reader gets %d events, %d of them again", len(rest), again)
}
