// Package database is the database step's back end: a PostgreSQL role and
// schema per tenant, with their undo and probe.
package database

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/handlers/step"
)

// Database provisions the tenant's schema tenant_<key> and a role of the
// same name (NOLOGIN: the application connects with its own role and SET
// ROLE) that may use it and create in it, in the tenant database.
//
// The schema belongs to tenantflow's own role, which is never made a member
// of the tenant's: PostgreSQL's privilege check on a new connection walks
// the connecting role's memberships (quadratically in their number), so a
// long-lived role granted every tenant's role makes every new backend
// slower as the fleet grows. Schemas made before this belong to the
// tenant's role and kept that membership; the undo drops them the same way. Identifiers are always quoted. The
// schema and the role carry a comment naming the tenant: one that exists
// with another comment is someone else's and is never touched.
type Database struct {
	Pool *pgxpool.Pool
}

// SchemaName is the design's schema (and role) name for the tenant.
func SchemaName(t *domain.Tenant) string { return "tenant_" + t.Key() }

func mark(t *domain.Tenant) string { return "tenantflow tenant " + t.ID() }

// pgClassify marks errors retrying cannot fix (SQL state classes 22, 23, 42:
// data, constraint, syntax or access problems) permanent.
func pgClassify(action string, err error) error {
	if err == nil {
		return nil
	}
	err = fmt.Errorf("%s: %w", action, err)
	var pg *pgconn.PgError
	if errors.As(err, &pg) && len(pg.Code) == 5 {
		switch pg.Code[:2] {
		case "22", "23", "42":
			return step.Permanent(err)
		}
	}
	return err
}

// owner reads the comment on the schema and on the role; "" when absent,
// and whether each exists.
func (d Database) owner(ctx context.Context, name string) (schemaMark string, schemaExists bool, roleMark string, roleExists bool, err error) {
	err = d.Pool.QueryRow(ctx, `
		select coalesce((select obj_description(oid, 'pg_namespace') from pg_namespace where nspname = $1), ''),
		       exists (select 1 from pg_namespace where nspname = $1),
		       coalesce((select shobj_description(oid, 'pg_authid') from pg_roles where rolname = $1), ''),
		       exists (select 1 from pg_roles where rolname = $1)`, name).
		Scan(&schemaMark, &schemaExists, &roleMark, &roleExists)
	return
}

func (d Database) Do(ctx context.Context, t *domain.Tenant) (step.Result, error) {
	name := SchemaName(t)
	schemaMark, schemaExists, roleMark, roleExists, err := d.owner(ctx, name)
	if err != nil {
		return step.Result{}, pgClassify("read schema "+name, err)
	}
	if (schemaExists && schemaMark != mark(t)) || (roleExists && roleMark != mark(t)) {
		return step.Result{}, step.Foreign("schema or role " + name)
	}
	ident := pgx.Identifier{name}.Sanitize()
	comment := "'" + mark(t) + "'" // a UUID and fixed text: nothing to escape
	err = pgx.BeginFunc(ctx, d.Pool, func(tx pgx.Tx) error {
		stmts := []string{}
		if !roleExists {
			stmts = append(stmts, "create role "+ident+" nologin", "comment on role "+ident+" is "+comment)
		}
		if !schemaExists {
			stmts = append(stmts, "create schema "+ident, "comment on schema "+ident+" is "+comment)
		}
		stmts = append(stmts,
			"revoke all on schema "+ident+" from public",
			"grant usage, create on schema "+ident+" to "+ident)
		for _, s := range stmts {
			if _, err := tx.Exec(ctx, s); err != nil {
				return fmt.Errorf("%s: %w", s, err)
			}
		}
		return nil
	})
	if err != nil {
		var pg *pgconn.PgError
		if errors.As(err, &pg) && (pg.Code == "42710" || pg.Code == "42P06") { // created by a racing twin
			return step.Result{}, fmt.Errorf("create schema %s raced another run: %w", name, err)
		}
		return step.Result{}, pgClassify("create schema "+name, err)
	}
	loc := d.location()
	return step.Result{Resources: []domain.Resource{
		{Step: domain.StepDatabase, Kind: "postgres-role", ID: name, Location: loc},
		{Step: domain.StepDatabase, Kind: "postgres-schema", ID: name, Location: loc},
	}}, nil
}

// location names the tenant database (no credentials).
func (d Database) location() string {
	c := d.Pool.Config().ConnConfig
	return fmt.Sprintf("postgres://%s:%d/%s", c.Host, c.Port, c.Database)
}

func (d Database) Undo(ctx context.Context, t *domain.Tenant) error {
	name := SchemaName(t)
	schemaMark, schemaExists, roleMark, roleExists, err := d.owner(ctx, name)
	if err != nil {
		return pgClassify("read schema "+name, err)
	}
	ident := pgx.Identifier{name}.Sanitize()
	return pgx.BeginFunc(ctx, d.Pool, func(tx pgx.Tx) error {
		if schemaExists && schemaMark == mark(t) {
			if _, err := tx.Exec(ctx, "drop schema "+ident+" cascade"); err != nil {
				return pgClassify("drop schema "+name, err)
			}
		}
		if roleExists && roleMark == mark(t) {
			if _, err := tx.Exec(ctx, "drop role "+ident); err != nil {
				return pgClassify("drop role "+name, err)
			}
		}
		return nil
	})
}

func (d Database) Probe(ctx context.Context, t *domain.Tenant) ([]domain.Resource, error) {
	name := SchemaName(t)
	schemaMark, schemaExists, roleMark, roleExists, err := d.owner(ctx, name)
	if err != nil {
		return nil, err
	}
	var out []domain.Resource
	if roleExists && roleMark == mark(t) {
		out = append(out, domain.Resource{Step: domain.StepDatabase, Kind: "postgres-role", ID: name})
	}
	if schemaExists && schemaMark == mark(t) {
		out = append(out, domain.Resource{Step: domain.StepDatabase, Kind: "postgres-schema", ID: name})
	}
	return out, nil
}
