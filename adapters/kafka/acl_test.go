package kafka_test

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/tenantflow/tenantflow/adapters/kafka"
	"github.com/tenantflow/tenantflow/internal/testkit/kafkatest"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
)

// The dev stack's brokers run TLS, SCRAM and ACLs (kafka.ACLs): only the
// relay's principal writes the event topic; tenantd's, the agent's and the
// analytics consumer's read it, and write dead letters only; a client
// without valid credentials gets nothing at all.
func TestOnlyTheRelayWritesTheEventTopic(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	s := kafka.Current()
	if s.Mechanism == "" || !s.TLS {
		t.Fatalf("the dev stack's Kafka settings have no SASL or no TLS: %+v", s.As("", ""))
	}
	topic := "tenant.events.test-acl-" + uuid.NewString()[:8]
	if err := kafka.CreateTopic(brokers, topic, 1); err != nil {
		t.Fatal(err)
	}
	if err := kafka.CreateTopic(brokers, kafka.DLQTopic(topic), 1); err != nil {
		t.Fatal(err)
	}
	// The topic carries the configured durability (the dev stack's 1 and 1;
	// production's defaults are 3 and 2).
	admin, err := sarama.NewClusterAdmin(brokers, kafka.SaramaConfigWith("acl-test", s))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	md, err := admin.DescribeTopics([]string{topic})
	if err != nil || len(md) != 1 || len(md[0].Partitions) != 1 || len(md[0].Partitions[0].Replicas) != int(s.ReplicationFactor) {
		t.Errorf("topic %s: want %d replicas, got %+v (%v)", topic, s.ReplicationFactor, md, err)
	}
	described, err := admin.DescribeConfigs([]*sarama.ConfigResource{{Type: sarama.TopicResource, Name: topic, ConfigNames: []string{"min.insync.replicas"}}}, sarama.DescribeConfigsOptions{})
	if err != nil || len(described) != 1 || described[0].ErrorCode != sarama.ErrNoError || len(described[0].Configs) != 1 ||
		described[0].Configs[0].Value != strconv.Itoa(s.MinInsyncReplicas) {
		t.Errorf("topic %s: want min.insync.replicas %d, got %+v (%v)", topic, s.MinInsyncReplicas, described, err)
	}

	agent, _ := kafkatest.Principal(t, "agent")
	analytics, _ := kafkatest.Principal(t, "analytics")

	publish := func(who kafka.Settings, topic string) error {
		t.Helper()
		pub, err := kafka.NewPublisherWith(brokers, who)
		if err != nil {
			return err
		}
		defer pub.Close()
		return pub.Publish(topic, message.NewMessage(uuid.NewString(), []byte(`{}`)))
	}
	refused := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, sarama.ErrTopicAuthorizationFailed) {
			t.Errorf("%s: want TopicAuthorizationFailed, got %v", what, err)
		}
	}
	if err := publish(s.Relay(), topic); err != nil {
		t.Fatalf("the relay writes the event topic: %v", err)
	}
	refused("tenantd's principal writes the event topic", publish(s, topic))
	refused("the agent writes the event topic", publish(agent, topic))
	refused("the analytics consumer writes the event topic", publish(analytics, topic))
	for who, settings := range map[string]kafka.Settings{"tenantd": s, "agent": agent, "analytics": analytics} {
		if err := publish(settings, kafka.DLQTopic(topic)); err != nil {
			t.Errorf("%s sets a dead letter aside: %v", who, err)
		}
	}
	refused("the relay writes a dead letter", publish(s.Relay(), kafka.DLQTopic(topic)))

	read := func(who kafka.Settings) error {
		t.Helper()
		cfg := kafka.SaramaConfigWith("acl-test", who)
		cfg.Consumer.Return.Errors = true
		c, err := sarama.NewConsumer(brokers, cfg)
		if err != nil {
			return err
		}
		defer c.Close()
		pc, err := c.ConsumePartition(topic, 0, sarama.OffsetOldest)
		if err != nil {
			return err
		}
		defer pc.Close()
		select {
		case <-pc.Messages():
			return nil
		case err := <-pc.Errors():
			return err
		case <-time.After(30 * time.Second):
			return errors.New("neither a record nor an error in 30 s")
		}
	}
	for who, settings := range map[string]kafka.Settings{"tenantd": s, "agent": agent, "analytics": analytics} {
		if err := read(settings); err != nil {
			t.Errorf("%s reads the event topic: %v", who, err)
		}
	}
	if err := read(s.Relay()); err == nil {
		t.Error("the relay's principal read the event topic; it may only write it")
	}

	// No credentials, or wrong ones: not even metadata.
	for what, settings := range map[string]kafka.Settings{
		"a wrong password": s.As(s.Username, "not-the-password"),
		"no SASL":          func() kafka.Settings { n := s; n.Mechanism = ""; return n }(),
	} {
		cfg := kafka.SaramaConfigWith("acl-test", settings)
		cfg.Metadata.Retry.Max = 0
		if c, err := sarama.NewClient(brokers, cfg); err == nil {
			c.Close()
			t.Errorf("%s: connected", what)
		}
	}
}
