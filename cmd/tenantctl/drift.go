package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/tenantflow/tenantflow/app"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/handlers/drift"
	"github.com/tenantflow/tenantflow/internal/service"
	"github.com/tenantflow/tenantflow/projections"
)

type driftCmd struct {
	Tenant string `help:"Only this tenant (id or key); default: every ACTIVE tenant."`
	JSON   bool   `name:"json" help:"Print the report as JSON."`
}

// Run compares the recorded resources of ACTIVE tenants with the live
// systems (realm, client, user, schema, bucket, DNS records, infrastructure
// state) and prints what is missing or unexpected; exit 1 on any drift.
func (c driftCmd) Run() error { return c.run(context.Background(), os.Stdout) }

func (c driftCmd) run(ctx context.Context, out io.Writer) error {
	store, cfg, done, err := openStore(ctx)
	if err != nil {
		return err
	}
	defer done()
	actions, err := service.StepActions(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), store)
	if err != nil {
		return err
	}
	ids, err := activeTenantIDs(ctx, store, c.Tenant)
	if err != nil {
		return err
	}
	tenants := app.Tenants(store)
	var drifted []drift.Drift
	for _, id := range ids {
		t, err := tenants.Get(ctx, id)
		if err != nil {
			return err
		}
		if t.Status() != domain.StatusActive {
			continue
		}
		if d := drift.Check(ctx, actions, t); d.Drifted() {
			drifted = append(drifted, d)
		}
	}
	if c.JSON {
		if err := json.NewEncoder(out).Encode(map[string]any{"checked": len(ids), "drifted": drifted}); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(out, "checked %d tenants\n", len(ids))
		for _, d := range drifted {
			for _, r := range d.Missing {
				fmt.Fprintf(out, "%s (%s): MISSING %s %s\n", d.Key, d.TenantID, r.Kind, r.ID)
			}
			for _, r := range d.Unexpected {
				fmt.Fprintf(out, "%s (%s): UNEXPECTED %s %s\n", d.Key, d.TenantID, r.Kind, r.ID)
			}
			for _, e := range d.Errors {
				fmt.Fprintf(out, "%s (%s): NOT CHECKED %s\n", d.Key, d.TenantID, e)
			}
		}
	}
	if len(drifted) > 0 {
		return fmt.Errorf("%d tenants drifted", len(drifted))
	}
	if !c.JSON {
		fmt.Fprintln(out, "no drift")
	}
	return nil
}

// activeTenantIDs is the tenant only names (an id or key), or else every
// ACTIVE tenant of the tenants projection.
func activeTenantIDs(ctx context.Context, store *eventstore.Postgres, only string) ([]string, error) {
	if only != "" {
		id, err := resolveTenant(ctx, store, only)
		if err != nil {
			return nil, err
		}
		return []string{id}, nil
	}
	var ids []string
	en := &projections.Engine{Pool: store.Pool(), Log: store, Projectors: projections.All()}
	active := domain.StatusActive
	for cursor := ""; ; {
		page, next, err := en.List(ctx, projections.TenantQuery{Status: &active, Cursor: cursor, Limit: 200})
		if err != nil {
			return nil, err
		}
		for _, t := range page {
			ids = append(ids, t.ID)
		}
		if cursor = next; next == "" {
			return ids, nil
		}
	}
}
