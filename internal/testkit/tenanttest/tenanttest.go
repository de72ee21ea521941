// Package tenanttest records, in tests, what the handlers would: the steps
// of a tenant's running change, so that a test of the API or the lifecycle
// watcher can move a tenant on without the back ends (their own tests drive
// those).
package tenanttest

import (
	"context"
	"testing"

	"github.com/tenantflow/tenantflow/app"
	"github.com/tenantflow/tenantflow/domain"
)

// FinishChange records every step of tenant id's running change as
// completed, in order, as the handlers would.
func FinishChange(t testing.TB, tenants app.Repository[*domain.Tenant], id string) {
	t.Helper()
	_, err := tenants.Update(context.Background(), id, app.Metadata{Actor: "test"}, func(tn *domain.Tenant) ([]domain.Event, error) {
		var all []domain.Event
		for s, ok := tn.NextStep(); ok; s, ok = tn.NextStep() {
			evs, err := tn.RecordStep(domain.StepOutcome{Step: s, Outcome: domain.OutcomeCompleted})
			if err != nil {
				return nil, err
			}
			all = append(all, evs...)
		}
		return all, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
