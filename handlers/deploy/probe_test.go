package deploy_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/handlers/deploy"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
)

// deployedAt is a tenant whose deploy step the application plane reported
// done at endpoint.
func deployedAt(t *testing.T, endpoint string) *domain.Tenant {
	t.Helper()
	tn := testenv.NewTenantOnTier(t, testenv.UniqueKey("p"), "pooled")
	now := time.Now().UTC()
	for _, s := range domain.Steps {
		if s == domain.StepDeploy {
			break
		}
		if _, err := tn.RecordStep(domain.StepOutcome{Step: s, Outcome: domain.OutcomeSkipped, StartedAt: now, At: now}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tn.RequestDeployment(domain.DeploymentRequested{Tier: "pooled", RequestedAt: now, Deadline: now.Add(time.Minute), SealedSecret: "c2VhbGVk"}); err != nil {
		t.Fatal(err)
	}
	if _, err := tn.ReportDeployment(tn.Attempt(), domain.StepOutcome{Outcome: domain.OutcomeCompleted, Tries: 1, StartedAt: now, At: now,
		Outputs: map[string]string{"endpoint": endpoint}}); err != nil {
		t.Fatal(err)
	}
	return tn
}

// tenantctl drift sees the application plane through the endpoint its
// agent reported: answering is live, a 404 (the ingress no longer routes
// the host) or a refused port is gone, and an endpoint it cannot reach or
// a deployment reported without one is "cannot tell", not "missing".
func TestProbeAsksTheReportedEndpoint(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/removed" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable) // up, if unwell: still deployed
	}))
	defer app.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String() + "/"
	ln.Close()
	d := &deploy.Deployment{}
	ctx := context.Background()

	for endpoint, wantLive := range map[string]bool{app.URL + "/": true, app.URL + "/removed": false, refused: false} {
		tn := deployedAt(t, endpoint)
		live, err := d.Probe(ctx, tn)
		if err != nil || (len(live) == 1) != wantLive {
			t.Errorf("%s: live %v, %v; want live %v", endpoint, live, err, wantLive)
		}
		if wantLive && (live[0].Kind != "deployment" || live[0].ID != tn.Key()) {
			t.Errorf("%s: probed %+v, want the recorded deployment %s", endpoint, live[0], tn.Key())
		}
	}
	for _, endpoint := range []string{"", "file:///srv/apps/x"} {
		if _, err := d.Probe(ctx, deployedAt(t, endpoint)); err == nil || !strings.Contains(err.Error(), "only the application plane can tell") {
			t.Errorf("endpoint %q: %v, want an error saying it cannot be probed from here", endpoint, err)
		}
	}
	if live, err := d.Probe(ctx, testenv.NewTenant(t, testenv.UniqueKey("n"))); err != nil || len(live) != 0 {
		t.Errorf("a tenant never deployed: %v, %v; want nothing", live, err)
	}
}
