package migrations_test

import (
	"context"
	"testing"

	"github.com/tenantflow/tenantflow/adapters/postgres"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
	"github.com/tenantflow/tenantflow/migrations"
)

// A database that ran the progress and resources projections loses them on
// upgrade: their generations' tables, feed marks and generation rows
// (00020), and nothing of the projections that stay.
func TestGoneProjectionsAreDroppedOnUpgrade(t *testing.T) {
	ctx := context.Background()
	owner, err := postgres.Open(ctx, testenv.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	if err := migrations.UpToForTest(ctx, owner, 19); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"progress", "resources", "tenants"} { // as an older tenantd left them
		for _, stmt := range []string{
			`create schema proj_` + name + `_g1`,
			`create table proj_` + name + `_g1.applied (stream text primary key, version bigint not null)`,
			`insert into projection_generations (name, generation, projector_version) values ('` + name + `', 1, 3)`,
			`insert into projection_feeds (name, generation, feeder, position, recorded_at) values ('` + name + `', 1, 0, 7, now())`,
		} {
			if _, err := owner.Exec(ctx, stmt); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := migrations.Up(ctx, owner); err != nil {
		t.Fatal(err)
	}
	var schemas, generations, feeds []string
	for q, into := range map[string]*[]string{
		`select nspname::text from pg_namespace where nspname like 'proj\_%' order by 1`: &schemas,
		`select name from projection_generations order by 1`:                             &generations,
		`select name from projection_feeds order by 1`:                                   &feeds,
	} {
		if err := owner.QueryRow(ctx, `select coalesce(array_agg(x), '{}') from (`+q+`) t (x)`).Scan(into); err != nil {
			t.Fatal(err)
		}
	}
	if len(schemas) != 1 || schemas[0] != "proj_tenants_g1" || len(generations) != 1 || generations[0] != "tenants" || len(feeds) != 1 || feeds[0] != "tenants" {
		t.Fatalf("after the upgrade: schemas %v, generations %v, feed marks %v; want the tenants projection's only", schemas, generations, feeds)
	}
}
