package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmkafka "github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/tenantflow/tenantflow/eventstore/wire"
)

// NewRouter is a watermill Router for a consumer of topic that recovers a
// handler's panic (middleware.Recoverer) and publishes the record whose
// handling panicked to the topic's dead-letter topic (DLQTopic) with why
// (middleware.PoisonQueue: reason_poisoned, handler_poisoned): a bug stops
// one record, not the consumer. Any other failure is nacked and the record
// comes again, so nothing is lost to an outage (its database down, say).
// Without pub there is no poison queue: for a consumer that keeps its own
// dead letters (the step handlers).
func NewRouter(pub message.Publisher, topic string, logger *slog.Logger) (*message.Router, error) {
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 30 * time.Second}, watermill.NewSlogLogger(logger))
	if err != nil {
		return nil, err
	}
	if pub == nil {
		router.AddMiddleware(middleware.Recoverer)
		return router, nil
	}
	poison, err := middleware.PoisonQueueWithFilter(pub, DLQTopic(topic), func(err error) bool {
		var p middleware.RecoveredPanicError // Recoverer's error is the value, not a pointer
		return errors.As(err, &p)
	})
	if err != nil {
		return nil, err
	}
	router.AddMiddleware(poison, middleware.Recoverer) // the first added runs outermost
	return router, nil
}

// Headers is a message's metadata as a record's headers (ce_* by name).
func Headers(msg *message.Message) map[string]string { return msg.Metadata }

// NewSubscriber is watermill-kafka's subscriber in consumer group group,
// signed in as this process's principal, reading records as HeaderMarshaler
// writes them: one partition's records in order, one at a time. It suits a
// consumer that keeps a table of its own (the analytics consumer); one that
// must not let a slow tenant hold up its partition uses KeyedSubscriber.
func NewSubscriber(brokers []string, group string, logger *slog.Logger) (message.Subscriber, error) {
	sc := ConsumerConfig("tenantflow-"+group, "")
	sc.Consumer.Return.Errors = true
	return wmkafka.NewSubscriber(wmkafka.SubscriberConfig{Brokers: brokers, ConsumerGroup: group, Unmarshaler: HeaderMarshaler{},
		OverwriteSaramaConfig: sc, NackResendSleep: time.Second}, watermill.NewSlogLogger(logger))
}

// KeyedSubscriber is a watermill Subscriber over Consumer.Keyed: one key's
// (one tenant's) records in order and different keys' side by side, each
// record a message whose Ack the record waits for; a Nack hands the record
// over again after a pause, and offsets move only past acknowledged
// records.
type KeyedSubscriber struct {
	Consumer Consumer
	Options  KeyedOptions
}

// Subscribe follows topic until ctx ends (then the channel closes).
func (s KeyedSubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	out := make(chan *message.Message)
	c := s.Consumer
	c.Topic = topic
	go func() {
		defer close(out)
		err := c.Keyed(ctx, s.Options, func(ctx context.Context, r Record) error {
			msg := messageOf(r)
			msg.SetContext(context.WithValue(ctx, recordKey{}, r))
			select {
			case out <- msg:
			case <-ctx.Done():
				return ctx.Err()
			}
			select {
			case <-msg.Acked():
				return nil
			case <-msg.Nacked():
				return fmt.Errorf("record %s/%d not handled", topic, r.Offset)
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		if err != nil && ctx.Err() == nil {
			c.logger().Error("keyed subscription ended", "topic", topic, "error", err)
		}
	}()
	return out, nil
}

// Close ends nothing of its own: a subscription ends with its context.
func (KeyedSubscriber) Close() error { return nil }

type recordKey struct{}

// RecordOf is the record msg was made of: as KeyedSubscriber read it
// (partition and offset too), or from its metadata and payload.
func RecordOf(msg *message.Message) Record {
	if r, ok := msg.Context().Value(recordKey{}).(Record); ok {
		return r
	}
	headers := make(map[string]string, len(msg.Metadata))
	for k, v := range msg.Metadata {
		if k != KeyMetadata {
			headers[k] = v
		}
	}
	return Record{Headers: headers, Key: msg.Metadata.Get(KeyMetadata), Value: msg.Payload}
}

// messageOf is a record as a message: its headers as metadata, its key as
// KeyMetadata, its CloudEvents id as the message's (HeaderMarshaler.Unmarshal
// for a record read by Consumer).
func messageOf(r Record) *message.Message {
	id := r.Headers[wire.HeaderID]
	if id == "" {
		id = watermill.NewUUID()
	}
	msg := message.NewMessage(id, r.Value)
	for k, v := range r.Headers {
		msg.Metadata.Set(k, v)
	}
	if r.Key != "" {
		msg.Metadata.Set(KeyMetadata, r.Key)
	}
	return msg
}
