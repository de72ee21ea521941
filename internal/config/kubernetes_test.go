package config

import (
	"bytes"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// No cluster runs here: the manifests are checked for what can drift from
// the code — every setting is one tenantd reads, every role one it knows,
// every Deployment probes the health endpoints.
func TestKubernetesManifests(t *testing.T) {
	raw, err := os.ReadFile("../../deploy/kubernetes/tenantflow.yaml")
	if err != nil {
		t.Fatal(err)
	}
	known := VariableNames()
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	kinds := map[string]int{}
	var roles []string
	settings := map[string]string{}
	for {
		var doc struct {
			Kind       string
			Data       map[string]string
			StringData map[string]string `yaml:"stringData"`
			Spec       struct {
				Template struct {
					Spec struct {
						Containers []struct {
							Args           []string
							Env            []struct{ Name string }
							ReadinessProbe struct {
								HTTPGet struct{ Path string } `yaml:"httpGet"`
							} `yaml:"readinessProbe"`
							LivenessProbe struct {
								HTTPGet struct{ Path string } `yaml:"httpGet"`
							} `yaml:"livenessProbe"`
						}
					}
				}
			}
		}
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("manifest does not parse: %v", err)
		}
		kinds[doc.Kind]++
		for k, v := range doc.Data {
			settings[k] = v
		}
		for k := range doc.StringData {
			if doc.Kind == "Secret" && k != "TENANTFLOW_DATABASE_MIGRATE_URL" {
				settings[k] = "filled-in-" + strings.Repeat("x", 32)
			}
		}
		if doc.Kind == "Job" { // the migration: tenantctl, no roles, no probes
			continue
		}
		for k := range doc.Data {
			if !slices.Contains(known, k) {
				t.Errorf("ConfigMap sets %s, which tenantd does not read", k)
			}
		}
		for k := range doc.StringData {
			if !slices.Contains(known, k) {
				t.Errorf("Secret sets %s, which tenantd does not read", k)
			}
		}
		for _, c := range doc.Spec.Template.Spec.Containers {
			for _, e := range c.Env {
				if !slices.Contains(known, e.Name) {
					t.Errorf("container sets %s, which tenantd does not read", e.Name)
				}
			}
			if len(c.Args) != 2 || c.Args[0] != "--roles" {
				t.Errorf("container args %v, want --roles <roles>", c.Args)
				continue
			}
			for _, r := range strings.Split(c.Args[1], ",") {
				if !slices.Contains(AllRoles, r) {
					t.Errorf("unknown role %q", r)
				}
				roles = append(roles, r)
			}
			if c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.LivenessProbe.HTTPGet.Path != "/healthz" {
				t.Errorf("probes %q %q", c.ReadinessProbe.HTTPGet.Path, c.LivenessProbe.HTTPGet.Path)
			}
		}
	}
	for _, r := range AllRoles {
		if !slices.Contains(roles, r) {
			t.Errorf("no Deployment runs role %s", r)
		}
	}
	if kinds["Deployment"] != 4 || kinds["Secret"] != 2 || kinds["ConfigMap"] != 1 || kinds["Service"] != 1 || kinds["Job"] != 1 {
		t.Errorf("kinds %v", kinds)
	}
	// What the Deployments get, with the Secret filled in, is a production
	// configuration tenantd starts with: no shortcut, no owner's URL.
	settings["TENANTFLOW_PII_KEY"] = strings.Repeat("ab", 32)
	settings["TENANTFLOW_AGENT_KEY"] = strings.Repeat("cd", 32)
	settings["TENANTFLOW_STRIPE_API_KEY"] = "sk_live_x"
	settings["TENANTFLOW_STRIPE_WEBHOOK_SECRET"] = "whsec_x"
	settings["TENANTFLOW_DATABASE_URL"] = "postgres://tenantflow_app:x@db:5432/tenantflow"
	cfg, err := FromEnv(settings)
	if err == nil {
		err = cfg.ValidateServing()
	}
	if err != nil {
		t.Errorf("the manifest's configuration is refused in production: %v", err)
	}
}
