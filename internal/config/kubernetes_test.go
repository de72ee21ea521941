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
	if kinds["Deployment"] != 4 || kinds["Secret"] != 1 || kinds["ConfigMap"] != 1 || kinds["Service"] != 1 {
		t.Errorf("kinds %v", kinds)
	}
}
