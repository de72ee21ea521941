package kafka

import (
	"fmt"
	"log/slog"
	"net"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Embedded is an in-process broker speaking the Kafka protocol (kfake). It
// exists so tenantd starts on a machine without a JDK; it keeps everything in
// memory, so every event on it is lost when the process ends. Tests in CI use
// the real broker of the dev stack, never this one.
type Embedded struct {
	cluster *kfake.Cluster
}

// StartEmbedded starts the broker on a free loopback port and says loudly
// that it is not durable.
func StartEmbedded(logger *slog.Logger) (*Embedded, error) {
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.ListenFn(loopbackListener),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(12),
	)
	if err != nil {
		return nil, fmt.Errorf("start embedded kafka broker: %w", err)
	}
	e := &Embedded{cluster: c}
	logger.Warn("EMBEDDED KAFKA BROKER: no TENANTFLOW_KAFKA_BROKERS configured, running an in-process broker; "+
		"it is NOT durable and loses every message when tenantd stops. Set TENANTFLOW_KAFKA_BROKERS for real use.",
		"brokers", e.Brokers())
	return e, nil
}

// Brokers returns the addresses clients connect to.
func (e *Embedded) Brokers() []string { return e.cluster.ListenAddrs() }

// Close stops the broker and drops everything it held.
func (e *Embedded) Close() { e.cluster.Close() }

// loopbackListener binds the embedded broker to loopback only: it has no
// authentication and must never be reachable from another machine.
func loopbackListener(network, _ string) (net.Listener, error) {
	return net.Listen(network, "127.0.0.1:0")
}
