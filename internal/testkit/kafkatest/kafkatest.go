// Package kafkatest reads a topic back in tests, as an independent consumer
// would: every partition from the oldest offset, no consumer group.
package kafkatest

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/tenantflow/tenantflow/adapters/kafka"
	"github.com/tenantflow/tenantflow/eventstore/wire"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
)

// Record is one Kafka record as read back.
type Record struct {
	Partition int32
	Offset    int64
	Key       string
	Headers   map[string]string
	Raw       *sarama.ConsumerMessage
}

// Read reads topic until done — given the records so far and how many
// distinct ce_id headers they hold — says so, or fails t after 60 s. The
// records come back sorted by partition and offset.
func Read(t testing.TB, brokers []string, topic string, done func(rs []Record, unique int) bool) []Record {
	t.Helper()
	rs, err := TryRead(t, brokers, topic, done)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// TryRead is Read, returning what it read and an error after 60 s instead
// of failing t.
func TryRead(t testing.TB, brokers []string, topic string, done func(rs []Record, unique int) bool) ([]Record, error) {
	t.Helper()
	c, err := sarama.NewConsumer(brokers, kafka.SaramaConfig("tenantflow-test-reader"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	parts, err := c.Partitions(topic)
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan Record, 1024)
	for _, p := range parts {
		// A partition of a topic created a moment ago may not be served yet.
		var pc sarama.PartitionConsumer
		deadline := time.Now().Add(30 * time.Second)
		for pc, err = c.ConsumePartition(topic, p, sarama.OffsetOldest); err != nil; pc, err = c.ConsumePartition(topic, p, sarama.OffsetOldest) {
			if time.Now().After(deadline) {
				t.Fatalf("partition %d of %s: %v", p, topic, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		defer pc.Close()
		go func() {
			for m := range pc.Messages() {
				h := map[string]string{}
				for _, hd := range m.Headers {
					h[string(hd.Key)] = string(hd.Value)
				}
				ch <- Record{Partition: m.Partition, Offset: m.Offset, Key: string(m.Key), Headers: h, Raw: m}
			}
		}()
	}
	var got []Record
	seen := map[string]bool{}
	deadline := time.After(60 * time.Second)
	for !done(got, len(seen)) {
		select {
		case r := <-ch:
			got = append(got, r)
			seen[r.Headers[wire.HeaderID]] = true
		case <-deadline:
			Sort(got)
			return got, fmt.Errorf("%s: gave up after 60s with %d records (%d distinct ids)", topic, len(got), len(seen))
		}
	}
	Sort(got)
	return got, nil
}

// UniqueIDs is a done condition: at least n distinct event ids.
func UniqueIDs(n int) func([]Record, int) bool {
	return func(_ []Record, unique int) bool { return unique >= n }
}

// Contains is a done condition: a record with ce_id id has arrived.
func Contains(id string) func([]Record, int) bool {
	return func(rs []Record, _ int) bool {
		for _, r := range rs {
			if r.Headers[wire.HeaderID] == id {
				return true
			}
		}
		return false
	}
}

// Sort orders records by partition, then offset.
func Sort(rs []Record) {
	sort.SliceStable(rs, func(i, j int) bool {
		if rs[i].Partition != rs[j].Partition {
			return rs[i].Partition < rs[j].Partition
		}
		return rs[i].Offset < rs[j].Offset
	})
}

// String is for failure messages.
func (r Record) String() string {
	return fmt.Sprintf("p%d@%d key=%s %v", r.Partition, r.Offset, r.Key, r.Headers)
}

// WaitIdle waits up to timeout until GroupLag reports every group of
// groupPrefix caught up on topic, and fails t otherwise.
func WaitIdle(t testing.TB, brokers []string, topic, groupPrefix string, wantGroups int, timeout time.Duration) {
	t.Helper()
	client, err := sarama.NewClient(brokers, kafka.SaramaConfig("test-idle"))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(timeout)
	for {
		behind, err := GroupLag(client, admin, topic, groupPrefix, wantGroups)
		if err == nil && behind == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("handlers never caught up: %s %v", behind, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// GroupLag says which consumer group (of those named groupPrefix+".…") has
// not committed up to the end of some partition of topic, or that fewer
// than wantGroups joined; "" means every group handled every record
// (a consumer commits an offset only after its handler returned).
func GroupLag(client sarama.Client, admin sarama.ClusterAdmin, topic, groupPrefix string, wantGroups int) (string, error) {
	partitions, err := client.Partitions(topic)
	if err != nil {
		return "", err
	}
	groups, err := admin.ListConsumerGroups()
	if err != nil {
		return "", err
	}
	n := 0
	for g := range groups {
		if !strings.HasPrefix(g, groupPrefix+".") {
			continue
		}
		n++
		offsets, err := admin.ListConsumerGroupOffsets(g, map[string][]int32{topic: partitions})
		if err != nil {
			return "", err
		}
		for _, p := range partitions {
			end, err := client.GetOffset(topic, p, sarama.OffsetNewest)
			if err != nil {
				return "", err
			}
			if b := offsets.GetBlock(topic, p); end > 0 && (b == nil || b.Offset < end) {
				return fmt.Sprintf("group %s partition %d at %v of %d", g, p, b, end), nil
			}
		}
	}
	if n < wantGroups {
		return fmt.Sprintf("%d groups joined", n), nil
	}
	return "", nil
}

// Admin is the dev stack's Kafka administrator (a super user, PLAIN over
// TLS): for tests that change a topic's configuration or play a producer
// from outside tenantflow. Everything else runs as the principal of the
// process (TENANTFLOW_KAFKA_USERNAME) or the relay's, as in production.
func Admin(t testing.TB) kafka.Settings {
	t.Helper()
	password := testenv.Require(t, "TENANTFLOW_DEVSTACK_KAFKA_ADMIN_PASSWORD")["TENANTFLOW_DEVSTACK_KAFKA_ADMIN_PASSWORD"]
	s := kafka.Current().As("admin", password)
	s.Mechanism = "PLAIN"
	return s
}

// Principal is the process's settings signing in as the dev stack's
// principal who ("agent" or "analytics", password in
// TENANTFLOW_DEVSTACK_KAFKA_<WHO>_PASSWORD) and the environment a
// separate program needs to do the same.
func Principal(t testing.TB, who string) (kafka.Settings, map[string]string) {
	t.Helper()
	name := "TENANTFLOW_DEVSTACK_KAFKA_" + strings.ToUpper(who) + "_PASSWORD"
	password := testenv.Require(t, name)[name]
	s := kafka.Current().As("tenantflow-"+who, password)
	env := map[string]string{
		"TENANTFLOW_KAFKA_SASL_MECHANISM": s.Mechanism, "TENANTFLOW_KAFKA_USERNAME": s.Username, "TENANTFLOW_KAFKA_PASSWORD": s.Password,
		"TENANTFLOW_KAFKA_TLS": fmt.Sprint(s.TLS), "TENANTFLOW_KAFKA_TLS_CA_FILE": s.CAFile,
	}
	return s, env
}

// KcatArgs are kcat's options to sign in as the administrator.
func KcatArgs(t testing.TB) []string {
	t.Helper()
	s := Admin(t)
	args := []string{"-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanisms=PLAIN",
		"-X", "sasl.username=" + s.Username, "-X", "sasl.password=" + s.Password}
	if s.CAFile != "" {
		args = append(args, "-X", "ssl.ca.location="+s.CAFile)
	}
	return args
}
