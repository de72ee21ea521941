package eventstore

import (
	"context"
	"errors"
	"fmt"
)

// ErrRewritableLog means the connection's role may change or remove events:
// it owns the table or was granted more than reading and appending.
var ErrRewritableLog = errors.New("the database role of TENANTFLOW_DATABASE_URL may update, delete or truncate events: " +
	"run tenantd as a member of tenantflow_runtime and migrate with TENANTFLOW_DATABASE_MIGRATE_URL (the tables' owner)")

// CheckAppendOnly returns ErrRewritableLog unless this store's role can only
// read and insert into the event log. tenantd refuses to serve in production
// without it; in development it warns.
func (s *Postgres) CheckAppendOnly(ctx context.Context) error {
	var rewrite bool
	err := s.pool.QueryRow(ctx, `select has_table_privilege('events', 'update')
		or has_table_privilege('events', 'delete') or has_table_privilege('events', 'truncate')`).Scan(&rewrite)
	if err != nil {
		return fmt.Errorf("read privileges on events: %w", err)
	}
	if rewrite {
		return ErrRewritableLog
	}
	return nil
}
