package kafka

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/IBM/sarama"
)

// Record is one Kafka record as a Consumer hands it over.
type Record struct {
	Headers   map[string]string
	Key       string
	Value     []byte
	Partition int32
	Offset    int64
}

// recordOf is a fetched message as a Record.
func recordOf(m *sarama.ConsumerMessage) Record {
	return Record{Headers: headersOf(m), Key: string(m.Key), Value: m.Value, Partition: m.Partition, Offset: m.Offset}
}

// BatchHandler applies a batch of one partition's records, in offset order.
// An error means "apply the same batch again" (after a pause); it must be
// safe to apply a batch twice (records come at least once).
type BatchHandler func(ctx context.Context, records []Record) error

// consumeGroup runs h in consumer group group on topic until ctx ends,
// joining again after a session ends on an error.
func consumeGroup(ctx context.Context, brokers []string, group, topic string, cfg *sarama.Config, logger *slog.Logger, h sarama.ConsumerGroupHandler) error {
	// The brokers may be down when a part starts (or restarts): wait them
	// out, as a session that ends is waited out below, instead of failing.
	var cg sarama.ConsumerGroup
	for delay := time.Second; cg == nil; delay = min(2*delay, 30*time.Second) {
		var err error
		if cg, err = sarama.NewConsumerGroup(brokers, group, cfg); err == nil {
			break
		}
		logger.Warn("cannot join the consumer group yet; retrying", "group", group, "error", err, "retry_in", delay.String())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
	}
	defer cg.Close()
	for ctx.Err() == nil {
		if err := cg.Consume(ctx, []string{topic}, h); err != nil && !errors.Is(err, sarama.ErrClosedConsumerGroup) && ctx.Err() == nil {
			logger.Warn("consumer group session ended; joining again", "error", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	return ctx.Err()
}

type batchHandler struct {
	max    int
	handle BatchHandler
}

func (batchHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (batchHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h batchHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	ctx := sess.Context()
	for {
		var first *sarama.ConsumerMessage
		select {
		case <-ctx.Done():
			return nil
		case m, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			first = m
		}
		batch := []*sarama.ConsumerMessage{first}
	drain:
		for len(batch) < h.max {
			select {
			case m, ok := <-claim.Messages():
				if !ok {
					break drain
				}
				batch = append(batch, m)
			default:
				break drain
			}
		}
		records := make([]Record, len(batch))
		for i, m := range batch {
			records[i] = recordOf(m)
		}
		for delay := 100 * time.Millisecond; ; delay = min(2*delay, 5*time.Second) {
			err := h.handle(ctx, records)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return nil // the partition moves on without this batch's offsets: it comes again
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(delay):
			}
		}
		sess.MarkMessage(batch[len(batch)-1], "")
	}
}
