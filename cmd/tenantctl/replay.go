package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/schollz/progressbar/v3"
	"github.com/tenantflow/tenantflow/projections"
)

type replayCmd struct {
	Projection string `arg:"" enum:"tenants,progress,resources,stepstats" help:"Projection to rebuild: tenants, progress, resources or stepstats."`
	Quiet      bool   `help:"No progress bar."`
}

// Run rebuilds the projection into fresh tables from the log while queries
// keep answering from the current ones, then switches them over.
func (c replayCmd) Run() error { return c.run(context.Background(), os.Stdout) }

func (c replayCmd) run(ctx context.Context, out io.Writer) error {
	store, _, done, err := openStore(ctx)
	if err != nil {
		return err
	}
	defer done()
	pool := store.Pool()
	en := &projections.Engine{Pool: pool, Log: store, Projectors: projections.All()}
	if err := en.Ensure(ctx); err != nil {
		return err
	}
	var bar *progressbar.ProgressBar
	progress := func(done, total int64) {
		if c.Quiet {
			return
		}
		if bar == nil {
			bar = progressbar.NewOptions64(total, progressbar.OptionSetDescription("replay "+c.Projection),
				progressbar.OptionSetWriter(os.Stderr), progressbar.OptionShowCount(), progressbar.OptionShowIts(),
				progressbar.OptionSetItsString("events"), progressbar.OptionSetPredictTime(true), progressbar.OptionFullWidth())
		}
		bar.ChangeMax64(total)
		_ = bar.Set64(done)
	}
	gen, err := en.Rebuild(ctx, c.Projection, progress)
	if bar != nil {
		_ = bar.Finish()
		fmt.Fprintln(os.Stderr)
	}
	if err != nil {
		return err
	}
	digest, err := en.Digest(ctx, c.Projection, gen)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: generation %d is live (digest %s)\n", c.Projection, gen, digest)
	return nil
}
