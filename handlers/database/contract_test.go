package database_test

import (
	"testing"

	"github.com/tenantflow/tenantflow/handlers/database"
	"github.com/tenantflow/tenantflow/handlers/step/steptest"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
)

// On a throw-away database of the dev stack's PostgreSQL, as the role that
// provisions tenants (the owner, as TENANTFLOW_TENANT_DATABASE_URL is in
// the dev stack).
func TestDatabaseKeepsTheStepContract(t *testing.T) {
	steptest.Run(t, steptest.Subject{Action: database.Database{Pool: testenv.NewMigratedPool(t)}})
}
