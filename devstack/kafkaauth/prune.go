package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/IBM/sarama"
	"github.com/tenantflow/tenantflow/adapters/kafka"
)

// throwaway names the topics the tests and benchmarks create, one per run
// (tenant.events.test-…, tenant.events.bench-… and their dead-letter
// topics). Nothing deletes them when a run ends (tenantd's principal may
// create topics, not delete them), so a dev stack used for a week carried
// about 2,100 of them, 7,000 partitions, and the broker's CPU per tenant in
// make profile grew with them.
func throwaway(topic string) bool {
	for _, prefix := range []string{"tenant.events.test", "tenant.events.bench"} {
		if strings.HasPrefix(topic, prefix) || strings.HasPrefix(topic, kafka.DLQTopic(prefix)) {
			return true
		}
	}
	return false
}

// prune deletes every throwaway topic as the administrator.
func prune(brokers []string, s kafka.Settings) error {
	admin, err := sarama.NewClusterAdmin(brokers, kafka.SaramaConfigWith("tenantflow-devstack-prune", s))
	if err != nil {
		return fmt.Errorf("connect kafka admin: %w", err)
	}
	defer admin.Close()
	topics, err := admin.ListTopics()
	if err != nil {
		return fmt.Errorf("list topics: %w", err)
	}
	var doomed []string
	for t := range topics {
		if throwaway(t) {
			doomed = append(doomed, t)
		}
	}
	slices.Sort(doomed)
	for _, t := range doomed {
		var te *sarama.TopicError
		if err := admin.DeleteTopic(t); err != nil && !(errors.As(err, &te) && te.Err == sarama.ErrUnknownTopicOrPartition) {
			return fmt.Errorf("delete topic %s: %w", t, err)
		}
	}
	fmt.Printf("kafkaauth: deleted %d topics left by earlier test and benchmark runs\n", len(doomed))
	return nil
}
