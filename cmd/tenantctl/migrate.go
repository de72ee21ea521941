package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/tenantflow/tenantflow/adapters/postgres"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/internal/config"
	"github.com/tenantflow/tenantflow/migrations"
)

type migrateCmd struct {
	RepairAfterRestore bool `help:"After restoring a logical dump into a new cluster: rewrite the log's transaction ids and move checkpoints so readers skip nothing (see docs/event-log.md)."`
}

// Run applies pending migrations, then checks — or with --repair-after-restore
// repairs — the log's transaction-id horizon.
func (m migrateCmd) Run() error { return m.run(context.Background(), os.Stdout) }

func (m migrateCmd) run(ctx context.Context, out io.Writer) error {
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	// Migrations and the repair rewrite tables: they run as the owner.
	url := cfg.DatabaseURL
	if cfg.MigrateURL != "" {
		url = cfg.MigrateURL
	}
	pool, err := postgres.Open(ctx, url)
	if err != nil {
		return err
	}
	defer pool.Close()
	applied, err := migrations.Up(ctx, pool)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintln(out, "schema up to date")
	}
	for _, a := range applied {
		fmt.Fprintln(out, "applied", a)
	}

	store := eventstore.NewPostgres(pool, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer store.Close()
	if m.RepairAfterRestore {
		events, checkpoints, err := store.RepairAfterRestore(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "repaired: %d events and %d checkpoints rewritten\n", events, checkpoints)
		return nil
	}
	if err := store.CheckHorizon(ctx); err != nil {
		if errors.Is(err, eventstore.ErrRestoredLog) {
			fmt.Fprintln(out, "the log needs repair: tenantd will not relay it until then")
		}
		return err
	}
	fmt.Fprintln(out, "event log healthy")
	return nil
}
