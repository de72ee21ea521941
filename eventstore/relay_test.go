package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/google/uuid"
	"github.com/tenantflow/tenantflow/adapters/kafka"
	"github.com/tenantflow/tenantflow/eventstore/wire"
	"github.com/tenantflow/tenantflow/internal/testkit/kafkatest"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
	"github.com/tenantflow/tenantflow/internal/testkit/wait"
)

// relayEnv is a fresh database, a fresh topic with 12 partitions on the real
// broker, and a publisher configured as tenantd configures the relay's.
type relayEnv struct {
	store   *Postgres
	brokers []string
	topic   string
	pub     Publisher
}

func newRelayEnv(t testing.TB) *relayEnv {
	t.Helper()
	brokers := testenv.KafkaBrokers(t)
	s := newPostgres(t)
	topic := "tenant.events.test-relay-" + uuid.NewString()[:8]
	if err := kafka.CreateTopic(brokers, topic, 12); err != nil {
		t.Fatal(err)
	}
	pub, err := kafka.NewRelayPublisher(brokers)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.(interface{ Close() error }).Close() })
	return &relayEnv{store: s, brokers: brokers, topic: topic, pub: pub}
}

// start runs a relay until the returned stop is called (or the test ends).
func (e *relayEnv) start(t testing.TB, afterAck func(context.Context, []Event)) (r *Relay, stop func()) {
	t.Helper()
	// Warnings (lost lead, failed publish) go to the test log, to explain a failure.
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	r = &Relay{Store: e.store, Publisher: e.pub, Topic: e.topic, Logger: logger,
		PollInterval: 20 * time.Millisecond, StandbyPoll: 100 * time.Millisecond, afterAck: afterAck}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return r, stop
}

func TestRelayPublishesValidCloudEvents(t *testing.T) {
	env := newRelayEnv(t)
	want := map[string]NewEvent{}
	streams := []string{streamID(), streamID(), streamID()}
	for _, st := range streams {
		evs := newEvents(3, "tenant.test.happened")
		for i := range evs {
			evs[i].Metadata.TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
			want[evs[i].ID] = evs[i]
		}
		mustAppend(t, env.store, st, NoStream, evs...)
	}
	env.start(t, nil)
	recs := kafkatest.Read(t, env.brokers, env.topic, kafkatest.UniqueIDs(len(want)))

	for _, r := range recs {
		ev, err := binding.ToEvent(context.Background(), kafka_sarama.NewMessageFromConsumerMessage(r.Raw))
		if err != nil {
			t.Fatalf("not a CloudEvent: %v (headers %v)", err, r.Headers)
		}
		if err := ev.Validate(); err != nil {
			t.Fatalf("invalid CloudEvent: %v", err)
		}
		if kafka_sarama.NewMessageFromConsumerMessage(r.Raw).ReadEncoding() != binding.EncodingBinary {
			t.Errorf("record is not in binary mode")
		}
		orig, ok := want[ev.ID()]
		if !ok {
			t.Fatalf("unexpected event %s", ev.ID())
		}
		if ev.SpecVersion() != "1.0" || ev.Type() != orig.Type || ev.Source() != "tenantflow" ||
			ev.Subject() != r.Key || !strings.HasPrefix(ev.Subject(), "tenant-") || ev.DataContentType() != "application/json" || ev.Time().IsZero() {
			t.Errorf("attributes: %s", ev)
		}
		ext := ev.Extensions()
		if ext["correlationid"] != "corr-1" || ext["causationid"] != "cause-1" || ext["traceparent"] == nil {
			t.Errorf("extensions: %v", ext)
		}
		var p wire.Payload
		if err := json.Unmarshal(ev.Data(), &p); err != nil || !sameJSON(t, p.Data, orig.Data) {
			t.Errorf("payload %s: %v", ev.Data(), err)
		}
		if fmt.Sprint(ext["streamversion"]) != strconv.FormatInt(p.StreamVersion, 10) {
			t.Errorf("streamversion %v vs payload %d", ext["streamversion"], p.StreamVersion)
		}
	}
}

// TestRelayCrashBetweenAckAndCheckpoint: the relay dies after the broker
// acknowledged a batch but before the checkpoint was written. The next relay
// publishes the batch again: duplicates on the wire, never a gap.
func TestRelayCrashBetweenAckAndCheckpoint(t *testing.T) {
	env := newRelayEnv(t)
	ids := map[string]bool{}
	for i := 0; i < 10; i++ {
		evs := newEvents(3, "x.y")
		for _, e := range evs {
			ids[e.ID] = true
		}
		mustAppend(t, env.store, streamID(), NoStream, evs...)
	}

	crashed := make(chan struct{})
	var once sync.Once
	_, stopFirst := env.start(t, func(ctx context.Context, _ []Event) {
		once.Do(func() { close(crashed) })
		<-ctx.Done() // the process dies here: the checkpoint write that follows fails
	})
	<-crashed
	stopFirst()
	if c, _ := env.store.Checkpoint(context.Background(), "relay:"+env.topic); c != (Cursor{}) {
		t.Fatalf("checkpoint moved before the crash: %+v", c)
	}

	second, _ := env.start(t, nil)
	recs := kafkatest.Read(t, env.brokers, env.topic, func(rs []kafkatest.Record, unique int) bool {
		return unique >= len(ids) && len(rs) > len(ids)
	})
	seen := map[string]int{}
	for _, r := range recs {
		seen[r.Headers["ce_id"]]++
	}
	for id := range ids {
		if seen[id] == 0 {
			t.Errorf("event %s lost", id)
		}
	}
	if len(recs) <= len(ids) {
		t.Errorf("expected duplicates after the crash, got %d records for %d events", len(recs), len(ids))
	}
	t.Logf("%d events, %d records after the crash (a consumer deduplicating by ce_id sees each once)", len(ids), len(recs))
	if !second.Active() {
		t.Error("the second relay is not active")
	}
}

// TestRelayOrdering: 1,000 streams of 20 events appended concurrently arrive
// with each stream on one partition in version order — read back with sarama
// and once more with kcat as an independent client.
func TestRelayOrdering(t *testing.T) {
	env := newRelayEnv(t)
	var ackMu sync.Mutex
	acked := map[string]int{}
	env.start(t, func(_ context.Context, evs []Event) {
		ackMu.Lock()
		defer ackMu.Unlock()
		for _, e := range evs {
			acked[e.ID]++
		}
	})
	const streams, perStream, writers = 1000, 20, 16
	names := make([]string, streams)
	for i := range names {
		names[i] = streamID()
	}
	began := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for v := 1; v <= perStream; v++ {
				for i := w; i < streams; i += writers {
					if _, err := env.store.Append(context.Background(), names[i], Exactly(int64(v-1)), newEvents(1, "x.ordered")...); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("appended %d events in %s", streams*perStream, time.Since(began).Round(time.Millisecond))
	total := streams * perStream
	recs, err := kafkatest.TryRead(t, env.brokers, env.topic, kafkatest.UniqueIDs(total))
	if err != nil {
		// Which events are missing, and did the relay believe it published them?
		onKafka := map[string]bool{}
		for _, r := range recs {
			onKafka[r.Headers["ce_id"]] = true
		}
		all, _ := env.store.ReadAll(context.Background(), Cursor{}, 1000000)
		ackMu.Lock()
		missing, missingAcked, shown := 0, 0, 0
		for _, e := range all {
			if onKafka[e.ID] {
				continue
			}
			missing++
			if acked[e.ID] > 0 {
				missingAcked++
			}
			if shown < 15 {
				shown++
				t.Logf("missing: stream=%s v=%d pos=%d tx=%d acked=%d", e.Stream, e.Version, e.Position, e.TxID, acked[e.ID])
			}
		}
		ackMu.Unlock()
		t.Fatalf("%v; %d events missing on Kafka, %d of them acked by the relay", err, missing, missingAcked)
	}

	checkOrder := func(client string, rs []kafkatest.Record) {
		t.Helper()
		partition := map[string]int32{}
		last := map[string]int64{}
		seen := map[string]bool{}
		// records of one partition come in offset order from both readers
		for _, r := range rs {
			id := r.Headers["ce_id"]
			if seen[id] {
				continue
			}
			seen[id] = true
			v, _ := strconv.ParseInt(r.Headers["ce_streamversion"], 10, 64)
			if p, ok := partition[r.Key]; ok && p != r.Partition {
				t.Fatalf("%s: stream %s on partitions %d and %d", client, r.Key, p, r.Partition)
			}
			partition[r.Key] = r.Partition
			if v != last[r.Key]+1 {
				t.Fatalf("%s: stream %s version %d after %d", client, r.Key, v, last[r.Key])
			}
			last[r.Key] = v
		}
		if len(seen) != total || len(partition) != streams {
			t.Fatalf("%s: %d events on %d streams, want %d on %d", client, len(seen), len(partition), total, streams)
		}
		parts := map[int32]bool{}
		for _, p := range partition {
			parts[p] = true
		}
		t.Logf("%s: %d records, %d events, %d streams spread over %d partitions, all in version order", client, len(rs), len(seen), len(partition), len(parts))
	}
	checkOrder("sarama", recs)

	kc, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatal("kcat (Debian package kcat) is needed as the independent client; devstack.sh up installs it")
	}
	args := append(kafkatest.KcatArgs(t), "-C", "-b", strings.Join(env.brokers, ","), "-t", env.topic,
		"-o", "beginning", "-e", "-q", "-f", "%p\t%o\t%k\t%h\n")
	out, err := exec.Command(kc, args...).Output()
	if err != nil {
		t.Fatalf("kcat: %v", err)
	}
	var kr []kafkatest.Record
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.SplitN(line, "\t", 4)
		if len(f) != 4 {
			t.Fatalf("kcat line %q", line)
		}
		p, _ := strconv.ParseInt(f[0], 10, 32)
		o, _ := strconv.ParseInt(f[1], 10, 64)
		h := map[string]string{}
		for _, kv := range strings.Split(f[3], ",") {
			k, v, _ := strings.Cut(kv, "=")
			h[k] = v
		}
		kr = append(kr, kafkatest.Record{Partition: int32(p), Offset: o, Key: f[2], Headers: h})
	}
	checkOrder("kcat", kr)
}

// TestRelayStandbyTakesOver: of two relays one is active; when it goes, the
// standby takes over from the checkpoint and nothing is lost.
func TestRelayStandbyTakesOver(t *testing.T) {
	env := newRelayEnv(t)
	a, stopA := env.start(t, nil)
	b, stopB := env.start(t, nil)
	waitFor(t, "one relay active", func() bool { return a.Active() || b.Active() })
	if a.Active() && b.Active() {
		t.Fatal("two relays active at once")
	}
	active, standby, stopActive := a, b, stopA
	if b.Active() {
		active, standby, stopActive = b, a, stopB
	}
	first := newEvents(5, "x.before")
	mustAppend(t, env.store, streamID(), NoStream, first...)
	kafkatest.Read(t, env.brokers, env.topic, kafkatest.UniqueIDs(5))

	stopActive()
	waitFor(t, "standby takes over", standby.Active)
	if active.Active() {
		t.Fatal("the stopped relay still claims to be active")
	}
	mustAppend(t, env.store, streamID(), NoStream, newEvents(5, "x.after")...)
	kafkatest.Read(t, env.brokers, env.topic, kafkatest.UniqueIDs(10))
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	wait.For(t, 30*time.Second, func() error {
		if !cond() {
			return errors.New(what)
		}
		return nil
	})
}

// testWriter sends a logger's lines to t.Log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
