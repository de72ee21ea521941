package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/tenantflow/tenantflow/projections"
)

type orphansCmd struct {
	List orphansListCmd `cmd:"" help:"What undos could not remove (a failed compensation or deprovisioning), by tenant: an operator must."`
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
	fmt.Fprintln(w, "TENANT\tSTEP\tKIND\tID\tLOCATION\tSINCE")
	for _, o := range orphans {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", o.TenantID, o.Step, o.Kind, o.ID, o.Location, o.CreatedAt.UTC().Format(time.RFC3339))
	}
	return w.Flush()
}
