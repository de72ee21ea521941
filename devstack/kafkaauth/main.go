// Command kafkaauth sets up the dev stack's Kafka principals and their ACLs
// (kafka.ACLs, kafka.Provision) as the administrator: devstack.sh runs it
// at every start with the connection settings and the generated passwords
// in the environment. Running it again changes nothing.
//
// "kafkaauth prune" deletes, as the administrator, the topics earlier test
// and benchmark runs left (devstack.sh kafka-prune; make test and make bench
// run it first).
//
// The group prefixes cover the installation's own groups (tenantflow,
// appplane, analytics) and those the tests and benchmarks make (test-,
// bench-).
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/tenantflow/tenantflow/adapters/kafka"
)

func main() {
	get := func(name string) string {
		v := os.Getenv(name)
		if v == "" {
			fmt.Fprintf(os.Stderr, "kafkaauth: %s is not set\n", name)
			os.Exit(2)
		}
		return v
	}
	s := kafka.SettingsFromEnv(os.Getenv)
	p := kafka.Principals{Tenantd: get("TENANTFLOW_KAFKA_USERNAME"), Relay: get("TENANTFLOW_KAFKA_RELAY_USERNAME"),
		Agent: "tenantflow-agent", Analytics: "tenantflow-analytics"}
	passwords := map[string]string{
		p.Tenantd: get("TENANTFLOW_KAFKA_PASSWORD"), p.Relay: get("TENANTFLOW_KAFKA_RELAY_PASSWORD"),
		p.Agent: get("TENANTFLOW_DEVSTACK_KAFKA_AGENT_PASSWORD"), p.Analytics: get("TENANTFLOW_DEVSTACK_KAFKA_ANALYTICS_PASSWORD"),
	}
	acls := kafka.ACLs(p, kafka.Access{EventTopics: "tenant.events", DeadLetters: kafka.DLQTopic(""),
		TenantdGroups: []string{"tenantflow", "test-", "bench-"}, AgentGroups: []string{"appplane", "test-"},
		AnalyticsGroups: []string{"analytics", "test-"}})
	brokers, root := strings.Split(get("TENANTFLOW_KAFKA_BROKERS"), ","), admin(s, get("TENANTFLOW_DEVSTACK_KAFKA_ADMIN_PASSWORD"))
	var err error
	if len(os.Args) > 1 && os.Args[1] == "prune" {
		err = prune(brokers, root)
	} else {
		err = kafka.Provision(brokers, root, passwords, acls)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "kafkaauth: %v\n", err)
		os.Exit(1)
	}
}

// admin is the dev stack's administrator: PLAIN over TLS, declared in the
// broker's own configuration, so it exists before any SCRAM credential.
func admin(s kafka.Settings, password string) kafka.Settings {
	s = s.As("admin", password)
	s.Mechanism = "PLAIN"
	return s
}
