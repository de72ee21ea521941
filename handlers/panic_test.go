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

// neighbours creates n tenants whose records land on tn's partition.
func (f *flow) neighbours(t *testing.T, tn *domain.Tenant, n int) []*domain.Tenant {
	t.Helper()
	var out []*domain.Tenant
	for len(out) < n {
		other := f.provisionPending(t, "ok")
		if partitionOf(t, f.topic, other.ID()) == partitionOf(t, f.topic, tn.ID()) {
			out = append(out, other)
		}
	}
	return out
}

// provisionAll requests the tenants' provisioning and requires each ACTIVE.
func (f *flow) provisionAll(t *testing.T, tenants []*domain.Tenant, what string) {
	t.Helper()
	for _, tn := range tenants {
		f.request(t, tn.ID())
	}
	for _, tn := range tenants {
		if done := f.waitFor(t, tn.ID(), what, 90*time.Second, settled); done.Status() != domain.StatusActive {
			t.Fatalf("%s: %s", what, describe(done))
		}
	}
}

// A handler that panics for one tenant is recovered: the record goes to the
// dead letters with its tenant held (tenantctl dlq list shows it), and the
// other tenants on the same partition reach ACTIVE.
func TestAPanickingHandlerHoldsOnlyItsTenant(t *testing.T) {
	f := newFlow(t, withFaults(domain.StepDatabase+"=panic:pz"))
	ctx := context.Background()
	bad := f.provisionPending(t, "pz")
	neighbours := f.neighbours(t, bad, 2)
	f.request(t, bad.ID())
	f.provisionAll(t, neighbours, "ACTIVE beside a panicking tenant")
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

// A step whose back end never answers holds up only its own tenant: its
// try hangs (here until the test ends, longer than the five minutes an
// infrastructure try may take), and the tenants on the same partition reach
// ACTIVE beside it.
func TestAHangingStepHoldsOnlyItsTenant(t *testing.T) {
	f := newFlow(t, withFaults(domain.StepInfrastructure+"=hang:hz"))
	ctx := context.Background()
	slow := f.provisionPending(t, "hz")
	neighbours := f.neighbours(t, slow, 3)
	f.request(t, slow.ID())
	f.waitFor(t, slow.ID(), "at its infrastructure step", 60*time.Second, func(tn *domain.Tenant) bool {
		next, ok := tn.NextStep()
		return ok && next == domain.StepInfrastructure
	})
	f.provisionAll(t, neighbours, "ACTIVE beside a hanging tenant")
	still, err := f.tenants.Get(ctx, slow.ID())
	if err != nil {
		t.Fatal(err)
	}
	if next, _ := still.NextStep(); still.Status() != domain.StatusProvisioning || next != domain.StepInfrastructure {
		t.Fatalf("the hanging tenant moved on: %s", describe(still))
	}
}
