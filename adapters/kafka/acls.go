package kafka

import (
	"crypto/rand"
	"fmt"

	"github.com/IBM/sarama"
)

// Principals names who is who on an authenticated cluster.
type Principals struct {
	Tenantd   string // handlers and projections read; dead letters; creates tenantd's topics
	Relay     string // the only writer of the event topics
	Agent     string // the application plane's agent: reads, and sets its dead letters aside
	Analytics string // the reference analytics consumer: the same
}

// Access is the resources the ACLs name, each a prefix: the event topics
// (tenant.events), the dead-letter topics (dlq.), and per reader the
// prefixes of its consumer groups.
type Access struct {
	EventTopics     string
	DeadLetters     string
	TenantdGroups   []string
	AgentGroups     []string
	AnalyticsGroups []string
}

// ACLs is tenantflow's access model for p, allow rules on prefixed
// patterns; anything not named here is refused (the brokers run with
// allow.everyone.if.no.acl.found=false):
//
//	event topics   Relay: Write, Describe
//	               Tenantd: Read, Describe, DescribeConfigs, Create
//	               Agent, Analytics: Read, Describe
//	dead letters   Tenantd: Read, Write, Describe, Create; Agent, Analytics: Write, Describe
//	groups         each reader: Read, Describe on its own prefixes
func ACLs(p Principals, a Access) []*sarama.ResourceAcls {
	allow := func(principal string, ops ...sarama.AclOperation) []*sarama.Acl {
		out := make([]*sarama.Acl, len(ops))
		for i, op := range ops {
			out[i] = &sarama.Acl{Principal: "User:" + principal, Host: "*", Operation: op, PermissionType: sarama.AclPermissionAllow}
		}
		return out
	}
	prefixed := func(t sarama.AclResourceType, name string, acls ...[]*sarama.Acl) *sarama.ResourceAcls {
		r := &sarama.ResourceAcls{Resource: sarama.Resource{ResourceType: t, ResourceName: name, ResourcePatternType: sarama.AclPatternPrefixed}}
		for _, a := range acls {
			r.Acls = append(r.Acls, a...)
		}
		return r
	}
	const (
		read, write, describe = sarama.AclOperationRead, sarama.AclOperationWrite, sarama.AclOperationDescribe
		create, configs       = sarama.AclOperationCreate, sarama.AclOperationDescribeConfigs
	)
	out := []*sarama.ResourceAcls{
		prefixed(sarama.AclResourceTopic, a.EventTopics, allow(p.Relay, write, describe), allow(p.Tenantd, read, describe, configs, create),
			allow(p.Agent, read, describe), allow(p.Analytics, read, describe)),
		prefixed(sarama.AclResourceTopic, a.DeadLetters, allow(p.Tenantd, read, write, describe, create),
			allow(p.Agent, write, describe), allow(p.Analytics, write, describe)),
	}
	for _, g := range []struct {
		who      string
		prefixes []string
	}{{p.Tenantd, a.TenantdGroups}, {p.Agent, a.AgentGroups}, {p.Analytics, a.AnalyticsGroups}} {
		for _, prefix := range g.prefixes {
			out = append(out, prefixed(sarama.AclResourceGroup, prefix, allow(g.who, read, describe)))
		}
	}
	return out
}

// Provision signs in with admin (a super user), sets each user's
// SCRAM-SHA-512 password and creates acls. Both are idempotent: running it
// again changes nothing.
func Provision(brokers []string, admin Settings, passwords map[string]string, acls []*sarama.ResourceAcls) error {
	ca, err := sarama.NewClusterAdmin(brokers, SaramaConfigWith("tenantflow-provision", admin))
	if err != nil {
		return fmt.Errorf("connect as the cluster's administrator: %w", err)
	}
	defer ca.Close()
	var upserts []sarama.AlterUserScramCredentialsUpsert
	for user, password := range passwords {
		salt := make([]byte, 32) // sarama sends a nil salt as null, which the broker refuses
		if _, err := rand.Read(salt); err != nil {
			return err
		}
		upserts = append(upserts, sarama.AlterUserScramCredentialsUpsert{Name: user, Mechanism: sarama.SCRAM_MECHANISM_SHA_512,
			Iterations: 8192, Salt: salt, Password: []byte(password)})
	}
	results, err := ca.UpsertUserScramCredentials(upserts)
	if err != nil {
		return fmt.Errorf("set SCRAM credentials: %w", err)
	}
	for _, r := range results {
		if r.ErrorCode != sarama.ErrNoError {
			return fmt.Errorf("set the SCRAM credential of %s: %v %s", r.User, r.ErrorCode, stringOr(r.ErrorMessage))
		}
	}
	if err := ca.CreateACLs(acls); err != nil {
		return fmt.Errorf("create ACLs: %w", err)
	}
	return nil
}

func stringOr(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
