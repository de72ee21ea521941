package idp_test

import (
	"testing"

	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/internal/testkit/devsteps"
	"github.com/tenantflow/tenantflow/internal/testkit/steptest"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
)

func TestRealmKeepsTheStepContract(t *testing.T) {
	id, _ := devsteps.Identity(t)
	steptest.Run(t, steptest.Subject{Action: id.RealmStep()})
}

// The organization model: the tenant is an organization of the shared
// realm (the dev stack's tier basic).
func TestOrganizationKeepsTheStepContract(t *testing.T) {
	id, _ := devsteps.Identity(t)
	steptest.Run(t, steptest.Subject{Action: id.RealmStep(), NewTenant: onTier("basic")})
}

func onTier(tier string) func(t testing.TB, key string) *domain.Tenant {
	return func(t testing.TB, key string) *domain.Tenant { return testenv.NewTenantOnTier(t, key, tier) }
}
