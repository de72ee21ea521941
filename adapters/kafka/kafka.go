// Package kafka connects tenantflow to the event bus on IBM/sarama: the
// record publisher (a watermill Publisher), the one consumer builder every
// reader uses (Consumer, with its middleware), a metadata ping for
// readiness, and the embedded broker tenantd runs when no broker is
// configured.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/IBM/sarama"
)

// protocolVersion is the Kafka protocol sarama speaks. Kafka 4 dropped every
// request version older than 2.1, which is what watermill's defaults use, so
// all clients built here pin a version both Kafka 4.x and kfake accept.
var protocolVersion = sarama.V3_6_0_0

// SaramaConfig is the base sarama configuration for tenantflow's clients,
// signing in with the process's settings (Current).
func SaramaConfig(clientID string) *sarama.Config { return SaramaConfigWith(clientID, Current()) }

// SaramaConfigWith is SaramaConfig with explicit settings, which programs
// check with Settings.Validate when they start.
func SaramaConfigWith(clientID string, s Settings) *sarama.Config {
	c := sarama.NewConfig()
	c.Version = protocolVersion
	c.ClientID = clientID
	s.apply(c)
	return c
}

// Ping sends a metadata request to the brokers and succeeds when one answers.
// It does not retry: the caller's deadline (or 5 s) bounds the whole attempt.
func Ping(ctx context.Context, brokers []string) error {
	timeout := 5 * time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	if timeout <= 0 {
		return context.DeadlineExceeded
	}
	c := SaramaConfig("tenantflow-ping")
	c.Net.DialTimeout = timeout
	c.Net.ReadTimeout = timeout
	c.Net.WriteTimeout = timeout
	c.Metadata.Retry.Max = 0

	done := make(chan error, 1)
	go func() {
		client, err := sarama.NewClient(brokers, c)
		if err != nil {
			done <- err
			return
		}
		defer client.Close()
		if len(client.Brokers()) == 0 {
			done <- fmt.Errorf("metadata lists no brokers")
			return
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("kafka metadata request to %v: %w", brokers, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("kafka metadata request to %v: %w", brokers, ctx.Err())
	}
}

// CreateTopic creates topic with the given partition count unless it exists,
// then waits (up to 30 s) until every partition has a leader, so producers
// and consumers started right after do not see "not leader" errors. Its
// replication factor and min.insync.replicas are the process's settings.
// A principal the ACLs do not let create topics succeeds when the topic
// exists already (made by whoever administers the cluster).
func CreateTopic(brokers []string, topic string, partitions int32) error {
	s := Current()
	admin, err := sarama.NewClusterAdmin(brokers, SaramaConfigWith("tenantflow-admin", s))
	if err != nil {
		return fmt.Errorf("connect kafka admin: %w", err)
	}
	defer admin.Close()
	minISR := strconv.Itoa(s.MinInsyncReplicas)
	err = admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: s.ReplicationFactor,
		ConfigEntries: map[string]*string{"min.insync.replicas": &minISR}}, false)
	var te *sarama.TopicError
	switch {
	case err == nil, errors.As(err, &te) && te.Err == sarama.ErrTopicAlreadyExists:
	case errors.As(err, &te) && te.Err == sarama.ErrTopicAuthorizationFailed:
		if md, derr := admin.DescribeTopics([]string{topic}); derr != nil || len(md) != 1 || md[0].Err != sarama.ErrNoError {
			return fmt.Errorf("create topic %s: this principal may not create topics and the topic is not there (or not visible to it): "+
				"create it beforehand, or grant Create on it: %w", topic, err)
		}
	default:
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		md, err := admin.DescribeTopics([]string{topic})
		if err == nil && len(md) == 1 && md[0].Err == sarama.ErrNoError && allLed(md[0].Partitions) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("topic %s has partitions without a leader after 30s (last error: %v)", topic, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func allLed(ps []*sarama.PartitionMetadata) bool {
	for _, p := range ps {
		if p.Err != sarama.ErrNoError || p.Leader < 0 {
			return false
		}
	}
	return len(ps) > 0
}
