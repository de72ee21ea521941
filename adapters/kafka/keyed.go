package kafka

import (
	"context"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

// KeyedHandler handles one record. Consumer.Keyed calls it for the records of
// one key in offset order and never for two records of one key at once;
// records of different keys run concurrently, so a record that takes minutes
// holds up its own key (its tenant) and nothing else. It owns its retries
// and dead letters: an error means "not done" and the record is handed over
// again after a pause; when ctx ends (shutdown, or the partition moved to
// another member) it should return promptly, and the record comes again to
// whoever owns the partition next.
type KeyedHandler func(ctx context.Context, r Record) error

// KeyedOptions tune Consumer.Keyed.
type KeyedOptions struct {
	// Concurrency bounds the records handled at once in the process, over
	// all partitions (default 64).
	Concurrency int
	// MaxPending bounds the records of one partition fetched but not yet
	// handled; fetching the partition pauses at the bound (default 4096).
	MaxPending int
	// OnAssign runs when the member is given partitions, before any record
	// of them is handled (handlers reload what they keep in memory).
	OnAssign func(ctx context.Context) error
}

// ConsumerConfig is the sarama configuration of tenantflow's consumer
// groups. The session timeout is the broker's minimum (6 s), so a member
// that died without leaving is replaced within seconds rather than the
// default 10 s; heartbeats go every 2 s. Fetches wait up to 100 ms for
// 1 byte: a record is delivered as soon as it is there, and a burst arrives
// in one fetch. With instanceID the member is static.
func ConsumerConfig(clientID, instanceID string) *sarama.Config {
	cfg := SaramaConfig(clientID)
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Group.Session.Timeout = 6 * time.Second
	cfg.Consumer.Group.Heartbeat.Interval = 2 * time.Second
	cfg.Consumer.Group.Rebalance.Timeout = 30 * time.Second
	cfg.Consumer.Offsets.AutoCommit.Interval = 200 * time.Millisecond
	cfg.Consumer.MaxWaitTime = 100 * time.Millisecond
	cfg.Consumer.Group.InstanceId = instanceID
	return cfg
}

type keyedHandler struct {
	opt    KeyedOptions
	handle KeyedHandler
	slots  chan struct{} // the process-wide concurrency bound
	logger *slog.Logger
}

func (h *keyedHandler) Setup(sess sarama.ConsumerGroupSession) error {
	if h.opt.OnAssign == nil {
		return nil
	}
	for delay := 100 * time.Millisecond; ; delay = min(2*delay, 5*time.Second) {
		err := h.opt.OnAssign(sess.Context())
		if err == nil || sess.Context().Err() != nil {
			return err
		}
		h.logger.Warn("preparing for assigned partitions failed; trying again", "error", err)
		select {
		case <-sess.Context().Done():
			return sess.Context().Err()
		case <-time.After(delay):
		}
	}
}

func (*keyedHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

// ConsumeClaim reads one partition and hands each record to its key's lane.
// A lane is a goroutine that exists while its key has records waiting.
func (h *keyedHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	ctx, cancel := context.WithCancel(sess.Context())
	var lanesDone sync.WaitGroup
	defer func() { cancel(); lanesDone.Wait() }()
	var (
		mu      sync.Mutex
		lanes   = map[string][]Record{} // waiting records by key; present while the key's lane runs
		marks   watermark
		pending = make(chan struct{}, h.opt.MaxPending)
	)
	run := func(key string) {
		defer lanesDone.Done()
		for {
			mu.Lock()
			queue := lanes[key]
			if len(queue) == 0 {
				delete(lanes, key)
				mu.Unlock()
				return
			}
			r := queue[0]
			lanes[key] = queue[1:]
			mu.Unlock()
			if !h.handleUntilDone(ctx, r) {
				return // ctx ended: the claim is over, and the record comes again
			}
			<-pending
			mu.Lock()
			next, advanced := marks.done(r.Offset)
			mu.Unlock()
			if advanced {
				sess.MarkOffset(claim.Topic(), claim.Partition(), next, "")
			}
		}
	}
	for {
		var m *sarama.ConsumerMessage
		select {
		case <-ctx.Done():
			return nil
		case msg, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			m = msg
		}
		select {
		case <-ctx.Done():
			return nil
		case pending <- struct{}{}:
		}
		r := recordOf(m)
		mu.Lock()
		marks.add(m.Offset)
		queue, running := lanes[r.Key]
		lanes[r.Key] = append(queue, r)
		mu.Unlock()
		if !running {
			lanesDone.Add(1)
			go run(r.Key)
		}
	}
}

// handleUntilDone hands r to the handler, within the concurrency bound,
// until it succeeds (true) or ctx ends (false).
func (h *keyedHandler) handleUntilDone(ctx context.Context, r Record) bool {
	for delay := 100 * time.Millisecond; ; delay = min(2*delay, 10*time.Second) {
		select {
		case <-ctx.Done():
			return false
		case h.slots <- struct{}{}:
		}
		err := h.handle(ctx, r)
		<-h.slots
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(delay):
		}
	}
}

// watermark tracks a partition's records from fetch to done and knows the
// offset to commit: the first record not yet done (everything before it is).
type watermark struct {
	offsets []int64 // fetched and not yet committable, ascending
	handled []bool  // parallel to offsets
}

func (w *watermark) add(offset int64) {
	w.offsets = append(w.offsets, offset)
	w.handled = append(w.handled, false)
}

// done marks offset handled and returns the offset to commit next when the
// committable prefix grew.
func (w *watermark) done(offset int64) (next int64, advanced bool) {
	i := sort.Search(len(w.offsets), func(i int) bool { return w.offsets[i] >= offset })
	if i == len(w.offsets) || w.offsets[i] != offset {
		return 0, false
	}
	w.handled[i] = true
	n := 0
	for n < len(w.handled) && w.handled[n] {
		n++
	}
	if n == 0 {
		return 0, false
	}
	next = w.offsets[n-1] + 1
	w.offsets, w.handled = w.offsets[n:], w.handled[n:]
	return next, true
}
