package database_test

import (
	"testing"

	"github.com/tenantflow/tenantflow/handlers/database"
	"github.com/tenantflow/tenantflow/internal/testkit/steptest"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
)

// On a throw-away database of the dev stack's PostgreSQL, as the role that
// provisions tenants (the owner, as TENANTFLOW_TENANT_DATABASE_URL is in
// the dev stack).
func TestDatabaseKeepsTheStepContract(t *testing.T) {
	steptest.Run(t, steptest.Subject{Action: database.Database{Pool: testenv.NewMigratedPool(t)}})
}

// The role that provisions tenants never becomes a member of a tenant's
// role (PostgreSQL's privilege check on each new connection walks every
// membership of the connecting role), yet the tenant's role may use and
// create in its schema, and the undo drops both.
func TestTenantRolesAreNotGrantedToTheProvisioner(t *testing.T) {
	pool := testenv.NewMigratedPool(t)
	ctx := t.Context()
	tn := testenv.NewTenant(t, testenv.UniqueKey("mb"))
	d := database.Database{Pool: pool}
	if _, err := d.Do(ctx, tn); err != nil {
		t.Fatal(err)
	}
	name := database.SchemaName(tn)
	var members int
	if err := pool.QueryRow(ctx, `select count(*) from pg_auth_members m join pg_roles r on r.oid = m.roleid
		where r.rolname = $1`, name).Scan(&members); err != nil {
		t.Fatal(err)
	}
	if members != 0 {
		t.Errorf("role %s has %d members, want none", name, members)
	}
	var canCreate bool
	if err := pool.QueryRow(ctx, "select has_schema_privilege($1, $2, 'USAGE,CREATE')", name, name).Scan(&canCreate); err != nil {
		t.Fatal(err)
	}
	if !canCreate {
		t.Errorf("role %s may not use and create in its schema", name)
	}
	if err := d.Undo(ctx, tn); err != nil {
		t.Fatal(err)
	}
	var left int
	if err := pool.QueryRow(ctx, `select (select count(*) from pg_roles where rolname = $1) + (select count(*) from pg_namespace where nspname = $1)`, name).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Errorf("undo left %d of the role and the schema", left)
	}
}
