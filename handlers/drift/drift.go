// Package drift compares what a tenant's log says its steps made with what
// their back ends find now (tenantctl drift): an operator's tool, beside the
// steps rather than among them.
package drift

import (
	"context"
	"fmt"

	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/handlers/step"
)

// Drift is what differs between a tenant's recorded resources and the live
// systems.
type Drift struct {
	TenantID   string            `json:"tenantId"`
	Key        string            `json:"key"`
	Missing    []domain.Resource `json:"missing,omitempty"`    // recorded, not found
	Unexpected []domain.Resource `json:"unexpected,omitempty"` // found (ours), not recorded
	Errors     []string          `json:"errors,omitempty"`     // steps that could not be probed
}

// Drifted reports whether anything differs.
func (d Drift) Drifted() bool { return len(d.Missing)+len(d.Unexpected)+len(d.Errors) > 0 }

// Check compares the tenant's recorded resources with what the back
// ends find, step by step.
func Check(ctx context.Context, actions map[string]step.Action, t *domain.Tenant) Drift {
	d := Drift{TenantID: t.ID(), Key: t.Key()}
	recorded := map[string][]domain.Resource{}
	for _, r := range t.Resources() {
		recorded[r.Step] = append(recorded[r.Step], r)
	}
	for _, name := range domain.UndoableSteps {
		p, ok := step.As[step.Prober](actions[name])
		if !ok {
			continue
		}
		live, err := p.Probe(ctx, t)
		if err != nil {
			d.Errors = append(d.Errors, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		key := func(r domain.Resource) string { return r.Kind + "\x00" + r.ID }
		found := map[string]bool{}
		for _, r := range live {
			found[key(r)] = true
		}
		known := map[string]bool{}
		for _, r := range recorded[name] {
			known[key(r)] = true
			if !found[key(r)] {
				d.Missing = append(d.Missing, r)
			}
		}
		for _, r := range live {
			if !known[key(r)] {
				d.Unexpected = append(d.Unexpected, r)
			}
		}
	}
	return d
}
