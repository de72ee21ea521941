package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/schollz/progressbar/v3"
	"github.com/tenantflow/tenantflow/projections"
)

type replayCmd struct {
	Projections []string `arg:"" optional:"" help:"Projections to rebuild: tenants, orphans, stepstats, tenantconfig, leads, plans, documents (default: every one)."`
	Quiet       bool     `help:"No progress bar."`
}

// Run rebuilds the projections into fresh tables from one pass over the log
// while queries keep answering from the current ones, then switches them
// over together.
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
			bar = progressbar.NewOptions64(total, progressbar.OptionSetDescription("replay "+strings.Join(c.Projections, " ")),
				progressbar.OptionSetWriter(os.Stderr), progressbar.OptionShowCount(), progressbar.OptionShowIts(),
				progressbar.OptionSetItsString("events"), progressbar.OptionSetPredictTime(true), progressbar.OptionFullWidth())
		}
		bar.ChangeMax64(total)
		_ = bar.Set64(done)
	}
	gens, err := en.RebuildAll(ctx, c.Projections, progress)
	if bar != nil {
		_ = bar.Finish()
		fmt.Fprintln(os.Stderr)
	}
	if err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(gens)) {
		digest, err := en.Digest(ctx, name, gens[name])
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s: generation %d is live (digest %s)\n", name, gens[name], digest)
	}
	return nil
}
