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
		if !slices.ContainsFunc(s.Ports, func(p string) bool { return strings.HasPrefix(p, "127.0.0.1:"+port+":") }) {
			t.Errorf("service %s does not publish host port %s on the loopback: %v", svc, port, s.Ports)
		}
		for _, p := range s.Ports {
			if !strings.HasPrefix(p, "127.0.0.1:") {
				t.Errorf("service %s publishes %s on every interface", svc, p)
			}
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
	// No secret has a default: each comes from .env (${VAR:?message}), and
	// .env is never committed. The values, with .env.example's names filled
	// in, must be a valid configuration.
	raw, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.Contains(line, ":-") && (strings.Contains(line, "PASSWORD") || strings.Contains(line, "SECRET")) {
			t.Errorf("a secret with a default in docker-compose.yml: %s", strings.TrimSpace(line))
		}
	}
	example, err := os.ReadFile("../../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	filled := map[string]string{}
	for _, line := range strings.Split(string(example), "\n") {
		if name, _, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			filled[name] = strings.Repeat("x", 32)
		}
	}
	if ignore, err := os.ReadFile("../../.gitignore"); err != nil || !slices.Contains(strings.Split(string(ignore), "\n"), ".env") {
		t.Errorf(".env must be git-ignored: it holds the compose file's secrets")
	}
	resolved := map[string]string{}
	for k, v := range env {
		resolved[k] = substitute(v, filled)
	}
	if _, err := FromEnv(resolved); err != nil {
		t.Errorf("tenantd's compose environment is not a valid configuration: %v", err)
	}
}

// substitute replaces ${NAME:-default} and ${NAME:?message} as compose
// does, NAME's value coming from env.
func substitute(v string, env map[string]string) string {
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
		val := ""
		if name, def, ok := strings.Cut(expr, ":-"); ok {
			val = def
			if e, set := env[name]; set {
				val = e
			}
		} else if name, _, ok := strings.Cut(expr, ":?"); ok {
			val = env[name]
		}
		v = v[:i] + val + v[i+j+1:]
	}
}
