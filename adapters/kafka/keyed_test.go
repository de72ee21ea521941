package kafka

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
)

// The offset to commit is the first record not yet handled, whatever order
// records finish in.
func TestWatermarkCommitsUpToTheFirstRecordNotDone(t *testing.T) {
	var w watermark
	for _, o := range []int64{10, 11, 12, 15} {
		w.add(o)
	}
	steps := []struct {
		done     int64
		next     int64
		advanced bool
	}{
		{11, 0, false}, // 10 still open
		{15, 0, false},
		{10, 12, true}, // 10 and 11 done: commit up to 12
		{99, 0, false}, // not fetched: ignored
		{12, 16, true}, // everything done
	}
	for _, s := range steps {
		next, advanced := w.done(s.done)
		if next != s.next || advanced != s.advanced {
			t.Fatalf("done(%d) = %d, %v; want %d, %v", s.done, next, advanced, s.next, s.advanced)
		}
	}
}

// Consumer.Keyed on the real broker: one key's records in order, never two at
// once; a key whose record never finishes holds up only that key; and the
// group's committed offset stops in front of the unfinished record, so it
// comes again to the next member.
func TestConsumeKeyedOnTheRealBroker(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	topic := "tenant.events.test-keyed-" + watermill.NewShortUUID()
	if err := CreateTopic(brokers, topic, 1); err != nil { // one partition: every key shares it
		t.Fatal(err)
	}
	pub, err := NewRelayPublisher(brokers)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	var msgs []*message.Message
	for i := range 100 {
		m := message.NewMessage(watermill.NewUUID(), []byte(strconv.Itoa(i)))
		key := fmt.Sprintf("key-%d", i%10)
		if i == 0 {
			key = "stuck" // the first record: it never finishes
		}
		m.Metadata.Set(KeyMetadata, key)
		msgs = append(msgs, m)
	}
	if err := pub.Publish(topic, msgs...); err != nil {
		t.Fatal(err)
	}

	group := "test-keyed-" + watermill.NewShortUUID()
	ctx, cancel := context.WithCancel(context.Background())
	var (
		mu      sync.Mutex
		seen    = map[string][]int{}
		running = map[string]bool{}
		handled = 0
		allDone = make(chan struct{})
	)
	done := make(chan error, 1)
	go func() {
		done <- Consumer{Brokers: brokers, Group: group, Topic: topic, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}.Keyed(ctx, KeyedOptions{Concurrency: 8},
			func(ctx context.Context, r Record) error {
				if r.Key == "stuck" {
					<-ctx.Done()
					return ctx.Err()
				}
				mu.Lock()
				if running[r.Key] {
					t.Errorf("two records of %s at once", r.Key)
				}
				running[r.Key] = true
				mu.Unlock()
				n, _ := strconv.Atoi(string(r.Value))
				mu.Lock()
				running[r.Key] = false
				seen[r.Key] = append(seen[r.Key], n)
				handled++
				if handled == 99 {
					close(allDone)
				}
				mu.Unlock()
				return nil
			})
	}()
	select {
	case <-allDone:
	case <-time.After(60 * time.Second):
		t.Fatalf("records behind a stuck key were held up: %d of 99 handled", handled)
	}
	mu.Lock()
	for key, ns := range seen {
		for i := 1; i < len(ns); i++ {
			if ns[i] < ns[i-1] {
				t.Errorf("%s out of order: %v", key, ns)
			}
		}
	}
	mu.Unlock()
	cancel()
	<-done

	admin, err := sarama.NewClusterAdmin(brokers, SaramaConfig("test-keyed"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	offsets, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: {0}})
	if err != nil {
		t.Fatal(err)
	}
	if b := offsets.GetBlock(topic, 0); b != nil && b.Offset > 0 {
		t.Fatalf("committed offset %d: past the stuck record at 0", b.Offset)
	}
}
