package childenv

import (
	"slices"
	"strings"
	"testing"
)

func TestOnlyTheAllowListPasses(t *testing.T) {
	t.Setenv("PATH", "/usr/bin")
	t.Setenv("TENANTFLOW_AGENT_KEY", "secret-agent-key")
	t.Setenv("TENANTFLOW_DATABASE_MIGRATE_URL", "postgres://owner:pw@db/x")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIA")
	t.Setenv("UNRELATED", "x")
	env := Build([]string{"AWS_ACCESS_KEY_ID", "TENANTFLOW_AGENT_KEY"}, "TENANT_ID=t1")
	joined := strings.Join(env, "\n")
	for _, want := range []string{"PATH=/usr/bin", "AWS_ACCESS_KEY_ID=AKIA", "TENANT_ID=t1"} {
		if !slices.Contains(env, want) {
			t.Errorf("%s missing from %v", want, env)
		}
	}
	for _, leak := range []string{"secret-agent-key", "owner:pw", "UNRELATED"} {
		if strings.Contains(joined, leak) {
			t.Errorf("%s passed to the child: %v", leak, env)
		}
	}
}
