package metrics

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

var metricRef = regexp.MustCompile(`\btenantflow_[a-z_]+`)

// exported reports whether name is a series tenantflow exports.
func exported(name string) bool {
	names := Names()
	for _, suffix := range []string{"", "_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && slices.Contains(names, base) {
			return true
		}
	}
	return false
}

// The alert rules and the dashboard parse, and every metric they use is one
// the service exports.
func TestAlertsAndDashboardUseExportedMetrics(t *testing.T) {
	if len(Names()) < 15 {
		t.Fatalf("only %d metric names: %v", len(Names()), Names())
	}
	raw, err := os.ReadFile("../../observability/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Name  string
			Rules []struct {
				Alert, Expr, For string
				Annotations      map[string]string
			}
		}
	}
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		t.Fatalf("alerts.yml: %v", err)
	}
	var alerts []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			if r.Alert == "" || r.Expr == "" || r.Annotations["summary"] == "" {
				t.Errorf("rule %+v lacks a name, an expression or a summary", r)
			}
			for _, m := range metricRef.FindAllString(r.Expr, -1) {
				if !exported(m) {
					t.Errorf("alert %s uses %s, which tenantflow does not export", r.Alert, m)
				}
			}
		}
	}
	for _, want := range []string{"TenantStuckProvisioning", "DeadLettersWaiting", "RelayBacklogGrowing", "RelayRecordsHeld", "ProjectionLagging"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("alert %s missing", want)
		}
	}

	raw, err = os.ReadFile("../../observability/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	used := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, m := range metricRef.FindAllString(tg.Expr, -1) {
				used++
				if !exported(m) {
					t.Errorf("panel %q uses %s, which tenantflow does not export", p.Title, m)
				}
			}
		}
	}
	if len(dash.Panels) < 10 || used < 15 {
		t.Fatalf("dashboard %q: %d panels, %d metric references", dash.Title, len(dash.Panels), used)
	}
}
