package deploy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"time"

	"github.com/tenantflow/tenantflow/domain"
)

// Probe finds which of the tenant's deployments (recorded, or left behind
// by a removal that failed) answer at the endpoint the application plane
// reported: the only view of the application plane the control plane has.
// An endpoint that answers is live — with any status but 404 and 410, which
// an ingress gives for a host it no longer routes; one whose name does not
// resolve or whose port refuses the connection is gone. A deployment
// reported without an http(s) endpoint cannot be probed from here, and
// neither can one that does not answer in time: both are errors, so drift
// says "cannot tell" rather than "missing".
func (d *Deployment) Probe(ctx context.Context, t *domain.Tenant) ([]domain.Resource, error) {
	var live []domain.Resource
	for _, r := range append(t.Resources(), t.Orphans()...) {
		if r.Step != domain.StepDeploy || r.Kind != "deployment" {
			continue
		}
		u, err := url.Parse(r.Location)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("deployment %s was reported without an http(s) endpoint (%q): only the application plane can tell whether it runs", r.ID, r.Location)
		}
		answers, err := d.answers(ctx, u.String())
		if err != nil {
			return nil, fmt.Errorf("deployment %s at %s: %w", r.ID, r.Location, err)
		}
		if answers {
			live = append(live, r)
		}
	}
	return live, nil
}

// answers says whether endpoint answers as a deployed application would.
func (d *Deployment) answers(ctx context.Context, endpoint string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return false, err
	}
	client := d.HTTP
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound, errors.Is(err, syscall.ECONNREFUSED):
		return false, nil
	case err != nil:
		return false, err
	}
	resp.Body.Close()
	return resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusGone, nil
}
