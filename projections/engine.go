// Package projections keeps the read models that queries are served from.
//
// A projector is a named, durable piece of code that applies events to its
// own tables. The same Apply code runs live (fed from tenant.events.v1 by a
// consumer group of its own) and in a rebuild (fed from the PostgreSQL log).
// Every projector records, per stream it reads, the last version it applied: an
// event applied twice changes nothing, and a record that arrives with a
// version past the next one makes it read the missing events from the
// store first. Each generation of a projection's tables lives in a schema
// of its own, so a rebuild fills fresh tables while readers keep using the
// old ones, then switches them over in one transaction.
package projections

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tenantflow/tenantflow/adapters/kafka"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/eventstore/wire"
	"github.com/tenantflow/tenantflow/platform/memo"
	"github.com/tenantflow/tenantflow/platform/metrics"
	"golang.org/x/sync/errgroup"
)

// Projector applies events to its tables. Apply runs in a transaction whose
// search_path is the projection's current schema, so it names tables
// unqualified. It must use only the event (its recordedAt, never now()), so
// that a rebuild yields exactly what the live projector holds.
type Projector interface {
	Name() string // durable: it keys the schema, the consumer group and the generation
	// Version changes whenever DDL or Apply changes: a generation built by
	// another version is rebuilt (Ensure).
	Version() int
	DDL() string // creates its tables (unqualified names)
	// Reads says whether stream is one of the streams it projects (by kind:
	// tenant-, lead-, plan-…). The engine gives it no other stream's events
	// and keeps no applied version of them for it.
	//
	// Decision (issue 33): each projector kept an applied row of every
	// stream, and locked and updated it in every live batch, though three of
	// the seven project none of a tenant's events: 3 of a batch's 14
	// bookkeeping statements, for nothing.
	Reads(stream string) bool
	// Apply writes what event e means for the projection. It must touch
	// only rows of e's own stream: a rebuild applies streams concurrently.
	Apply(ctx context.Context, tx Execer, e eventstore.Event, de domain.Event) error
}

// A Folder is a projector whose rows are a function of a tenant's fold
// rather than of one event (the documents projection's rendered answers,
// the orphans). The engine keeps recent streams' decoded histories in
// memory, reads a history from the log when it has not got it, and calls
// Fold once a stream a batch with the stream's history up to the batch's
// newest event; Apply is not called. Fold, like Apply, only writes.
type Folder interface {
	Fold(ctx context.Context, tx Execer, stream string, h *History) error
}

// folding is the Apply of a Folder, embedded in it: the engine gives a
// Folder whole histories (Fold) and never calls Apply.
type folding struct{}

func (folding) Apply(context.Context, Execer, eventstore.Event, domain.Event) error { return nil }

// History is a stream's events up to a batch's newest of it, as Folders get
// it: Events[:Applied] were applied in earlier batches.
type History struct {
	Events  []domain.Event
	Applied int
	Stored  []eventstore.Event   // Events[Applied:] as the log holds them
	tenants map[int]foldedTenant // by events folded, shared by the batch's Folders
}

// Last is the newest event of the history, as the log holds it.
func (h *History) Last() eventstore.Event { return h.Stored[len(h.Stored)-1] }

type foldedTenant struct {
	t   *domain.Tenant
	err error
}

// Tenant is the fold of the stream's first n events (n = len(Events): its
// state now; n = Applied: before this batch), folded once a batch whoever
// asks, and the state before a batch is remembered from the batch before.
// Folders only read it.
func (h *History) Tenant(n int) (*domain.Tenant, error) {
	if f, ok := h.tenants[n]; ok {
		return f.t, f.err
	}
	t, err := domain.RehydrateTenant(h.Events[:n])
	h.tenants[n] = foldedTenant{t, err}
	return t, err
}

// remembered is what the engine keeps of a stream for Folders: its decoded
// events and, once a Folder asked for it, their fold.
type remembered struct {
	events []domain.Event
	tenant *foldedTenant
}

// Engine runs projectors against one database.
type Engine struct {
	Pool       *pgxpool.Pool
	Log        eventstore.Store
	Projectors []Projector
	Logger     *slog.Logger
	// InstanceID makes the live feed a static member of its consumer group
	// (TENANTFLOW_KAFKA_INSTANCE_ID).
	InstanceID string
	// Applied, when set, is told of every event the live feed applied and
	// when its transaction committed: the benchmark's projection lag (from
	// each event's commit in the log to its commit here, so an event held
	// back on the least advanced partition counts in full).
	Applied func(events []eventstore.Event, at time.Time)

	// histories are streams' decoded events, oldest first, for Folders: a
	// history is used only when its length is the version the projection
	// applied (a stream's versions start at 1 and have no gap), so one
	// left ahead by a batch that failed is read again from the log.
	histories memo.Map[remembered]

	cache struct { // see cachedSchemas
		mu sync.Mutex
		m  map[string]cachedGen
	}
}

// SchemaName is the schema of a projection's generation.
func SchemaName(name string, generation int) string {
	return fmt.Sprintf("proj_%s_g%d", strings.ReplaceAll(name, "-", "_"), generation)
}

// appliedDDL is the newest version of each stream a projector applied: a
// version applied again changes nothing. A row is updated in place by every
// batch holding its stream, so the table has no index but its key and
// leaves room on its pages: the updates are HOT (no new index entry). How
// far a generation has been fed is in projection_feeds (migration 00016).
const appliedDDL = `create table applied (
	stream  text   primary key,
	version bigint not null
) with (fillfactor = 70);`

// Ensure gives every projection that has no generation yet its first one,
// built from the whole log (so a projection added to a running system, or a
// topic whose old records expired, misses nothing), before readers and the
// live projector see it. Concurrent callers are serialised by an advisory
// lock; the second finds the work done.
func (en *Engine) Ensure(ctx context.Context) error {
	conn, err := en.Pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `select pg_advisory_lock(hashtext('projections:ensure'))`); err != nil {
		return err
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), `select pg_advisory_unlock(hashtext('projections:ensure'))`)
	}()
	var missing []target
	var changed []string
	for _, p := range en.Projectors {
		var version, gen int
		err := conn.QueryRow(ctx, `select projector_version, generation from projection_generations where name = $1`, p.Name()).Scan(&version, &gen)
		if err == nil {
			err = upgradeApplied(ctx, conn, p.Name(), gen)
		}
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			missing = append(missing, target{p: p, gen: 1})
		case err != nil:
			return err
		case version != p.Version():
			en.logger().Info("projector changed: rebuilding its projection", "projection", p.Name(), "from_version", version, "to_version", p.Version())
			changed = append(changed, p.Name())
		}
	}
	if len(missing) > 0 { // one pass over the log for all of them
		if _, err := en.build(ctx, missing, nil); err != nil {
			return fmt.Errorf("projections %s: %w", targetNames(missing), err)
		}
		for _, t := range missing {
			if _, err := conn.Exec(ctx, `insert into projection_generations (name, generation, projector_version) values ($1, 1, $2)`, t.p.Name(), t.p.Version()); err != nil {
				return err
			}
		}
	}
	if len(changed) > 0 {
		if _, err := en.RebuildAll(ctx, changed, nil); err != nil {
			return fmt.Errorf("rebuild %s for their projectors' new versions: %w", strings.Join(changed, ", "), err)
		}
	}
	return nil
}

// upgradeApplied brings a generation built before migration 00016 to
// today's applied table, in place: its newest applied position becomes the
// generation's first feed mark, and the columns and index that kept it go.
// A tenantd of an older version still running beside this one fails its
// projection batches from then on, and retries them, until it is upgraded
// too: nothing is lost, the live feed applies them here.
func upgradeApplied(ctx context.Context, conn *pgxpool.Conn, name string, gen int) error {
	var old bool
	applied := pgx.Identifier{SchemaName(name, gen), "applied"}.Sanitize()
	if err := conn.QueryRow(ctx, `select exists (select from pg_attribute
		where attrelid = to_regclass($1) and attname = 'position' and not attisdropped)`, applied).Scan(&old); err != nil || !old {
		return err
	}
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `insert into projection_feeds (name, generation, feeder, position, recorded_at)
			select $1, $2, -1, position, recorded_at from `+applied+` order by position desc limit 1
			on conflict do nothing`, name, gen); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `alter table `+applied+` drop column position, drop column recorded_at, set (fillfactor = 70)`)
		return err
	})
}

// build creates each target's generation and fills them all from one pass
// over the whole log; it returns the cursor it read up to. One goroutine
// reads the log, and each share of the streams (see split) is applied by
// a goroutine of its own, a transaction per batch read, while the next
// batches are read and the other shares applied: no share waits for
// another's batch to end.
func (en *Engine) build(ctx context.Context, targets []target, progress ProgressFunc) (eventstore.Cursor, error) {
	var cursor eventstore.Cursor
	for _, t := range targets {
		if err := pgx.BeginFunc(ctx, en.Pool, func(tx pgx.Tx) error { return createGeneration(ctx, tx, t.p, t.gen) }); err != nil {
			return cursor, err
		}
	}
	total, err := en.Log.Count(ctx)
	if err != nil {
		return cursor, err
	}
	g, ctx := errgroup.WithContext(ctx)
	var mu sync.Mutex // progress is called by one share at a time
	var done int64
	shares := make([]chan []eventstore.Event, rebuildShards)
	for i := range shares {
		shares[i] = make(chan []eventstore.Event, 2)
		g.Go(func() error {
			for batch := range shares[i] {
				if err := en.applyShare(ctx, targets, batch, i); err != nil {
					return err
				}
				mu.Lock()
				done += int64(len(batch))
				if progress != nil {
					progress(done, max(total, done))
				}
				mu.Unlock()
			}
			return nil
		})
	}
	g.Go(func() error {
		defer func() {
			for _, ch := range shares {
				close(ch)
			}
		}()
		for {
			batch, err := en.Log.ReadAll(ctx, cursor, rebuildBatch)
			if err != nil || len(batch) == 0 {
				return err
			}
			for i, share := range split(batch) {
				if len(share) == 0 {
					continue
				}
				select {
				case shares[i] <- share:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			cursor = batch[len(batch)-1].After()
		}
	})
	return cursor, g.Wait()
}

// A rebuild reads the log rebuildBatch events at a time and applies each
// batch in rebuildShards concurrent transactions, one per share of the
// streams: projectors keep each stream's rows to themselves (see
// Projector), so streams can be applied in any order relative to each
// other, and the new generation is read by nobody until the switch.
//
// Decision (issue 33): with 4,000 events and four shares, which waited
// for each other at the end of every batch, a replay of 300,000 events ran
// at 42,000–48,000 events/s on the 2-core build machine; with 16,000 and
// two, 52,000–56,000 (more shares than cores only queue for them), and as
// many without the wait, 53,000–56,000.
var (
	rebuildBatch  = 16000
	rebuildShards = max(2, runtime.GOMAXPROCS(0))
)

// split deals a batch's events into shares by stream, in log order.
func split(batch []eventstore.Event) [][]eventstore.Event {
	shares := make([][]eventstore.Event, rebuildShards)
	for i := range shares {
		shares[i] = make([]eventstore.Event, 0, len(batch)/rebuildShards*5/4)
	}
	for _, e := range batch {
		h := fnv.New32a()
		_, _ = h.Write([]byte(e.Stream))
		i := h.Sum32() % uint32(rebuildShards)
		shares[i] = append(shares[i], e)
	}
	return shares
}

// applyShare applies a share of a batch to a generation being built.
func (en *Engine) applyShare(ctx context.Context, targets []target, share []eventstore.Event, i int) error {
	return pgx.BeginFunc(ctx, en.Pool, func(tx pgx.Tx) error {
		// A generation being built is read by nobody and rebuilt after a
		// crash: its batches need not wait for the WAL flush.
		if _, err := tx.Exec(ctx, "set local synchronous_commit = off"); err != nil {
			return err
		}
		return en.applyIn(ctx, tx, targets, share, int32(i))
	})
}

// applySharded applies a batch to a generation being built, its shares
// concurrently, and returns when all are applied.
func (en *Engine) applySharded(ctx context.Context, targets []target, batch []eventstore.Event) error {
	g, ctx := errgroup.WithContext(ctx)
	for i, share := range split(batch) {
		if len(share) > 0 {
			g.Go(func() error { return en.applyShare(ctx, targets, share, i) })
		}
	}
	return g.Wait()
}

func targetNames(ts []target) string {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.p.Name()
	}
	return strings.Join(names, ", ")
}

// createGeneration makes the generation's schema and tables. They belong to
// the group role tenantflow_runtime (migration 00011) whenever this
// connection's role is a member: every runtime login role (tenantd's, a
// rotated one, another deployment's) and the tables' owner (tools, tests)
// can then read, rebuild and drop them, not only the login role that
// happened to build them.
func createGeneration(ctx context.Context, tx pgx.Tx, p Projector, gen int) error {
	schema := pgx.Identifier{SchemaName(p.Name(), gen)}.Sanitize()
	var member bool
	if err := tx.QueryRow(ctx, `select exists (select from pg_roles where rolname = 'tenantflow_runtime')
		and pg_has_role(current_user, 'tenantflow_runtime', 'member')`).Scan(&member); err != nil {
		return err
	}
	if member {
		if _, err := tx.Exec(ctx, "set local role tenantflow_runtime"); err != nil {
			return err
		}
	}
	if err := dropGeneration(ctx, tx, p.Name(), gen); err != nil { // what a failed rebuild left
		return err
	}
	for _, stmt := range []string{"create schema " + schema,
		"set local search_path to " + schema + ", public", appliedDDL, p.DDL()} {
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("%s: %w", firstLine(stmt), err)
		}
	}
	return nil
}

// dropGeneration removes a generation's schema and its feed marks.
func dropGeneration(ctx context.Context, db interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
}, name string, gen int) error {
	if _, err := db.Exec(ctx, "drop schema if exists "+pgx.Identifier{SchemaName(name, gen)}.Sanitize()+" cascade"); err != nil {
		return err
	}
	_, err := db.Exec(ctx, `delete from projection_feeds where name = $1 and generation = $2`, name, gen)
	return err
}

func firstLine(s string) string { l, _, _ := strings.Cut(strings.TrimSpace(s), "\n"); return l }

// Generation is the projection's current generation.
func (en *Engine) Generation(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, name string) (int, error) {
	var gen int
	err := q.QueryRow(ctx, `select generation from projection_generations where name = $1`, name).Scan(&gen)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("projection %s has no tables yet (tenantd creates them at start)", name)
	}
	return gen, err
}

// Schema is the schema readers of the projection use now.
func (en *Engine) Schema(ctx context.Context, name string) (string, error) {
	s, err := en.schemas(ctx, name)
	return s[name], err
}

// schemas names the current schemas of several projections in one query
// (a tenant's detail reads three).
func (en *Engine) schemas(ctx context.Context, names ...string) (map[string]string, error) {
	rows, err := en.Pool.Query(ctx, `select name, generation from projection_generations where name = any($1)`, names)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for rows.Next() {
		var name string
		var gen int
		if err := rows.Scan(&name, &gen); err != nil {
			rows.Close()
			return nil, err
		}
		out[name] = pgx.Identifier{SchemaName(name, gen)}.Sanitize()
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, n := range names {
		if _, ok := out[n]; !ok {
			return nil, fmt.Errorf("projection %s has no tables yet (tenantd creates them at start)", n)
		}
	}
	return out, nil
}

// apply queues the statements applying events of one stream (in version
// order) on top of version applied: versions already applied are skipped,
// a gap before the first is filled from the store. It returns the last
// event applied (nil: none), for the caller to record in applied.
func (en *Engine) apply(ctx context.Context, tx pgx.Tx, q *queue, p Projector, stream string, events []eventstore.Event, applied int64,
	decoded map[string]domain.Event, histories *batchHistories) (*eventstore.Event, error) {
	if len(events) > 0 && events[0].Version > applied+1 {
		missing, err := eventstore.LoadFromIn(ctx, tx, stream, applied+1) // in the batch's transaction: see readHistories
		if err != nil {
			return nil, fmt.Errorf("fill gap in %s after version %d: %w", stream, applied, err)
		}
		events = missing // the store holds everything up to at least the record's version
	}
	var last *eventstore.Event
	f, folds := p.(Folder)
	before := applied
	for i := range events {
		e := &events[i]
		if e.Version <= applied {
			continue
		}
		if e.Version != applied+1 {
			return nil, fmt.Errorf("%s: version %d after %d: the store has a gap", stream, e.Version, applied)
		}
		de, ok := decoded[e.ID]
		if !ok {
			var err error
			if de, err = domain.DecodeVersion(e.Type, e.SchemaVersion, e.Data); err != nil {
				return nil, err
			}
			decoded[e.ID] = de
		}
		if !folds {
			if err := p.Apply(ctx, q, *e, de); err != nil {
				return nil, fmt.Errorf("%s applying %s v%d: %w", p.Name(), stream, e.Version, err)
			}
		}
		applied, last = e.Version, e
	}
	if folds && last != nil {
		h, err := histories.of(stream, before, last.Version, events, decoded)
		if err != nil {
			return nil, err
		}
		if err := f.Fold(ctx, q, stream, h); err != nil {
			return nil, fmt.Errorf("%s folding %s v%d: %w", p.Name(), stream, last.Version, err)
		}
		now := remembered{events: h.Events}
		if t, ok := h.tenants[len(h.Events)]; ok {
			now.tenant = &t
		}
		en.histories.Put(stream, now)
	}
	return last, nil
}

// batchHistories are the histories of a batch's streams for its Folders:
// those found before applying (remembered, or read), and those built, which
// every Folder of the batch at the same versions shares with its folds.
type batchHistories struct {
	found map[string]remembered
	built map[string]*History
}

// of is stream's history from version applied to upTo: its applied first
// events and the batch's after them (events, decoded by apply). The first
// Folder of the batch builds it; the others at the same versions share it.
func (b *batchHistories) of(stream string, applied, upTo int64, events []eventstore.Event, decoded map[string]domain.Event) (*History, error) {
	if h, ok := b.built[stream]; ok && int64(h.Applied) == applied && h.Last().Version == upTo {
		return h, nil
	}
	known := b.found[stream]
	if int64(len(known.events)) != applied {
		return nil, fmt.Errorf("history of %s: %d events found, %d applied", stream, len(known.events), applied)
	}
	fresh, stored := make([]domain.Event, 0, upTo-applied), make([]eventstore.Event, 0, upTo-applied)
	for _, e := range events { // in version order, each once: a record delivered again is skipped as apply skipped it
		if e.Version == applied+int64(len(stored))+1 && e.Version <= upTo {
			fresh, stored = append(fresh, decoded[e.ID]), append(stored, e)
		}
	}
	h := &History{Events: append(slices.Clip(known.events), fresh...), // never into a remembered history's array
		Applied: len(known.events), Stored: stored, tenants: map[int]foldedTenant{}}
	if known.tenant != nil {
		h.tenants[h.Applied] = *known.tenant
	}
	b.built[stream] = h
	return h, nil
}

// readHistories reads and decodes, inside the batch's transaction, the
// first upTo[stream] events of each stream whose history a Folder needs and
// memory has not got. Inside it, not through the pool: every batch holds a
// connection of the pool, and after a restart (nothing remembered) batches
// of every partition waiting for a second one held each other's forever.
func readHistories(ctx context.Context, tx pgx.Tx, upTo map[string]int64) (map[string][]domain.Event, error) {
	if len(upTo) == 0 {
		return nil, nil
	}
	streams, versions := make([]string, 0, len(upTo)), make([]int64, 0, len(upTo))
	for s, v := range upTo {
		streams, versions = append(streams, s), append(versions, v)
	}
	rows, _ := tx.Query(ctx, `select e.stream_id, e.stream_version, e.event_type, e.schema_version, e.data
		from unnest($1::text[], $2::bigint[]) as m (stream, upto)
		join events e on e.stream_id = m.stream and e.stream_version <= m.upto
		order by e.stream_id, e.stream_version`, streams, versions)
	out := map[string][]domain.Event{}
	var (
		stream, typ string
		version     int64
		schema      int
		data        []byte
	)
	_, err := pgx.ForEachRow(rows, []any{&stream, &version, &typ, &schema, &data}, func() error {
		de, err := domain.DecodeVersion(typ, schema, data)
		if err != nil {
			return fmt.Errorf("%s version %d: %w", stream, version, err)
		}
		out[stream] = append(out[stream], de)
		return nil
	})
	return out, err
}

// statement is one statement of several parts (WITH queries): a batch's
// bookkeeping of every projection, which as a statement a projection cost
// PostgreSQL an executor's start and end and tenantd an encoding each, for
// every projection a batch.
type statement struct {
	parts []string
	args  []any
}

func (st *statement) with(part string) { st.parts = append(st.parts, part) }

// arg is the placeholder of v: the same one as an equal list given before
// (the projections of tenants' streams share the batch's list of them).
func (st *statement) arg(v any) string {
	for i, a := range st.args {
		if equalLists(a, v) {
			return fmt.Sprintf("$%d", i+1)
		}
	}
	st.args = append(st.args, v)
	return fmt.Sprintf("$%d", len(st.args))
}

func equalLists(a, b any) bool {
	switch a := a.(type) {
	case []string:
		b, ok := b.([]string)
		return ok && slices.Equal(a, b)
	case []int64:
		b, ok := b.([]int64)
		return ok && slices.Equal(a, b)
	}
	return false
}

// sql is the statement: its parts, then main.
func (st *statement) sql(main string) string {
	if len(st.parts) == 0 {
		return main
	}
	return "with " + strings.Join(st.parts, ",\n") + "\n" + main
}

// recordApplied adds to st the recording of the last applied event of every
// stream of a batch in target i's applied table (schema).
func recordApplied(st *statement, i int, schema string, last []*eventstore.Event) {
	if len(last) == 0 {
		return
	}
	streams, versions := make([]string, len(last)), make([]int64, len(last))
	for j, e := range last {
		streams[j], versions[j] = e.Stream, e.Version
	}
	st.with(fmt.Sprintf(`u%d as (insert into %s.applied (stream, version) select * from unnest(%s::text[], %s::bigint[])
		on conflict (stream) do update set version = excluded.version)`, i, schema, st.arg(streams), st.arg(versions)))
}

// recordFed adds to st the move of every target's feed mark for feeder
// (projection_feeds) to the newest event of a batch they were given,
// whether or not it held streams of theirs.
func recordFed(st *statement, targets []target, feeder int32, events []eventstore.Event) {
	newest := events[0]
	for _, e := range events[1:] {
		if e.Position > newest.Position {
			newest = e
		}
	}
	names, gens := make([]string, len(targets)), make([]int32, len(targets))
	for i, t := range targets {
		names[i], gens[i] = t.p.Name(), int32(t.gen)
	}
	st.with(fmt.Sprintf(`fed as (insert into projection_feeds (name, generation, feeder, position, recorded_at)
		select name, generation, %s::integer, %s::bigint, %s::timestamptz from unnest(%s::text[], %s::int[]) as t (name, generation)
		on conflict (name, generation, feeder) do update set position = excluded.position, recorded_at = excluded.recorded_at
		where projection_feeds.position < excluded.position)`,
		st.arg(feeder), st.arg(newest.Position), st.arg(newest.RecordedAt), st.arg(names), st.arg(gens)))
}

// applyBatch applies events (any streams, log order) to the current
// generation of each projector in one transaction. feeder names the one
// source of batches (a partition, a subscription) they come from.
func (en *Engine) applyBatch(ctx context.Context, ps []Projector, events []eventstore.Event, feeder int32) error {
	return pgx.BeginFunc(ctx, en.Pool, func(tx pgx.Tx) error {
		// The current generations, once per batch. FOR SHARE: a replay's
		// switch (FOR UPDATE) waits for this transaction, and this one for
		// the switch.
		names := make([]string, len(ps))
		for i, p := range ps {
			names[i] = p.Name()
		}
		rows, _ := tx.Query(ctx, `select name, generation from projection_generations where name = any($1) for share`, names)
		current := map[string]int{}
		var name string
		var g int
		if _, err := pgx.ForEachRow(rows, []any{&name, &g}, func() error { current[name] = g; return nil }); err != nil {
			return fmt.Errorf("generations of %v: %w", names, err)
		}
		targets := make([]target, len(ps))
		for i, p := range ps {
			if targets[i] = (target{p: p, gen: current[names[i]]}); targets[i].gen == 0 {
				return fmt.Errorf("projection %s has no generation", names[i])
			}
		}
		return en.applyIn(ctx, tx, targets, events, feeder)
	})
}

// target is a projector and the generation it writes.
type target struct {
	p   Projector
	gen int
}

func (t target) schema() string { return pgx.Identifier{SchemaName(t.p.Name(), t.gen)}.Sanitize() }

// applyIn applies events to every target inside tx in two round trips:
// the targets' applied versions of the batch's streams they read (locked
// against a concurrent applier) with the search path set to every target's
// schema, then every target's statements and the feed marks pipelined
// together. Each event is decoded once for all of them.
//
// One search path serves all the targets because no two projectors name a
// table alike (TestProjectorsNameTheirTablesApart), except applied, which
// the engine always qualifies. Until 2026-12-07 each target had a search
// path and a batch of its own: 14 of a live batch's 18 round trips.
func (en *Engine) applyIn(ctx context.Context, tx pgx.Tx, targets []target, events []eventstore.Event, feeder int32) error {
	byStream := map[string][]eventstore.Event{}
	newest := map[string]int64{} // a stream's highest version in the batch: a record delivered again may follow newer ones
	var order []string
	for _, e := range events {
		if _, seen := byStream[e.Stream]; !seen {
			order = append(order, e.Stream)
		}
		byStream[e.Stream] = append(byStream[e.Stream], e)
		newest[e.Stream] = max(newest[e.Stream], e.Version)
	}
	schemas := make([]string, len(targets))
	for i, t := range targets {
		schemas[i] = t.schema()
	}
	reads := &pgx.Batch{}
	// The projectors' statements name their tables unqualified, and a batch
	// is prepared before any of it runs: the search path is set in the
	// round trip before theirs. Every statement of a batch finds its rows by
	// key; a connection plans a statement once, and a plan made while the
	// tables were small scanned them whole for as long as the connection
	// lived: plans made here never do.
	reads.Queue(`select set_config('search_path', $1, true), set_config('enable_seqscan', 'off', true)`,
		strings.Join(schemas, ", ")+", public")
	streams := make([][]string, len(targets)) // the batch's streams each target reads
	for i, t := range targets {
		for _, s := range order {
			if t.p.Reads(s) {
				streams[i] = append(streams[i], s)
			}
		}
	}
	// Every target's applied versions of the streams it reads, locked
	// against a concurrent applier, in one statement.
	var locks statement
	var selects []string
	for i := range targets {
		if len(streams[i]) > 0 {
			locks.with(fmt.Sprintf(`a%d as (select stream, version from %s.applied where stream = any(%s) order by stream for update)`,
				i, schemas[i], locks.arg(streams[i])))
			selects = append(selects, fmt.Sprintf(`select %d, stream, version from a%d`, i, i))
		}
	}
	if len(selects) > 0 {
		reads.Queue(locks.sql(strings.Join(selects, " union all ")), locks.args...)
	}
	applied := make([]map[string]int64, len(targets))
	for i := range targets {
		applied[i] = map[string]int64{}
	}
	br := tx.SendBatch(ctx, reads)
	if _, err := br.Exec(); err != nil {
		_ = br.Close()
		return err
	}
	if len(selects) > 0 {
		rows, _ := br.Query()
		var i int32
		var stream string
		var v int64
		if _, err := pgx.ForEachRow(rows, []any{&i, &stream, &v}, func() error { applied[i][stream] = v; return nil }); err != nil {
			_ = br.Close()
			return err
		}
	}
	if err := br.Close(); err != nil {
		return err
	}
	// The histories Folders need: remembered, or read now. Taken from memory
	// once, here: a rebuild and the live feed share it, each at its own
	// version of a stream.
	histories, need := map[string]remembered{}, map[string]int64{}
	for i, t := range targets {
		if _, folds := t.p.(Folder); !folds {
			continue
		}
		for _, s := range streams[i] {
			n := applied[i][s]
			if n == 0 || newest[s] <= n {
				continue // nothing before the batch, or nothing new in it
			}
			if h, ok := en.histories.Get(s); ok && int64(len(h.events)) == n {
				histories[s] = h
			} else {
				need[s] = n
			}
		}
	}
	read, err := readHistories(ctx, tx, need)
	if err != nil {
		return err
	}
	for s, evs := range read {
		histories[s] = remembered{events: evs}
	}
	folds := &batchHistories{found: histories, built: map[string]*History{}}
	decoded := map[string]domain.Event{}
	q := newQueue()
	var records statement // every target's applied versions and feed mark, one statement
	for i, t := range targets {
		var last []*eventstore.Event
		for _, s := range streams[i] {
			e, err := en.apply(ctx, tx, q, t.p, s, byStream[s], applied[i][s], decoded, folds)
			if err != nil {
				return err
			}
			if e != nil {
				last = append(last, e)
			}
		}
		recordApplied(&records, i, schemas[i], last)
	}
	recordFed(&records, targets, feeder, events)
	if err := q.flush(); err != nil {
		return err
	}
	q.b.Queue(records.sql("select 1"), records.args...)
	if err := tx.SendBatch(ctx, q.b).Close(); err != nil {
		return fmt.Errorf("apply %d events to %s: %w", len(events), strings.Join(schemas, ", "), err)
	}
	return nil
}

// Projector returns the projector called name.
func (en *Engine) Projector(name string) (Projector, error) {
	var names []string
	for _, p := range en.Projectors {
		if p.Name() == name {
			return p, nil
		}
		names = append(names, p.Name())
	}
	return nil, fmt.Errorf("no projection %q (there are %s)", name, strings.Join(names, ", "))
}

// ProgressFunc reports a rebuild's progress.
type ProgressFunc func(done, total int64)

// Rebuild builds the projection's next generation from the whole log while
// readers and the live projector keep using the current one, then switches
// them over in one transaction (catching up on what was appended
// meanwhile), and drops generations older than the previous one. It returns
// the new generation.
func (en *Engine) Rebuild(ctx context.Context, name string, progress ProgressFunc) (int, error) {
	gens, err := en.RebuildAll(ctx, []string{name}, progress)
	return gens[name], err
}

// RebuildAll is Rebuild for several projections (every one when names is
// empty) in one pass over the log: each batch read is applied to all their
// new generations in one transaction a share of its streams, and all of
// them switch over in one transaction. It returns each new generation.
//
// Decision (issue 33): until 2026-12-07 a replay of every projection was
// seven rebuilds, each reading and decoding the whole log.
func (en *Engine) RebuildAll(ctx context.Context, names []string, progress ProgressFunc) (map[string]int, error) {
	if len(names) == 0 {
		for _, p := range en.Projectors {
			names = append(names, p.Name())
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	current := map[string]int{}
	var targets []target
	for _, name := range names {
		p, err := en.Projector(name)
		if err != nil {
			return nil, err
		}
		if current[name], err = en.Generation(ctx, en.Pool, name); err != nil {
			return nil, err
		}
		targets = append(targets, target{p: p, gen: current[name] + 1})
	}
	what := strings.Join(names, ", ")
	cursor, err := en.build(ctx, targets, progress)
	if err != nil {
		return nil, fmt.Errorf("rebuild %s: %w", what, err)
	}
	// Every event committed before the rebuild ends is in the new
	// generations: ReadAll stops at the cluster's transaction horizon, which
	// any open transaction of the cluster (another database's too) holds
	// back, so wait until it passes the head the log has now.
	head, err := en.Log.Head(ctx)
	if err != nil {
		return nil, err
	}
	for cursor.Less(head) {
		batch, err := en.Log.ReadAll(ctx, cursor, rebuildBatch)
		if err != nil {
			return nil, fmt.Errorf("rebuild %s: %w", what, err)
		}
		if len(batch) == 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
			continue
		}
		if err := en.applySharded(ctx, targets, batch); err != nil {
			return nil, fmt.Errorf("rebuild %s: %w", what, err)
		}
		cursor = batch[len(batch)-1].After()
	}
	err = pgx.BeginFunc(ctx, en.Pool, func(tx pgx.Tx) error {
		// In name order, as every switch locks them: two replays of
		// overlapping sets wait for each other instead of deadlocking.
		rows, _ := tx.Query(ctx, `select name, generation from projection_generations where name = any($1) order by name for update`, names)
		var name string
		var now int
		if _, err := pgx.ForEachRow(rows, []any{&name, &now}, func() error {
			if now != current[name] {
				return fmt.Errorf("another rebuild of %s switched to generation %d meanwhile", name, now)
			}
			return nil
		}); err != nil {
			return err
		}
		for { // catch up on what was appended while building, readers waiting
			batch, err := en.Log.ReadAll(ctx, cursor, 1000)
			if err != nil {
				return err
			}
			if len(batch) == 0 {
				break
			}
			if err := en.applyIn(ctx, tx, targets, batch, 0); err != nil {
				return err
			}
			cursor = batch[len(batch)-1].After()
		}
		for _, t := range targets {
			if _, err := tx.Exec(ctx, `update projection_generations set generation = $2, switched_at = now(), projector_version = $3 where name = $1`,
				t.p.Name(), t.gen, t.p.Version()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("switch %s to their new generations: %w", what, err)
	}
	gens := map[string]int{}
	for _, t := range targets {
		gens[t.p.Name()] = t.gen
		for old := t.gen - 2; old >= 1; old-- {
			if err := dropGeneration(ctx, en.Pool, t.p.Name(), old); err != nil {
				return gens, fmt.Errorf("drop generation %d of %s: %w", old, t.p.Name(), err)
			}
		}
	}
	return gens, nil
}

// Live follows the topic in one consumer group (<groupPrefix>.projections)
// until ctx ends, so each record is fetched and decoded once for all the
// projectors. Each partition's records are applied in batches (whatever
// has been fetched, up to liveBatch), one transaction per batch for every
// projector, with the applied versions inside it. A record carries its event
// (wire.Decode), which is applied as it is; the store is read only
// to fill a gap (a version the projection has not seen before it). The
// topic must be this log's alone (TENANTFLOW_KAFKA_TOPIC per installation).
//
// Decision: the feed is Kafka rather than the PostgreSQL log. The log is the
// source of truth, and a gap is filled from it; but following it directly
// means polling the events table (or a notification channel) from every
// projecting process, load on the one component that cannot scale out,
// while Kafka already carries every record to the handlers and serves
// batches with no query at all.
func (en *Engine) Live(ctx context.Context, brokers []string, topic, groupPrefix string) error {
	consumer := kafka.Consumer{Brokers: brokers, Group: groupPrefix + ".projections", Topic: topic, InstanceID: en.InstanceID, Logger: en.logger()}
	return consumer.Batches(ctx, liveBatch,
		func(ctx context.Context, records []kafka.Record) error {
			events := make([]eventstore.Event, 0, len(records))
			feeder := records[0].Partition // a batch is one partition's
			for _, r := range records {
				e, err := wire.Decode(r.Headers, r.Value)
				if err != nil {
					en.logger().Warn("record is not an event of the log; the projections skip it",
						wire.HeaderID, r.Headers[wire.HeaderID], "error", err)
					continue
				}
				events = append(events, eventstore.Event{Event: e})
			}
			if len(events) == 0 {
				return nil
			}
			if err := en.applyBatch(ctx, en.Projectors, events, feeder); err != nil {
				return err
			}
			at := time.Now()
			for _, e := range events {
				metrics.ProjectionDelay.Observe(at.Sub(e.RecordedAt).Seconds())
			}
			if en.Applied != nil {
				en.Applied(events, at)
			}
			return nil
		})
}

// liveBatch bounds a live batch: big enough that a burst costs a few
// transactions, small enough that one stays short.
const liveBatch = 500

// FollowLog feeds every projector from the PostgreSQL log instead of Kafka,
// through a durable subscription per projector. tenantd uses Live; FollowLog
// serves deployments without a broker and tests of the read side.
func (en *Engine) FollowLog(ctx context.Context, store *eventstore.Postgres) error {
	errs := make(chan error, len(en.Projectors))
	for _, p := range en.Projectors {
		go func() {
			sub := eventstore.Subscription{Name: "projection." + p.Name(), Store: store, Logger: en.logger(),
				Handle: func(ctx context.Context, events []eventstore.Event) error {
					return en.applyBatch(ctx, []Projector{p}, events, 0)
				}}
			errs <- sub.Run(ctx)
		}()
	}
	var first error
	for range en.Projectors {
		if err := <-errs; first == nil {
			first = err
		}
	}
	return first
}

func (en *Engine) logger() *slog.Logger {
	if en.Logger == nil {
		return slog.Default()
	}
	return en.Logger
}

// Lag is how far a projection is behind the log.
type Lag struct {
	Projection string  `json:"projection"`
	Generation int     `json:"generation"`
	Positions  int64   `json:"positions"` // newest log position minus the newest fed (projection_feeds)
	Seconds    float64 `json:"seconds"`   // time between those two events
}

// Lags reports every projection's lag. The log's head is the newest event
// in the log's own (tx_id, position) order, read backwards on its index:
// events have no index on position alone, and a scan of the whole log per
// scrape grew with the log (make profile showed it as a quarter of
// PostgreSQL's execution time under the benchmark's lag sampling).
func (en *Engine) Lags(ctx context.Context) ([]Lag, error) {
	head, headAt, err := en.Log.Tip(ctx)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(en.Projectors))
	for i, p := range en.Projectors {
		names[i] = p.Name()
	}
	// Each projection's generation and its newest feed mark, in one query.
	rows, _ := en.Pool.Query(ctx, `select g.name, g.generation, coalesce(f.position, 0), coalesce(f.recorded_at, 'epoch')
		from projection_generations g
		left join lateral (select position, recorded_at from projection_feeds
		                    where name = g.name and generation = g.generation order by position desc limit 1) f on true
		where g.name = any($1)`, names)
	fed := map[string]Lag{}
	var (
		l         Lag
		applied   int64
		appliedAt time.Time
	)
	if _, err := pgx.ForEachRow(rows, []any{&l.Projection, &l.Generation, &applied, &appliedAt}, func() error {
		l.Positions, l.Seconds = head-applied, 0
		if head > 0 && applied > 0 {
			l.Seconds = headAt.Sub(appliedAt).Seconds()
		}
		fed[l.Projection] = l
		return nil
	}); err != nil {
		return nil, err
	}
	out := make([]Lag, 0, len(names))
	for _, name := range names {
		l, ok := fed[name]
		if !ok {
			return nil, fmt.Errorf("projection %s has no tables yet (tenantd creates them at start)", name)
		}
		out = append(out, l)
	}
	return out, nil
}

// Digest is an md5 over every row of every table of a projection's
// generation, in a fixed order: two generations built from the same log
// have the same digest.
func (en *Engine) Digest(ctx context.Context, name string, gen int) (string, error) {
	schema := SchemaName(name, gen)
	rows, err := en.Pool.Query(ctx, `select table_name from information_schema.tables where table_schema = $1 order by table_name`, schema)
	if err != nil {
		return "", err
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return "", err
	}
	if len(tables) == 0 {
		return "", fmt.Errorf("projection %s has no generation %d", name, gen)
	}
	var parts []string
	for _, t := range tables {
		qualified := pgx.Identifier{schema, t}.Sanitize()
		var d string
		if err := en.Pool.QueryRow(ctx, `select $1 || ':' || count(*) || ':' || coalesce(md5(string_agg(r::text, '|' order by r::text)), '')
			from `+qualified+` r`, t).Scan(&d); err != nil {
			return "", err
		}
		parts = append(parts, d)
	}
	return strings.Join(parts, ";"), nil
}
