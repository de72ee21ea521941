// Package migrations holds the forward-only, numbered SQL migrations of
// tenantflow's database, applied with goose by tenantd at start and by
// `tenantctl migrate`. A migration is never edited after it lands.
//
// Migrations run as the tables' owner (TENANTFLOW_DATABASE_MIGRATE_URL);
// tenantd runs as a member of tenantflow_runtime (00011), so a migration
// that adds a table grants that role what it needs there — on the event
// log, never more than select and insert.
package migrations

import (
	"context"
	"embed"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed *.sql
var files embed.FS

// Pending reports whether migrations are waiting to be applied: a serving
// tenantd in production checks instead of migrating (it does not hold the
// owner's credentials; `tenantctl migrate` does).
func Pending(ctx context.Context, pool *pgxpool.Pool) (bool, error) {
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, files)
	if err != nil {
		return false, fmt.Errorf("load migrations: %w", err)
	}
	pending, err := p.HasPending(ctx)
	if err != nil {
		return false, fmt.Errorf("read the schema's version: %w", err)
	}
	return pending, nil
}

// Up applies every pending migration. Concurrent callers (several tenantd
// starting together) are serialised by a PostgreSQL advisory lock.
func Up(ctx context.Context, pool *pgxpool.Pool) ([]string, error) {
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, fmt.Errorf("migration lock: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, files, goose.WithSessionLocker(locker))
	if err != nil {
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("apply migrations: %w", err)
	}
	names := make([]string, 0, len(results))
	for _, r := range results {
		names = append(names, r.Source.Path)
	}
	return names, nil
}
