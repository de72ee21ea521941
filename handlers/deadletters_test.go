package handlers_test

import (
	"context"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/tenantflow/tenantflow/adapters/kafka"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/internal/repo"
)

// A record nobody can decode goes to the dead letters; the tenant's later
// events are held back, not processed past it, until an operator redrives.
func TestUndecodableRecordHoldsItsTenant(t *testing.T) {
	f := newFlow(t)
	ctx := context.Background()
	key := uniqueKey("q")
	tn, evs, _ := domain.NewTenant(uuid.NewString(), "", domain.TenantInput{Key: key, Name: "Q",
		Contact: domain.Contact{Email: key + "@example.com", FirstName: "Q", LastName: "Q"}})
	if err := repo.CreateTenant(ctx, f.store, tn, eventstore.Metadata{}, evs); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.cleanup(tn) })

	// A record on the tenant's partition that is not a tenantflow event.
	garbage := message.NewMessage(uuid.NewString(), []byte(`not json`))
	garbage.Metadata.Set(kafka.KeyMetadata, "tenant-"+tn.ID())
	garbage.Metadata.Set("ce_subject", "tenant-"+tn.ID())
	if err := f.publisher.Publish(f.topic, garbage); err != nil {
		t.Fatal(err)
	}
	f.request(t, tn.ID())
	f.waitIdle(t)

	held, _ := f.tenants.Get(ctx, tn.ID())
	if next, _ := held.NextStep(); held.Status() != domain.StatusProvisioning || next != domain.StepIdentity {
		t.Fatalf("processed past a dead letter: %s", describe(held))
	}
	letters, err := f.dead.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dead, parked := 0, 0
	for _, l := range letters {
		if l.Held {
			parked++
		} else if l.Stream == "tenant-"+tn.ID() && l.Reason != "" {
			dead++
		}
	}
	if dead != len(domain.Steps)+2 || parked == 0 {
		t.Fatalf("%d dead letters (one per handler wanted: %d), %d held: %+v", dead, len(domain.Steps)+2, parked, letters)
	}

	n, err := f.dead.Redrive(ctx, f.publisher, "tenant-"+tn.ID(), true)
	if err != nil || n == 0 {
		t.Fatalf("redrive: %d %v", n, err)
	}
	done := f.waitFor(t, tn.ID(), "ACTIVE after the redrive", 90*time.Second, settled)
	if done.Status() != domain.StatusActive {
		t.Fatalf("after redrive: %s", describe(done))
	}
	if left, _ := f.dead.List(ctx); len(left) != 0 {
		t.Fatalf("%d rows still held", len(left))
	}
}
