package main

import (
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
