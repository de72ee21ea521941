package handlers_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/tenantflow/tenantflow/adapters/kafka"
	"github.com/tenantflow/tenantflow/app"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
)

// A record on a tenant's partition that is not an event of this log (an
// outside producer's) is set aside as one dead letter naming no stream, and
// the tenant goes on. A record that is the log's own but that this version
// cannot decode goes to the dead letters, and the tenant's later events are
// held back, not processed past it, until an operator redrives.
func TestUndecodableRecordHoldsItsTenant(t *testing.T) {
	f := newFlow(t)
	ctx := context.Background()
	newTenant := func(prefix string) *domain.Tenant {
		key := testenv.UniqueKey(prefix)
		tn, evs, _ := domain.NewTenant(uuid.NewString(), "", domain.TenantInput{Key: key, Name: "Q",
			Contact: domain.Contact{Email: key + "@example.com", FirstName: "Q", LastName: "Q"}})
		if err := app.CreateTenant(ctx, f.store, tn, eventstore.Metadata{}, evs); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.cleanup(tn) })
		return tn
	}
	publish := func(stream string, value string, headers map[string]string) {
		msg := message.NewMessage(uuid.NewString(), []byte(value))
		msg.Metadata.Set(kafka.KeyMetadata, stream)
		for k, v := range headers {
			msg.Metadata.Set(k, v)
		}
		if err := f.publisher.Publish(f.topic, msg); err != nil {
			t.Fatal(err)
		}
	}

	// An outside producer's records: garbage, and a well-formed one with an
	// event id the log does not hold.
	foreign := newTenant("f")
	publish("tenant-"+foreign.ID(), `not json`, map[string]string{"ce_subject": "tenant-" + foreign.ID()})
	publish("tenant-"+foreign.ID(), `{"streamVersion":2,"data":{"x":1}}`, map[string]string{"ce_id": uuid.NewString(),
		"ce_type": domain.TypeProvisioningRequested, "ce_subject": "tenant-" + foreign.ID(), "ce_specversion": "1.0", "ce_schemaversion": "99"})
	f.request(t, foreign.ID())
	if done := f.waitFor(t, foreign.ID(), "ACTIVE past foreign records", 90*time.Second, settled); done.Status() != domain.StatusActive {
		t.Fatalf("a foreign record held the tenant: %s", describe(done))
	}
	letters, err := f.dead.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(letters) != 2 || letters[0].Stream != "" || letters[1].Stream != "" || letters[0].Held ||
		!strings.HasPrefix(letters[0].Reason, "not an event of this log") || !strings.HasPrefix(letters[1].Reason, "not an event of this log") {
		t.Fatalf("foreign records were not set aside once each, naming no stream: %+v", letters)
	}
	if _, err := f.dead.Redrive(ctx, f.publisher, "", true); err != nil {
		t.Fatal(err)
	}

	// The log's own event (its id at its version) in a schema version this
	// code cannot read.
	tn := newTenant("q")
	logged, _ := f.store.Load(ctx, "tenant-"+tn.ID())
	publish("tenant-"+tn.ID(), `{"streamVersion":1,"data":{"x":1}}`, map[string]string{"ce_id": logged[0].ID,
		"ce_type": domain.TypeProvisioningRequested, "ce_subject": "tenant-" + tn.ID(), "ce_specversion": "1.0", "ce_schemaversion": "99"})
	f.request(t, tn.ID())
	f.waitIdle(t)

	held, _ := f.tenants.Get(ctx, tn.ID())
	if next, _ := held.NextStep(); held.Status() != domain.StatusProvisioning || next != domain.StepIdentity {
		t.Fatalf("processed past a dead letter: %s", describe(held))
	}
	if letters, err = f.dead.List(ctx); err != nil {
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
	if dead == 0 || parked == 0 {
		t.Fatalf("%d dead letters, %d held: %+v", dead, parked, letters)
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
