package idp_test

import (
	"context"
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

// The admin user lives in the tenant's realm: each tenant gets its realm
// first, removed after the test.
func TestAdminUserKeepsTheStepContract(t *testing.T) {
	id, _ := devsteps.Identity(t)
	steptest.Run(t, steptest.Subject{Action: id.AdminUserStep(), Before: func(t testing.TB, tn *domain.Tenant) {
		if _, err := id.RealmStep().Do(context.Background(), tn); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = id.RealmStep().Undo(context.Background(), tn) })
	}})
}

// The organization model: the tenant is an organization of the shared
// realm (the dev stack's tier basic).
func TestOrganizationKeepsTheStepContract(t *testing.T) {
	id, _ := devsteps.Identity(t)
	steptest.Run(t, steptest.Subject{Action: id.RealmStep(), NewTenant: onTier("basic")})
}

func TestOrganizationAdminKeepsTheStepContract(t *testing.T) {
	id, _ := devsteps.Identity(t)
	steptest.Run(t, steptest.Subject{Action: id.AdminUserStep(), NewTenant: onTier("basic"), Before: func(t testing.TB, tn *domain.Tenant) {
		if _, err := id.RealmStep().Do(context.Background(), tn); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = id.RealmStep().Undo(context.Background(), tn) })
	}})
}

func onTier(tier string) func(t testing.TB, key string) *domain.Tenant {
	return func(t testing.TB, key string) *domain.Tenant { return testenv.NewTenantOnTier(t, key, tier) }
}
