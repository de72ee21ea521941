package kafka

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
)

// roundTrip publishes n keyed messages through the record publisher and reads
// them back in a fresh consumer group: every payload arrives, with its headers and key.
func roundTrip(t *testing.T, brokers []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	topic := fmt.Sprintf("tenant.events.test-smoke-%s", watermill.NewShortUUID())
	if err := CreateTopic(brokers, topic, 3); err != nil {
		t.Fatal(err)
	}
	if err := CreateTopic(brokers, topic, 3); err != nil {
		t.Fatalf("creating an existing topic must succeed: %v", err)
	}

	pub, err := NewRelayPublisher(brokers)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	const n = 20
	for i := 0; i < n; i++ {
		m := message.NewMessage(watermill.NewUUID(), []byte(fmt.Sprintf("payload-%02d", i)))
		m.Metadata.Set("seq", fmt.Sprint(i))
		m.Metadata.Set(KeyMetadata, fmt.Sprintf("stream-%d", i%4))
		if err := pub.Publish(topic, m); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}

	records := make(chan Record, n)
	go func() {
		c := Consumer{Brokers: brokers, Group: "test-smoke-" + watermill.NewShortUUID(), Topic: topic, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
		_ = c.Keyed(ctx, KeyedOptions{}, func(_ context.Context, r Record) error { records <- r; return nil })
	}()
	got := map[string]bool{}
	for len(got) < n {
		select {
		case r := <-records:
			got[string(r.Value)] = true
			seq, _ := strconv.Atoi(r.Headers["seq"])
			if want := fmt.Sprintf("payload-%02d", seq); string(r.Value) != want {
				t.Errorf("headers did not travel with the payload: %q vs seq %s", r.Value, r.Headers["seq"])
			}
			if want := fmt.Sprintf("stream-%d", seq%4); r.Key != want {
				t.Errorf("record %s has key %q, want %q", r.Value, r.Key, want)
			}
		case <-ctx.Done():
			t.Fatalf("received %d of %d messages before the deadline", len(got), n)
		}
	}
	for i := 0; i < n; i++ {
		if !got[fmt.Sprintf("payload-%02d", i)] {
			t.Errorf("payload-%02d never arrived", i)
		}
	}
}

func TestRealBrokerRoundTrip(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := Ping(ctx, brokers); err != nil {
		t.Fatalf("the dev stack's broker does not answer: %v", err)
	}
	roundTrip(t, brokers)
}

func TestEmbeddedBrokerRoundTrip(t *testing.T) {
	e, err := StartEmbedded(slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	// The embedded broker has no sign-in and one replica, as tenantd
	// configures its clients for it (no test here runs in parallel).
	before := Current()
	Configure(Settings{ReplicationFactor: 1, MinInsyncReplicas: 1})
	defer Configure(before)
	roundTrip(t, e.Brokers())
}

func TestPingFailsForAnAbsentBroker(t *testing.T) {
	e, err := StartEmbedded(slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	addr := e.Brokers()
	e.Close() // nothing listens on addr any more
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := Ping(ctx, addr); err == nil {
		t.Fatal("Ping succeeded against a stopped broker")
	}
}
