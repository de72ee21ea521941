package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/uuid"
	"github.com/tenantflow/tenantflow/adapters/kafka"
	"github.com/tenantflow/tenantflow/internal/testkit/kafkatest"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
	"github.com/tenantflow/tenantflow/internal/testkit/wait"
)

// A record the broker refuses for good (here: over the topic's
// max.message.bytes on the real broker) is set aside with the later records
// of its stream, while every other stream goes on; once the cause is fixed
// and the stream released, its records are published in order.
func TestRelaySetsAsideRefusedRecordsAndGoesOn(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	store := newPostgres(t)
	topic := "tenant.events.test-relayhold-" + uuid.NewString()[:8]
	admin, err := sarama.NewClusterAdmin(brokers, kafka.SaramaConfigWith("relayhold-test", kafkatest.Admin(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	small := "4096"
	if err := admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 3, ReplicationFactor: 1,
		ConfigEntries: map[string]*string{"max.message.bytes": &small}}, false); err != nil {
		t.Fatal(err)
	}
	if err := kafka.CreateTopic(brokers, topic, 3); err != nil { // waits for the partitions' leaders
		t.Fatal(err)
	}
	pub, err := kafka.NewRelayPublisher(brokers)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.(interface{ Close() error }).Close() })

	ctx := context.Background()
	held, other := streamID(), streamID()
	evs := newEvents(4, "x.y")
	evs[1].Data = json.RawMessage(`{"blob":"` + strings.Repeat("x", 8000) + `"}`) // under the store's cap, over the topic's
	for _, a := range []struct {
		stream string
		e      NewEvent
	}{{held, evs[0]}, {held, evs[1]}, {other, evs[2]}, {held, evs[3]}} {
		if _, err := store.Append(ctx, a.stream, Any, a.e); err != nil {
			t.Fatal(err)
		}
	}
	var refused atomic.Int32
	r := &Relay{Store: store, Publisher: pub, Topic: topic, Logger: quiet, Refused: kafka.Refused, PollInterval: 20 * time.Millisecond,
		ReleaseCheck: 50 * time.Millisecond, OnHeld: func(_ Event, reason string) {
			if reason != "" {
				refused.Add(1)
			}
		}}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(runCtx) }()
	defer func() { cancel(); <-done }()

	// The other stream goes on; the refused record and the one behind it are held.
	waitHeld := func(want int) []HeldRecord {
		t.Helper()
		return wait.Value(t, 30*time.Second, func() ([]HeldRecord, error) {
			h, err := store.ListHeld(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(h) != want {
				return nil, fmt.Errorf("held records %+v, want %d", h, want)
			}
			return h, nil
		})
	}
	h := waitHeld(2)
	if h[0].EventID != evs[1].ID || !strings.Contains(h[0].Reason, "too large") || h[1].EventID != evs[3].ID || h[1].Reason != "" {
		t.Fatalf("held %+v", h)
	}
	if refused.Load() != 1 {
		t.Errorf("OnHeld saw %d refusals, want 1", refused.Load())
	}
	recs := kafkatest.Read(t, brokers, topic, func(rs []Record, _ int) bool {
		return kafkatest.Contains(evs[0].ID)(rs, 0) && kafkatest.Contains(evs[2].ID)(rs, 0)
	})
	for _, rec := range recs {
		if id := rec.Headers["ce_id"]; id == evs[1].ID || id == evs[3].ID {
			t.Fatalf("a held record was published: %v", rec)
		}
	}

	// Releasing without fixing the cause holds the stream again.
	if n, err := store.RequestRelease(ctx, topic, held); err != nil || n != 2 {
		t.Fatalf("release: %d %v", n, err)
	}
	wait.For(t, 30*time.Second, func() error {
		if h := waitHeld(2); h[0].ReleaseRequested || h[1].ReleaseRequested {
			return errors.New("the release of a record still refused has not ended")
		}
		return nil
	})

	// Fixed: the topic takes bigger records; released, the stream is published in order.
	big := "1048588"
	if err := admin.AlterConfig(sarama.TopicResource, topic, map[string]*string{"max.message.bytes": &big}, false); err != nil {
		t.Fatal(err)
	}
	// The broker applies a topic's new configuration a moment after the
	// alteration is acknowledged (longer under load): a release that meets
	// the old limit is refused and held again, and the operator releases
	// again, as here.
	wait.For(t, 60*time.Second, func() error {
		h, err := store.ListHeld(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(h) == 0 {
			return nil
		}
		if !h[0].ReleaseRequested {
			if _, err := store.RequestRelease(ctx, topic, held); err != nil {
				t.Fatal(err)
			}
		}
		return fmt.Errorf("the fixed stream is not released: %+v", h)
	})
	recs = kafkatest.Read(t, brokers, topic, func(rs []Record, _ int) bool { return kafkatest.Contains(evs[3].ID)(rs, 0) })
	var order []string
	for _, rec := range recs {
		if rec.Key == held && !slices.Contains(order, rec.Headers["ce_id"]) {
			order = append(order, rec.Headers["ce_id"])
		}
	}
	if want := []string{evs[0].ID, evs[1].ID, evs[3].ID}; !slices.Equal(order, want) {
		t.Fatalf("the held stream reached the topic as %v, want %v", order, want)
	}
	if n, _ := store.RequestRelease(ctx, topic, held); n != 0 {
		t.Errorf("a released stream still holds %d records", n)
	}
}

// Record is kafkatest's, named here for brevity.
type Record = kafkatest.Record
