package kafka

import (
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"
	wmkafka "github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"
	"github.com/ThreeDotsLabs/watermill/message"
)

// KeyMetadata names the watermill metadata entry that becomes the Kafka
// record key (it is not written as a header).
const KeyMetadata = "partition_key"

// HeaderMarshaler writes a watermill message as a plain Kafka record: every
// metadata entry becomes a header of the same name, the payload is the value
// and KeyMetadata is the key. Nothing private is added, so a message whose
// metadata holds ce_* attributes is a CloudEvents binary-mode record that any
// consumer can read without knowing watermill.
type HeaderMarshaler struct{}

var _ wmkafka.MarshalerUnmarshaler = HeaderMarshaler{}

// Marshal implements watermill-kafka's Marshaler.
func (HeaderMarshaler) Marshal(topic string, msg *message.Message) (*sarama.ProducerMessage, error) {
	headers := make([]sarama.RecordHeader, 0, len(msg.Metadata))
	for k, v := range msg.Metadata {
		if k == KeyMetadata {
			continue
		}
		headers = append(headers, sarama.RecordHeader{Key: []byte(k), Value: []byte(v)})
	}
	pm := &sarama.ProducerMessage{Topic: topic, Value: sarama.ByteEncoder(msg.Payload), Headers: headers}
	if key := msg.Metadata.Get(KeyMetadata); key != "" {
		pm.Key = sarama.StringEncoder(key)
	}
	return pm, nil
}

// Unmarshal implements watermill-kafka's Unmarshaler: headers become
// metadata, the key comes back as KeyMetadata, and the message UUID is the
// CloudEvents id when there is one.
func (HeaderMarshaler) Unmarshal(m *sarama.ConsumerMessage) (*message.Message, error) {
	return messageOf(Record{Key: string(m.Key), Headers: headersOf(m), Value: m.Value, Partition: m.Partition, Offset: m.Offset}), nil
}

// headersOf is a record's headers as a map (a CloudEvents record's ce_*
// attributes, by name).
func headersOf(m *sarama.ConsumerMessage) map[string]string {
	out := make(map[string]string, len(m.Headers)+1)
	for _, h := range m.Headers {
		out[string(h.Key)] = string(h.Value)
	}
	return out
}

// NewRecordPublisher returns a publisher for the relay: HeaderMarshaler
// records, acknowledged by all in-sync replicas, with one request in flight
// per broker connection so that a retried request can never overtake a later
// one: retries may repeat a record (consumers deduplicate by ce_id) but never
// reorder a partition. sarama's idempotent producer would also drop the
// repeats, but it has open reports of hanging the sync producer after
// retries (IBM/sarama#1878), and a hung relay stops every tenant: it stays off.
//
// Publish sends all its messages at once (sarama batches them per
// partition into produce requests) and returns when every one is
// acknowledged: a relay batch costs a round trip per partition leader, not
// one per record as watermill-kafka's publisher (a SendMessage per message)
// did.
//
// It signs in as the process's principal, which may write dead-letter
// topics; NewRelayPublisher is the one that may write the event topic.
func NewRecordPublisher(brokers []string) (message.Publisher, error) {
	return NewPublisherWith(brokers, Current())
}

// NewRelayPublisher is NewRecordPublisher signing in as the relay's
// principal (Settings.Relay): the brokers' ACLs let only it write the
// event topic. The relay uses it, and so does `tenantctl dlq redrive`,
// which puts the relay's own records back on that topic.
func NewRelayPublisher(brokers []string) (message.Publisher, error) {
	return NewPublisherWith(brokers, Current().Relay())
}

// NewPublisherWith is NewRecordPublisher with explicit settings.
func NewPublisherWith(brokers []string, s Settings) (message.Publisher, error) {
	sc := SaramaConfigWith("tenantflow-publisher", s)
	sc.Producer.Return.Successes = true
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Net.MaxOpenRequests = 1
	sc.Producer.Retry.Max = 10
	// Wait a millisecond for the rest of a Publish before sending: without
	// it the first record left alone in a request and the others waited for
	// its acknowledgement in a second one (MaxOpenRequests 1), so a relay
	// batch cost two round trips (12 ms under load here) instead of one
	// (6 ms), and Kafka half again as much CPU a tenant.
	sc.Producer.Flush.Frequency = time.Millisecond
	sc.Metadata.Retry.Backoff = 250 * time.Millisecond // recover quickly after a broker restart
	p, err := sarama.NewSyncProducer(brokers, sc)
	if err != nil {
		return nil, fmt.Errorf("create kafka producer: %w", err)
	}
	return &recordPublisher{producer: p, maxBytes: sc.Producer.MaxMessageBytes}, nil
}

type recordPublisher struct {
	producer sarama.SyncProducer
	maxBytes int
}

// Publish sends msgs, or none of them when one is over the producer's size
// limit: sarama would refuse that one and still send those after it, and a
// record sent after a refused one of its stream would overtake it. The
// relay then publishes one at a time and holds the refused record's stream.
func (p *recordPublisher) Publish(topic string, msgs ...*message.Message) error {
	pms := make([]*sarama.ProducerMessage, len(msgs))
	for i, m := range msgs {
		pms[i], _ = HeaderMarshaler{}.Marshal(topic, m)       // it never fails
		if len(msgs) > 1 && pms[i].ByteSize(2) > p.maxBytes { // the record batch format's size, as sarama counts it
			return fmt.Errorf("produce to %s: record %s: %w", topic, m.UUID, sarama.ErrMessageSizeTooLarge)
		}
	}
	err := p.producer.SendMessages(pms)
	var each sarama.ProducerErrors // one per record that failed; its message says only how many
	if errors.As(err, &each) {
		seen := map[string]bool{}
		var distinct []error
		for _, pe := range each {
			if !seen[pe.Err.Error()] {
				seen[pe.Err.Error()] = true
				distinct = append(distinct, pe.Err)
			}
		}
		err = fmt.Errorf("%d of %d records failed: %w", len(each), len(pms), errors.Join(distinct...))
	}
	if err != nil {
		return fmt.Errorf("produce to %s: %w", topic, err)
	}
	return nil
}

func (p *recordPublisher) Close() error { return p.producer.Close() }

// Refused reports whether a publish error means the record can never be
// written as it is, so retrying it would stop the relay for ever: sarama
// refuses a record over Producer.MaxMessageBytes before sending it (a
// ConfigurationError), and a broker refuses one over the topic's
// max.message.bytes or malformed. The relay sets such a record aside.
func Refused(err error) bool {
	var conf sarama.ConfigurationError
	if errors.As(err, &conf) {
		return true
	}
	for _, k := range []sarama.KError{sarama.ErrMessageSizeTooLarge, sarama.ErrInvalidMessageSize, sarama.ErrInvalidRecord, sarama.ErrInvalidMessage} {
		if errors.Is(err, k) {
			return true
		}
	}
	return false
}
