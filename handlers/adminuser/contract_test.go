package adminuser_test

import (
	"context"
	"testing"

	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/internal/testkit/devsteps"
	"github.com/tenantflow/tenantflow/internal/testkit/steptest"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
)

// The admin user lives in the tenant's realm: each tenant gets its realm
// first, removed after the test.
func TestAdminUserKeepsTheStepContract(t *testing.T) {
	id, _ := devsteps.Identity(t)
	steptest.Run(t, steptest.Subject{Action: devsteps.AdminUser(id), Before: func(t testing.TB, tn *domain.Tenant) {
		if _, err := id.RealmStep().Do(context.Background(), tn); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = id.RealmStep().Undo(context.Background(), tn) })
	}})
}

// The organization model: the admin is a member of the tenant's
// organization in the shared realm (the dev stack's tier basic).
func TestOrganizationAdminKeepsTheStepContract(t *testing.T) {
	id, _ := devsteps.Identity(t)
	steptest.Run(t, steptest.Subject{Action: devsteps.AdminUser(id), NewTenant: onTier("basic"), Before: func(t testing.TB, tn *domain.Tenant) {
		if _, err := id.RealmStep().Do(context.Background(), tn); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = id.RealmStep().Undo(context.Background(), tn) })
	}})
}

func onTier(tier string) func(t testing.TB, key string) *domain.Tenant {
	return func(t testing.TB, key string) *domain.Tenant { return testenv.NewTenantOnTier(t, key, tier) }
}
