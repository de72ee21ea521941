package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"

	"github.com/tenantflow/tenantflow/app"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/projections"
)

type orphansCmd struct {
	List   orphansListCmd   `cmd:"" help:"What undos could not remove (a failed compensation or deprovisioning), by tenant: an operator must."`
	Retry  orphansRetryCmd  `cmd:"" help:"Run a tenant's failed undos again (its handlers react as in a rollback); its orphans go as they succeed."`
	Forget orphansForgetCmd `cmd:"" help:"Take an orphan off a tenant's list (removed by hand, or harmless), recorded with your name and reason."`
}

type orphansListCmd struct {
	Tenant string `help:"Only this tenant's (its id); default: every tenant's."`
}

func (c orphansListCmd) Run() error { return c.run(context.Background(), os.Stdout) }

func (c orphansListCmd) run(ctx context.Context, out io.Writer) error {
	store, _, done, err := openStore(ctx)
	if err != nil {
		return err
	}
	defer done()
	en := &projections.Engine{Pool: store.Pool(), Log: store, Projectors: projections.All()}
	if err := en.Ensure(ctx); err != nil {
		return err
	}
	orphans, err := en.Orphans(ctx, c.Tenant)
	if err != nil {
		return err
	}
	if len(orphans) == 0 {
		fmt.Fprintln(out, "no orphans")
		return nil
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "TENANT\tRESOURCE\tLOCATION\tSINCE")
	for _, o := range orphans {
		fmt.Fprintf(w, "%s\t%s/%s/%s\t%s\t%s\n", o.TenantID, o.Step, o.Kind, o.ID, o.Location, o.CreatedAt.UTC().Format(time.RFC3339))
	}
	return w.Flush()
}

type orphansForgetCmd struct {
	Tenant   string `arg:"" help:"The tenant's id or key."`
	Resource string `arg:"" help:"The orphan as orphans list prints it: step/kind/id."`
	Reason   string `required:"" help:"Why it needs no more attention (recorded in the tenant's history)."`
	Actor    string `env:"USER" default:"operator" help:"Who decides (recorded as tenantctl:<actor>); default: $USER."`
}

func (c orphansForgetCmd) Run() error { return c.run(context.Background(), os.Stdout) }

func (c orphansForgetCmd) run(ctx context.Context, out io.Writer) error {
	step, rest, ok1 := strings.Cut(c.Resource, "/")
	kind, id, ok2 := strings.Cut(rest, "/")
	if !ok1 || !ok2 || step == "" || kind == "" || id == "" {
		return fmt.Errorf("resource %q: want step/kind/id, as orphans list prints it", c.Resource)
	}
	tn, err := operatorDecision(ctx, c.Tenant, c.Actor, func(tenants app.Repository[*domain.Tenant], tenantID string, md eventstore.Metadata) (*domain.Tenant, error) {
		return app.ForgetOrphan(ctx, tenants, tenantID, step, kind, id, c.Reason, md)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "forgot %s of tenant %s\n", c.Resource, tn.ID())
	return nil
}

type orphansRetryCmd struct {
	Tenant string `arg:"" help:"The tenant's id or key (PROVISION_FAILED or INACTIVE)."`
	Actor  string `env:"USER" default:"operator" help:"Who asks (recorded as tenantctl:<actor>); default: $USER."`
}

func (c orphansRetryCmd) Run() error { return c.run(context.Background(), os.Stdout) }

// run records tenant.undo.retry_requested; the running handlers do the rest
// (follow it with tenantctl history or orphans list).
func (c orphansRetryCmd) run(ctx context.Context, out io.Writer) error {
	tn, err := operatorDecision(ctx, c.Tenant, c.Actor, func(tenants app.Repository[*domain.Tenant], tenantID string, md eventstore.Metadata) (*domain.Tenant, error) {
		return app.RetryUndos(ctx, tenants, tenantID, md)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "undos of tenant %s run again (round %d); follow with: tenantctl orphans list --tenant %s\n", tn.ID(), tn.UndoRound(), tn.ID())
	return nil
}

// operatorDecision runs an operator's command (package app) on the tenant
// named by id or key, as the operator actor (tenantctl:<actor>), straight
// into the log.
func operatorDecision(ctx context.Context, idOrKey, actor string, command func(app.Repository[*domain.Tenant], string, eventstore.Metadata) (*domain.Tenant, error)) (*domain.Tenant, error) {
	store, _, done, err := openStore(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	tenantID, err := resolveTenant(ctx, store, idOrKey)
	if err != nil {
		return nil, err
	}
	md := eventstore.Metadata{Actor: "tenantctl:" + actor, CorrelationID: uuid.NewString()}
	return command(app.Tenants(store), tenantID, md)
}
