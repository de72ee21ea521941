package projections_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/google/uuid"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/projections"
)

// A settled tenant's document is its fold's view, rendered: what GET
// /tenants/{id} answers from the log, member for member; a tenant whose
// flow is running has none (GET reads the log). The engine folds from the
// histories it remembers; one that started after part of a stream was
// applied (a restart, another replica's partition) reads that part from
// the log, whatever order the batch's records of a stream come in.
func TestDocumentsAreTheFoldRendered(t *testing.T) {
	e := newEnv(t)
	ids := e.life(t)
	ctx := context.Background()
	var first, rest []eventstore.Event
	for _, id := range ids {
		stream, err := e.store.Load(ctx, "tenant-"+id)
		if err != nil {
			t.Fatal(err)
		}
		half := len(stream) / 2
		first, rest = append(first, stream[:half]...), append(rest, stream[half:]...)
	}
	if err := e.engine.ApplyForTest(ctx, first); err != nil {
		t.Fatal(err)
	}
	// The restarted engine has one connection: the histories it has not got
	// are read in the batch's own transaction. (Read through the pool, they
	// waited for a connection the batches held: after a restart every
	// partition's batch did, and the projections stopped.)
	restarted, bounded := e.oneConnection(t)
	// A record delivered again after newer ones (Kafka after a broker's
	// restart) changes nothing.
	rest = append(rest, first[0])
	if err := restarted.ApplyForTest(bounded, rest); err != nil {
		t.Fatal(err)
	}
	settled, running := 0, 0
	for _, id := range ids {
		tn, err := e.tenants.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		d, err := restarted.Document(ctx, id)
		if !tn.Settled() {
			if !errors.Is(err, projections.ErrNotProjected) {
				t.Fatalf("%s is not settled (%s), but has a document at version %d: %v", tn.Name(), tn.Status(), d.Version, err)
			}
			running++
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		settled++
		if d.Version != tn.Version() || d.Head != tn.Version() {
			t.Fatalf("%s: document at version %d, head %d; the fold is at %d", tn.Name(), d.Version, d.Head, tn.Version())
		}
		personal, err := json.Marshal(d.Personal)
		if err != nil {
			t.Fatal(err)
		}
		var got, want map[string]any
		if err := json.Unmarshal(append(append(d.Members, ','), personal[1:]...), &got); err != nil {
			t.Fatalf("%s: the document does not read as JSON: %v", tn.Name(), err)
		}
		fold, _ := json.Marshal(projections.ViewOf(tn))
		if err := json.Unmarshal(fold, &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s:\ndocument %v\nfold     %v", tn.Name(), got, want)
		}
	}
	if settled == 0 || running == 0 {
		t.Fatalf("%d settled and %d running tenants: the test needs both", settled, running)
	}
	if _, err := restarted.Document(ctx, uuid.NewString()); !errors.Is(err, projections.ErrNotProjected) {
		t.Fatalf("a tenant the log does not hold: %v, want ErrNotProjected", err)
	}
}
