package infrastructure_test

import (
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/internal/testkit/devsteps"
	"github.com/tenantflow/tenantflow/internal/testkit/steptest"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
)

// OpenTofu on the silo module, its state in PostgreSQL. The state is named
// by the tenant's id, so the foreign-tenant clause does not apply.
func TestInfrastructureKeepsTheStepContract(t *testing.T) {
	steptest.Run(t, steptest.Subject{Action: devsteps.Infrastructure(t), NamedByID: true, Timeout: 3 * time.Minute,
		NewTenant: func(t testing.TB, key string) *domain.Tenant {
			tn := testenv.NewTenant(t, key)
			if _, err := tn.RequestProvisioning(domain.Subscription{ID: "s", SubscriberID: "c", PlanID: "p", StartDate: time.Now(),
				Plan: domain.Plan{ID: "p", Name: "P", Tier: "silo"}}, testenv.DevTiers); err != nil {
				t.Fatal(err)
			}
			return tn
		}})
}
