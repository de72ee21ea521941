package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/tenantflow/tenantflow/adapters/postgres"
	"github.com/tenantflow/tenantflow/app"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/internal/config"
	"github.com/tenantflow/tenantflow/internal/service"
	"github.com/tenantflow/tenantflow/platform/pii"
)

// openStore opens the event store of the configuration.
func openStore(ctx context.Context) (*eventstore.Postgres, config.Config, func(), error) {
	store, _, cfg, done, err := openStoreAndVault(ctx)
	return store, cfg, done, err
}

// openStoreAndVault opens the event store as tenantd does
// (service.OpenLog: what tenantctl appends is sealed the same way) with the
// vault of people's personal data, which opens the sealed fields tenantctl
// prints (export, events; an erased person's read "[erased]") and erases
// people.
func openStoreAndVault(ctx context.Context) (*eventstore.Postgres, *pii.Vault, config.Config, func(), error) {
	cfg, err := config.Load()
	if err != nil {
		return nil, nil, cfg, nil, err
	}
	pool, err := postgres.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, nil, cfg, nil, err
	}
	store, vault, err := service.OpenLog(pool, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		pool.Close()
		return nil, nil, cfg, nil, err
	}
	return store, vault, cfg, func() { store.Close(); pool.Close() }, nil
}

// exportOpened is export(e) with its personal fields opened.
func exportOpened(ctx context.Context, v *pii.Vault, e eventstore.Event) (exported, error) {
	x := export(e)
	data, err := v.OpenJSON(ctx, e.Data)
	if err != nil {
		return x, fmt.Errorf("open the personal fields of event %s: %w", e.ID, err)
	}
	x.Data = data
	return x, nil
}

// exported is one event as tenantctl prints it (NDJSON): the same fields
// the analytics stream carries.
type exported struct {
	ID            string              `json:"id"`
	Stream        string              `json:"stream"`
	Version       int64               `json:"version"`
	Type          string              `json:"type"`
	SchemaVersion int                 `json:"schemaVersion"`
	RecordedAt    time.Time           `json:"recordedAt"`
	Position      int64               `json:"position"`
	Data          json.RawMessage     `json:"data"`
	Metadata      eventstore.Metadata `json:"metadata"`
}

func export(e eventstore.Event) exported {
	return exported{ID: e.ID, Stream: e.Stream, Version: e.Version, Type: e.Type, SchemaVersion: max(e.SchemaVersion, 1),
		RecordedAt: e.RecordedAt.UTC(), Position: e.Position, Data: e.Data, Metadata: e.Metadata}
}

type verifyCmd struct {
	JSON bool `name:"json" help:"Print the report as JSON."`
}

// Run checks the log's hash chains and seals; exit 1 when anything is off.
func (c verifyCmd) Run() error { return c.run(context.Background(), os.Stdout) }

func (c verifyCmd) run(ctx context.Context, out io.Writer) error {
	store, cfg, done, err := openStore(ctx)
	if err != nil {
		return err
	}
	defer done()
	r, err := store.Verify(ctx, []byte(cfg.SealKey))
	if err != nil {
		return err
	}
	if c.JSON {
		if err := json.NewEncoder(out).Encode(r); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(out, "checked %d events and %d seals (%d unsigned)\n", r.Events, r.Seals, r.Unsigned)
		for i, p := range r.Problems {
			if i == 0 {
				fmt.Fprintln(out, "FIRST MISMATCH:", p)
				continue
			}
			fmt.Fprintln(out, "also:", p)
		}
	}
	if len(r.Problems) > 0 {
		return fmt.Errorf("the log does not verify: %d problems", len(r.Problems))
	}
	if !c.JSON {
		fmt.Fprintln(out, "the log verifies")
	}
	return nil
}

type historyCmd struct {
	Tenant string `arg:"" help:"Tenant id or key."`
	JSON   bool   `name:"json" help:"Print the timeline as JSON."`
}

// entry is one line of a tenant's timeline.
type entry struct {
	Time     time.Time `json:"time"`
	Version  int64     `json:"version"`
	Event    string    `json:"event"`
	Actor    string    `json:"actor,omitempty"`
	Duration string    `json:"stepDuration,omitempty"`
	Tries    int       `json:"attempts,omitempty"`
	Error    string    `json:"error,omitempty"`
}

func (c historyCmd) Run() error { return c.run(context.Background(), os.Stdout) }

func (c historyCmd) run(ctx context.Context, out io.Writer) error {
	store, _, done, err := openStore(ctx)
	if err != nil {
		return err
	}
	defer done()
	id, err := resolveTenant(ctx, store, c.Tenant)
	if err != nil {
		return err
	}
	events, err := store.Load(ctx, app.Tenants(store).Stream(id))
	if err != nil {
		return err
	}
	var timeline []entry
	for _, e := range events {
		en := entry{Time: e.RecordedAt.UTC(), Version: e.Version, Event: e.Type, Actor: e.Metadata.Actor}
		if de, err := domain.DecodeVersion(e.Type, e.SchemaVersion, e.Data); err == nil {
			switch v := de.(type) {
			case *domain.StepOutcome:
				if !v.StartedAt.IsZero() {
					en.Duration = v.At.Sub(v.StartedAt).Round(time.Millisecond).String()
				}
				en.Tries, en.Error = v.Tries, v.Error
			case *domain.ProvisioningFailed:
				en.Error = v.FailedStep + ": " + v.Error
			}
		}
		timeline = append(timeline, en)
	}
	if c.JSON {
		return json.NewEncoder(out).Encode(timeline)
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "TIME\tV\tEVENT\tACTOR\tDURATION\tTRIES\tERROR")
	for _, en := range timeline {
		tries := ""
		if en.Tries > 0 {
			tries = strconv.Itoa(en.Tries)
		}
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", en.Time.Format(time.RFC3339Nano), en.Version, en.Event, en.Actor, en.Duration, tries, en.Error)
	}
	return w.Flush()
}

// resolveTenant accepts a tenant id or key.
func resolveTenant(ctx context.Context, store *eventstore.Postgres, idOrKey string) (string, error) {
	if id, err := uuid.Parse(idOrKey); err == nil {
		return id.String(), nil
	}
	if id := app.TenantIDByKey(ctx, store, idOrKey); id != "" {
		return id, nil
	}
	return "", fmt.Errorf("no tenant has id or key %q", idOrKey)
}

type eventsCmd struct {
	Tail eventsTailCmd `cmd:"" help:"The newest events of the log; --follow keeps printing new ones."`
	Get  eventsGetCmd  `cmd:"" help:"Every event of one stream, as NDJSON."`
}

type eventsTailCmd struct {
	Types  []string      `name:"type" help:"Only events of this type (repeatable)."`
	Last   int           `default:"20" help:"How many of the newest events to start with."`
	Follow bool          `help:"Keep printing new events until interrupted."`
	Poll   time.Duration `default:"500ms" hidden:""`
}

func (c eventsTailCmd) Run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	return c.run(ctx, os.Stdout)
}

func (c eventsTailCmd) run(ctx context.Context, out io.Writer) error {
	store, vault, _, done, err := openStoreAndVault(ctx)
	if err != nil {
		return err
	}
	defer done()
	cursor, err := store.TailCursor(ctx, c.Last)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(out)
	for {
		batch, err := store.ReadAll(ctx, cursor, 1000)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		for _, e := range batch {
			if len(c.Types) == 0 || slices.Contains(c.Types, e.Type) {
				if err := encodeOpened(ctx, enc, vault, e); err != nil {
					return err
				}
			}
		}
		if len(batch) > 0 {
			cursor = batch[len(batch)-1].After()
			continue
		}
		if !c.Follow {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(c.Poll):
		}
	}
}

type eventsGetCmd struct {
	Stream string `arg:"" help:"Stream id, e.g. tenant-<id> or lead-<id>."`
}

func (c eventsGetCmd) Run() error { return c.run(context.Background(), os.Stdout) }

func (c eventsGetCmd) run(ctx context.Context, out io.Writer) error {
	store, vault, _, done, err := openStoreAndVault(ctx)
	if err != nil {
		return err
	}
	defer done()
	events, err := store.Load(ctx, c.Stream)
	if err != nil {
		return err
	}
	if len(events) == 0 {
		return fmt.Errorf("stream %s has no events", c.Stream)
	}
	enc := json.NewEncoder(out)
	for _, e := range events {
		if err := encodeOpened(ctx, enc, vault, e); err != nil {
			return err
		}
	}
	return nil
}

type exportCmd struct {
	Since string `required:"" help:"RFC 3339 time or a log position: events recorded at or after it."`
	Until string `help:"RFC 3339 time or a log position: events before it (default: everything)."`
}

func (c exportCmd) Run() error { return c.run(context.Background(), os.Stdout) }

// bound reads a time or a position.
func bound(s string) (time.Time, int64, error) {
	if s == "" {
		return time.Time{}, 0, nil
	}
	if p, err := strconv.ParseInt(s, 10, 64); err == nil && p >= 0 {
		return time.Time{}, p, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return t, 0, errors.New("want an RFC 3339 time (2026-11-26T10:00:00Z) or a log position (a whole number)")
	}
	return t, 0, nil
}

// run streams the log in commit-safe order, a batch at a time, printing the
// events within the bounds as NDJSON: memory stays constant however long
// the log is.
func (c exportCmd) run(ctx context.Context, out io.Writer) error {
	sinceT, sinceP, err := bound(c.Since)
	if err != nil {
		return fmt.Errorf("--since: %w", err)
	}
	untilT, untilP, err := bound(c.Until)
	if err != nil {
		return fmt.Errorf("--until: %w", err)
	}
	store, vault, _, done, err := openStoreAndVault(ctx)
	if err != nil {
		return err
	}
	defer done()
	enc := json.NewEncoder(out)
	var cursor eventstore.Cursor
	for {
		batch, err := store.ReadAll(ctx, cursor, 1000)
		if err != nil || len(batch) == 0 {
			return err
		}
		for _, e := range batch {
			in := (sinceT.IsZero() || !e.RecordedAt.Before(sinceT)) && e.Position >= sinceP &&
				(untilT.IsZero() || e.RecordedAt.Before(untilT)) && (untilP == 0 || e.Position < untilP)
			if in {
				if err := encodeOpened(ctx, enc, vault, e); err != nil {
					return err
				}
			}
		}
		cursor = batch[len(batch)-1].After()
	}
}

func encodeOpened(ctx context.Context, enc *json.Encoder, v *pii.Vault, e eventstore.Event) error {
	x, err := exportOpened(ctx, v, e)
	if err != nil {
		return err
	}
	return enc.Encode(x)
}
