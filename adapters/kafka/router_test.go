package kafka

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
	"github.com/tenantflow/tenantflow/internal/testkit/wait"
)

// A consumer under NewRouter, over either subscriber, on the real broker:
// each key's records arrive in order; a handler's failure brings the record
// again (nothing lost to an outage); a panic sends the record, with why, to
// the dead-letter topic and the rest go on.
func TestRouterOnTheRealBroker(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	for name, subscriber := range map[string]func(group string) (message.Subscriber, error){
		"keyed": func(group string) (message.Subscriber, error) {
			return KeyedSubscriber{Consumer: Consumer{Brokers: brokers, Group: group, Logger: logger}, Options: KeyedOptions{Concurrency: 4}}, nil
		},
		"watermill-kafka": func(group string) (message.Subscriber, error) { return NewSubscriber(brokers, group, logger) },
	} {
		t.Run(name, func(t *testing.T) {
			topic := "tenant.events.test-router-" + watermill.NewShortUUID()
			if err := CreateTopic(brokers, topic, 3); err != nil {
				t.Fatal(err)
			}
			if err := CreateTopic(brokers, DLQTopic(topic), 1); err != nil {
				t.Fatal(err)
			}
			pub, err := NewRelayPublisher(brokers)
			if err != nil {
				t.Fatal(err)
			}
			defer pub.Close()
			const perKey = 10
			for i := range 3 * perKey {
				m := message.NewMessage(watermill.NewUUID(), []byte(strconv.Itoa(i/3)))
				m.Metadata.Set(KeyMetadata, fmt.Sprintf("tenant-%d", i%3))
				if err := pub.Publish(topic, m); err != nil {
					t.Fatal(err)
				}
			}

			var mu sync.Mutex
			seen := map[string][]int{} // key → sequence numbers handled, in order
			failedOnce := false
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			dlq, err := NewRecordPublisher(brokers) // the process's principal writes dead letters
			if err != nil {
				t.Fatal(err)
			}
			defer dlq.Close()
			router, err := NewRouter(dlq, topic, logger)
			if err != nil {
				t.Fatal(err)
			}
			group := "test-router-" + watermill.NewShortUUID()
			sub, err := subscriber(group)
			if err != nil {
				t.Fatal(err)
			}
			router.AddConsumerHandler(group, topic, sub, func(msg *message.Message) error {
				key, seq := msg.Metadata.Get(KeyMetadata), string(msg.Payload)
				n, _ := strconv.Atoi(seq)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case key == "tenant-1" && n == 4 && !failedOnce:
					failedOnce = true
					return fmt.Errorf("database down") // comes again
				case key == "tenant-2" && n == 7:
					panic("a bug in the handler") // dead-lettered
				}
				seen[key] = append(seen[key], n)
				return nil
			})
			done := make(chan error, 1)
			go func() { done <- router.Run(ctx) }()
			wait.For(t, 60*time.Second, func() error {
				mu.Lock()
				defer mu.Unlock()
				if len(seen["tenant-0"]) < perKey || len(seen["tenant-1"]) < perKey || len(seen["tenant-2"]) < perKey-1 {
					return fmt.Errorf("handled %v", seen)
				}
				return nil
			})
			mu.Lock()
			for key, got := range seen {
				want := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
				if key == "tenant-2" {
					want = slices.DeleteFunc(want, func(n int) bool { return n == 7 })
				}
				if !slices.Equal(got, want) {
					t.Errorf("%s handled %v, want %v in order, each once", key, got, want)
				}
			}
			mu.Unlock()
			dead := make(chan Record, 1)
			go func() {
				c := Consumer{Brokers: brokers, Group: "test-dlq-" + watermill.NewShortUUID(), Topic: DLQTopic(topic), Logger: logger}
				_ = c.Keyed(ctx, KeyedOptions{}, func(_ context.Context, r Record) error { dead <- r; return nil })
			}()
			select {
			case r := <-dead:
				if string(r.Value) != "7" || r.Key != "tenant-2" || r.Headers[middleware.ReasonForPoisonedKey] == "" {
					t.Errorf("dead letter %q key %q headers %v", r.Value, r.Key, r.Headers)
				}
			case <-time.After(60 * time.Second):
				t.Fatal("the panicking record never reached the dead-letter topic")
			}
			cancel()
			if err := <-done; err != nil {
				t.Errorf("router: %v", err)
			}
		})
	}
}
