package main

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/tenantflow/tenantflow/internal/config"
	"strings"
	"testing"
)

func TestRedactHidesSecrets(t *testing.T) {
	tests := []struct {
		name, variable, value, want string
	}{
		{"password variable", "TENANTFLOW_KEYCLOAK_ADMIN_PASSWORD", "hunter2", "***"},
		{"password inside a URL", "TENANTFLOW_DATABASE_URL", "postgres://u:hunter2@h:5432/db", "postgres://u:***@h:5432/db"},
		{"URL without password", "TENANTFLOW_DATABASE_URL", "postgres://u@h/db", "postgres://u@h/db"},
		{"plain value", "TENANTFLOW_HTTP_ADDR", ":14000", ":14000"},
		{"unset", "TENANTFLOW_KEYCLOAK_ADMIN_PASSWORD", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := redact(tt.variable, tt.value)
			if got != tt.want {
				t.Errorf("redact = %q, want %q", got, tt.want)
			}
			if strings.Contains(got, "hunter2") {
				t.Errorf("secret leaked: %q", got)
			}
		})
	}
}

// tenantctl config hides every secret setting by its tag, not by its name:
// with each secret set, none of their values is printed (the keys were
// printed whole before: seal, personal data, deploy signing, agent, Novu).
func TestConfigPrintsNoSecret(t *testing.T) {
	secrets := config.Secrets()
	for _, want := range []string{"TENANTFLOW_PII_KEY", "TENANTFLOW_SEAL_KEY", "TENANTFLOW_AGENT_KEY", "TENANTFLOW_DEPLOY_SIGNING_KEY",
		"TENANTFLOW_NOVU_API_KEY", "TENANTFLOW_S3_SECRET_KEY", "TENANTFLOW_JWT_SECRET", "TENANTFLOW_KAFKA_RELAY_PASSWORD"} {
		if !slices.Contains(secrets, want) {
			t.Errorf("%s is not tagged secret", want)
		}
	}
	for _, name := range config.VariableNames() {
		if (strings.HasSuffix(name, "_KEY") && name != "TENANTFLOW_S3_ACCESS_KEY") || strings.Contains(name, "PASSWORD") || strings.Contains(name, "SECRET") {
			if !slices.Contains(secrets, name) {
				t.Errorf("%s looks like a secret and is not tagged secret:\"true\"", name)
			}
		}
	}
	values := map[string]string{}
	for i, name := range secrets {
		values[name] = fmt.Sprintf("%064x", i+1)
		t.Setenv(name, values[name])
	}
	var out bytes.Buffer
	_ = (configCmd{}).run(&out)
	for name, v := range values {
		if strings.Contains(out.String(), v) {
			t.Errorf("tenantctl config prints %s", name)
		}
		if !strings.Contains(out.String(), name+"=***") {
			t.Errorf("%s is not shown hidden:\n%s", name, out.String())
		}
	}
}
