package config

import (
	"os"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// No container engine runs on the build machines, so docker-compose.yml is
// checked for structure here: the services exist, publish the dev stack's
// ports, and tenantd reads only variables this package knows.
type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Build       any               `yaml:"build"`
		Ports       []string          `yaml:"ports"`
		Environment map[string]string `yaml:"environment"`
		DependsOn   map[string]any    `yaml:"depends_on"`
	} `yaml:"services"`
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	raw, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatalf("docker-compose.yml does not parse: %v", err)
	}
	return c
}

func TestComposeServicesAndPorts(t *testing.T) {
	c := loadCompose(t)
	// host port of each service = the dev stack's (devstack/devstack.sh), so
	// the same client settings work against either.
	want := map[string]string{"postgres": "15432", "kafka": "19092", "keycloak": "18080", "smtp": "11025", "tenantd": "14000"}
	for svc, port := range want {
		s, ok := c.Services[svc]
		if !ok {
			t.Errorf("service %s missing", svc)
			continue
		}
		if s.Image == "" && s.Build == nil {
			t.Errorf("service %s has neither image nor build", svc)
		}
		if !slices.ContainsFunc(s.Ports, func(p string) bool { return strings.HasPrefix(p, port+":") }) {
			t.Errorf("service %s does not publish host port %s: %v", svc, port, s.Ports)
		}
	}
	for _, dep := range []string{"postgres", "kafka", "keycloak"} {
		if _, ok := c.Services["tenantd"].DependsOn[dep]; !ok {
			t.Errorf("tenantd does not depend on %s", dep)
		}
	}
}

func TestComposeTenantdEnvMatchesConfig(t *testing.T) {
	c := loadCompose(t)
	known := VariableNames()
	env := c.Services["tenantd"].Environment
	for name := range env {
		if !slices.Contains(known, name) {
			t.Errorf("docker-compose.yml sets %s, which tenantd does not read", name)
		}
	}
	for _, required := range []string{"TENANTFLOW_DATABASE_URL", "TENANTFLOW_KAFKA_BROKERS", "TENANTFLOW_KEYCLOAK_URL", "TENANTFLOW_KEYCLOAK_ADMIN_PASSWORD"} {
		if env[required] == "" {
			t.Errorf("tenantd in docker-compose.yml lacks %s", required)
		}
	}
	// The values must themselves be a valid configuration (after compose's
	// ${VAR:-default} substitution with the defaults).
	resolved := map[string]string{}
	for k, v := range env {
		resolved[k] = substituteDefaults(v)
	}
	if _, err := FromEnv(resolved); err != nil {
		t.Errorf("tenantd's compose environment is not a valid configuration: %v", err)
	}
}

// substituteDefaults replaces ${NAME:-default} with default, as compose does
// when NAME is unset.
func substituteDefaults(v string) string {
	for {
		i := strings.Index(v, "${")
		if i < 0 {
			return v
		}
		j := strings.Index(v[i:], "}")
		if j < 0 {
			return v
		}
		expr := v[i+2 : i+j]
		def := ""
		if k := strings.Index(expr, ":-"); k >= 0 {
			def = expr[k+2:]
		}
		v = v[:i] + def + v[i+j+1:]
	}
}
