package handlers_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/tenantflow/tenantflow/domain"
)

// partitionOf is the partition the relay's records of a tenant land on (key
// = stream id, sarama's hash partitioner, the flow's four partitions).
func partitionOf(t *testing.T, topic, tenantID string) int32 {
	t.Helper()
	p, err := sarama.NewHashPartitioner(topic).Partition(&sarama.ProducerMessage{Key: sarama.StringEncoder("tenant-" + tenantID)}, 4)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A handler that panics for one tenant is recovered: the record goes to the
// dead letters with its tenant held (tenantctl dlq list shows it), and the
// other tenants on the same partition reach ACTIVE.
func TestAPanickingHandlerHoldsOnlyItsTenant(t *testing.T) {
	f := newFlow(t, withFaults(domain.StepDatabase+"=panic:pz"))
	ctx := context.Background()
	bad := f.provisionPending(t, "pz")
	var neighbours []*domain.Tenant
	for len(neighbours) < 2 {
		tn := f.provisionPending(t, "ok")
		if partitionOf(t, f.topic, tn.ID()) == partitionOf(t, f.topic, bad.ID()) {
			neighbours = append(neighbours, tn)
		}
	}
	f.request(t, bad.ID())
	for _, tn := range neighbours {
		f.request(t, tn.ID())
	}
	for _, tn := range neighbours {
		if done := f.waitFor(t, tn.ID(), "ACTIVE beside a panicking tenant", 90*time.Second, settled); done.Status() != domain.StatusActive {
			t.Fatalf("neighbour: %s", describe(done))
		}
	}
	f.waitIdle(t)
	held, _ := f.tenants.Get(ctx, bad.ID())
	if next, _ := held.NextStep(); held.Status() != domain.StatusProvisioning || next != domain.StepDatabase {
		t.Fatalf("the panicking tenant: %s", describe(held))
	}
	letters, err := f.dead.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, l := range letters {
		if l.Stream == "tenant-"+bad.ID() && !l.Held && strings.Contains(l.Reason, "handler panicked") && strings.HasSuffix(l.Handler, "step.database") {
			found = true
		}
		if l.Stream != "tenant-"+bad.ID() {
			t.Errorf("another tenant's record was dead-lettered: %+v", l)
		}
	}
	if !found {
		t.Fatalf("no dead letter for the panic: %+v", letters)
	}
}
