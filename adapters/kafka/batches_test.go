package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
)

// Consumer.Batches on the real broker: every record arrives, per partition in
// offset order, in batches; a failed batch comes again; committed offsets
// are not handed to the group again.
func TestConsumeBatchesOnTheRealBroker(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	topic := "tenant.events.test-batches-" + watermill.NewShortUUID()
	if err := CreateTopic(brokers, topic, 2); err != nil {
		t.Fatal(err)
	}
	pub, err := NewRelayPublisher(brokers)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	publish := func(from, to int) {
		for i := from; i < to; i++ {
			m := message.NewMessage(watermill.NewUUID(), []byte(strconv.Itoa(i)))
			m.Metadata.Set("seq", strconv.Itoa(i))
			m.Metadata.Set(KeyMetadata, fmt.Sprintf("stream-%d", i%5))
			if err := pub.Publish(topic, m); err != nil {
				t.Fatal(err)
			}
		}
	}
	publish(0, 200)

	group := "test-batches-" + watermill.NewShortUUID()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	run := func(want int) (seen map[int]int, batches int) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		var mu sync.Mutex
		seen, last := map[int]int{}, map[int32]int64{}
		failedOnce := false
		done := make(chan error, 1)
		go func() {
			done <- Consumer{Brokers: brokers, Group: group, Topic: topic, Logger: quiet}.Batches(ctx, 50, func(_ context.Context, rs []Record) error {
				mu.Lock()
				defer mu.Unlock()
				if !failedOnce {
					failedOnce = true
					return errors.New("the first batch fails once")
				}
				batches++
				for _, r := range rs {
					if r.Offset <= last[r.Partition] && last[r.Partition] != 0 {
						t.Errorf("partition %d: offset %d after %d", r.Partition, r.Offset, last[r.Partition])
					}
					last[r.Partition] = r.Offset
					n, _ := strconv.Atoi(r.Headers["seq"])
					seen[n]++
				}
				if len(seen) == want {
					cancel()
				}
				return nil
			})
		}()
		<-done
		if len(seen) != want {
			t.Fatalf("saw %d distinct records, want %d", len(seen), want)
		}
		return seen, batches
	}
	_, batches := run(200)
	if batches >= 200 {
		t.Errorf("%d batches for 200 records: nothing was batched", batches)
	}
	// The group resumes after its committed offsets: only the new records.
	publish(200, 230)
	seen, _ := run(30)
	for n := range seen {
		if n < 200 {
			t.Fatalf("record %d came again after its offset was committed", n)
		}
	}
}
