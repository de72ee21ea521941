package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// notifyChannel is the LISTEN/NOTIFY channel that wakes readers of the log.
const notifyChannel = "tenantflow_events"

// notifyEvery bounds how often the store sends NOTIFY, and so the extra delay
// readers in other processes see; readers in this process are woken at once.
const notifyEvery = 5 * time.Millisecond

// Postgres is the event store on PostgreSQL (schema in migrations/). It is
// safe for concurrent use; Close stops its background notifier.
type Postgres struct {
	pool   *pgxpool.Pool
	logger *slog.Logger

	// Appends wake readers in this process at once, and readers in other
	// processes through one coalesced NOTIFY. NOTIFY is not sent inside the
	// append transaction: PostgreSQL serialises the commits of notifying
	// transactions, which would undo group commit under concurrent writers.
	pending chan struct{}
	stop    chan struct{}
	done    chan struct{}

	mu      sync.Mutex
	waiters map[chan struct{}]struct{}

	maxEventBytes int // 0: DefaultMaxEventBytes
	sealer        DataSealer

	// Appends go through committers that group what arrives together into
	// one transaction (see groupCommit).
	appends chan *appendRequest
	groups  atomic.Int64 // transactions that carried more than one append
}

// DataSealer rewrites an event's data before it is stored: tenantd's seals the
// personal fields (platform/pii), so that the log keeps no plain personal
// data. It must be deterministic, so that a retried append stays the same.
type DataSealer func(ctx context.Context, data []byte) ([]byte, error)

// SetDataSealer makes every append pass its events' data through seal first.
func (s *Postgres) SetDataSealer(seal DataSealer) { s.sealer = seal }

// sealed is events with their data through the sealer (a copy: the
// caller's slice is not changed).
func (s *Postgres) sealed(ctx context.Context, events []NewEvent) ([]NewEvent, error) {
	if s.sealer == nil {
		return events, nil
	}
	out := make([]NewEvent, len(events))
	for i, e := range events {
		data, err := s.sealer(ctx, e.Data)
		if err != nil {
			return nil, fmt.Errorf("seal personal data of %s: %w", e.Type, err)
		}
		e.Data = data
		out[i] = e
	}
	return out, nil
}

// SetMaxEventBytes sets the cap on one event's data (<= 0: the default).
// Call it before the store is used.
func (s *Postgres) SetMaxEventBytes(n int) { s.maxEventBytes = n }

// NewPostgres returns a store on pool (migrated with migrations.Up).
func NewPostgres(pool *pgxpool.Pool, logger *slog.Logger) *Postgres {
	s := &Postgres{
		pool:    pool,
		logger:  logger,
		pending: make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		waiters: map[chan struct{}]struct{}{},
		appends: make(chan *appendRequest),
	}
	go s.notifier()
	for range committers {
		go s.committer()
	}
	return s
}

// Close stops the notifier. It does not close the pool.
func (s *Postgres) Close() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
}

// Pool is the connection pool the store uses.
func (s *Postgres) Pool() *pgxpool.Pool { return s.pool }

// StreamsMentioning lists the streams with prefix whose events' data holds
// text (a sealed field's key id, for an erasure): a scan of the log, for
// operators' tools, not the hot path.
func (s *Postgres) StreamsMentioning(ctx context.Context, prefix, text string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `select distinct stream_id from events where starts_with(stream_id, $1) and strpos(data::text, $2) > 0 order by 1`, prefix, text)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// Append appends events to stream in one transaction; see the package
// documentation for its guarantees. It returns the stream's new version.
//
// Appends made at the same time in this process share a transaction and its
// commit (group commit): each one still succeeds or fails on its own, as if
// it had been alone. Once handed to a committer, an append is carried out
// even if ctx ends meanwhile, as one whose commit reply was lost would be;
// the caller learns of it when it appends again (ids make that safe).
func (s *Postgres) Append(ctx context.Context, stream string, expected ExpectedVersion, events ...NewEvent) (int64, error) {
	events, err := s.sealed(ctx, events)
	if err != nil {
		return 0, err
	}
	if err := checkSize(events, s.maxEventBytes); err != nil {
		return 0, err
	}
	batch, err := normalize(stream, events)
	if err != nil {
		return 0, err
	}
	meta, err := encodeMetadata(batch)
	if err != nil {
		return 0, err
	}
	r := &appendRequest{stream: stream, expected: expected, events: batch, meta: meta, done: make(chan appendResult, 1)}
	select {
	case s.appends <- r:
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-s.stop: // closed: no committers, append alone
		r.done <- s.appendAlone(ctx, r)
	}
	res := <-r.done
	if res.err == nil {
		s.appended()
	}
	return res.version, res.err
}

// committers is how many transactions carry appends at once. While they are
// all busy, new appends wait and then go together in the next one.
const committers = 4

// maxGroup bounds the appends one transaction carries.
const maxGroup = 64

type appendRequest struct {
	stream   string
	expected ExpectedVersion
	events   []NewEvent
	meta     []string // each event's metadata, encoded
	done     chan appendResult
}

type appendResult struct {
	version int64
	err     error
}

// committer takes an append and whatever else is waiting, and commits them.
func (s *Postgres) committer() {
	for {
		var first *appendRequest
		select {
		case <-s.stop:
			return
		case first = <-s.appends:
		}
		group := []*appendRequest{first}
	drain:
		for len(group) < maxGroup {
			select {
			case r := <-s.appends:
				group = append(group, r)
			default:
				break drain
			}
		}
		s.groupCommit(group)
	}
}

// groupCommit appends the group in one transaction (append_events_many),
// answering each request with its own version or error. When the call
// fails as a whole (a concurrent writer stored one of its ids first, the
// database went away), each append is made alone, so that one bad part
// fails nothing else.
func (s *Postgres) groupCommit(group []*appendRequest) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Stream order: the lock order of every multi-stream writer.
	slices.SortStableFunc(group, func(a, b *appendRequest) int { return strings.Compare(a.stream, b.stream) })
	results := make([]appendResult, len(group))
	rows, _ := s.pool.Query(ctx, `select out_part, out_version, out_code, out_actual
		from append_events_many($1, $2, $3, $4::uuid[], $5, $6, $7::jsonb[], $8::jsonb[])`, partsArgs(group)...)
	var (
		part    int
		version *int64
		code    *string
		actual  *int64
	)
	_, err := pgx.ForEachRow(rows, []any{&part, &version, &code, &actual}, func() error {
		r, res := group[part-1], &results[part-1]
		switch {
		case code == nil && version != nil:
			res.version = *version
		case code != nil && *code == "TF001" && actual != nil:
			res.err = &ConcurrencyError{Stream: r.stream, Expected: r.expected, Actual: *actual}
		default:
			res.err = fmt.Errorf("append to %s: %w", r.stream, ErrEventConflict)
		}
		return nil
	})
	if err != nil {
		for _, r := range group {
			r.done <- s.appendAlone(ctx, r)
		}
		return
	}
	s.groups.Add(1)
	for i, r := range group {
		r.done <- results[i]
	}
}

// partsArgs are the arguments append_events_many and append_events_all
// take for parts (in stream order): the streams, their expectations and
// event counts, then every part's events, column by column.
func partsArgs(parts []*appendRequest) []any {
	var (
		streams    = make([]string, len(parts))
		expected   = make([]int64, len(parts))
		counts     = make([]int32, len(parts))
		ids, types []string
		schemas    []int32
		data, meta []string
	)
	for i, r := range parts {
		streams[i], expected[i], counts[i] = r.stream, int64(r.expected), int32(len(r.events))
		for _, e := range r.events {
			ids, types, schemas = append(ids, e.ID), append(types, e.Type), append(schemas, int32(e.SchemaVersion))
			data = append(data, string(e.Data))
		}
		meta = append(meta, r.meta...)
	}
	return []any{streams, expected, counts, ids, types, schemas, data, meta}
}

func (s *Postgres) appendAlone(ctx context.Context, r *appendRequest) appendResult {
	v, err := appendEncoded(ctx, s.pool, r.stream, r.expected, r.events, r.meta)
	return appendResult{version: v, err: err}
}

// querier is what appendEncoded needs: the pool (one implicit transaction
// per append) or, in tests, a transaction held open on purpose.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// encodeMetadata is each event's metadata as JSON.
func encodeMetadata(batch []NewEvent) ([]string, error) {
	meta := make([]string, len(batch))
	for i, e := range batch {
		m, err := json.Marshal(e.Metadata)
		if err != nil {
			return nil, fmt.Errorf("encode metadata: %w", err)
		}
		meta[i] = string(m)
	}
	return meta, nil
}

// appendEncoded appends a batch already normalized, its metadata encoded
// (a committer's lone append: Append did both), with append_events.
func appendEncoded(ctx context.Context, q querier, stream string, expected ExpectedVersion, batch []NewEvent, meta []string) (int64, error) {
	n := len(batch)
	ids := make([]string, n)
	types := make([]string, n)
	schemas := make([]int32, n)
	data := make([]string, n)
	for i, e := range batch {
		ids[i], types[i], schemas[i], data[i] = e.ID, e.Type, int32(e.SchemaVersion), string(e.Data)
	}
	var version int64
	err := q.QueryRow(ctx,
		`select append_events($1, $2, $3::uuid[], $4, $5, $6::jsonb[], $7::jsonb[])`,
		stream, int64(expected), ids, types, schemas, data, meta).Scan(&version)
	if err != nil {
		return 0, appendError(stream, expected, err)
	}
	return version, nil
}

func appendError(stream string, expected ExpectedVersion, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "TF001":
			actual, _ := strconv.ParseInt(pgErr.Detail, 10, 64)
			return &ConcurrencyError{Stream: stream, Expected: expected, Actual: actual}
		case "TF002":
			return fmt.Errorf("append to %s: %w", stream, ErrEventConflict)
		case "23505": // a concurrent append stored one of these ids in another stream first
			if pgErr.ConstraintName == "events_event_id_key" {
				return fmt.Errorf("append to %s: %w", stream, ErrEventConflict)
			}
			if pgErr.ConstraintName == "events_pkey" {
				return fmt.Errorf("append to %s: version taken concurrently: %w", stream, err)
			}
		}
	}
	return fmt.Errorf("append to %s: %w", stream, err)
}

// eventColumns is the select list of an Event. The transaction id is read as
// text under another name: an output column named tx_id would be what
// "order by tx_id" sorts by, in text order, putting 10000 before 9999.
const eventColumns = `event_id::text, stream_id, stream_version, event_type, schema_version,
	data, metadata, recorded_at, position, tx_id::text as tx_id_text, hash`

// Load returns every event of stream in version order (none if it does not exist).
func (s *Postgres) Load(ctx context.Context, stream string) ([]Event, error) {
	return s.LoadFrom(ctx, stream, 1)
}

// StreamVersion is the stream's current version (0: no events).
func (s *Postgres) StreamVersion(ctx context.Context, stream string) (int64, error) {
	var v int64
	err := s.pool.QueryRow(ctx, `select `+HeadSQL("$1"), stream).Scan(&v)
	return v, err
}

// HeadSQL is StreamVersion as a SQL expression, for a statement that
// reads something beside the log and must compare it with the log's head
// in the same snapshot (GET /tenants/{id}): stream is a SQL expression.
func HeadSQL(stream string) string {
	return `(select coalesce(max(stream_version), 0) from events where stream_id = ` + stream + `)`
}

// horizonSQL is the transaction id below which every transaction has ended
// (event.go): readers stop before it, and HeldBack looks at it and beyond
// (events_held_back, migration 00019, writes the same expression), so the
// two are complements.
const horizonSQL = `pg_snapshot_xmin(pg_current_snapshot())`

// TailCursor is the cursor after which ReadAll returns the newest n events
// (below the horizon).
func (s *Postgres) TailCursor(ctx context.Context, n int) (Cursor, error) {
	var c Cursor
	var tx string
	err := s.pool.QueryRow(ctx, `select tx_id::text, position from events
		where tx_id < `+horizonSQL+` order by tx_id desc, position desc offset $1 limit 1`, max(n, 0)).Scan(&tx, &c.Position)
	if errors.Is(err, pgx.ErrNoRows) {
		return Cursor{}, nil // fewer than n+1 events: from the start
	}
	if err != nil {
		return c, err
	}
	c.TxID, err = strconv.ParseUint(tx, 10, 64)
	return c, err
}

// LoadFrom returns the events of stream from version from on, in version order.
func (s *Postgres) LoadFrom(ctx context.Context, stream string, from int64) ([]Event, error) {
	return LoadFromIn(ctx, s.pool, stream, from)
}

// LoadFromIn is LoadFrom through tx, a transaction of the caller's on the
// log's database: a projection batch reads what it lacks inside its own
// transaction, since a second connection from the pool may be one every
// other batch holds.
func LoadFromIn(ctx context.Context, tx interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}, stream string, from int64) ([]Event, error) {
	rows, err := tx.Query(ctx, `select `+eventColumns+` from events
		where stream_id = $1 and stream_version >= $2 order by stream_version`, stream, from)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", stream, err)
	}
	return collect(rows)
}

// Head is the cursor just past the last committed event (ReadAll may not
// reach it yet: it stops at the cluster's transaction horizon).
func (s *Postgres) Head(ctx context.Context) (Cursor, error) {
	var tx string
	var c Cursor
	err := s.pool.QueryRow(ctx, `select tx_id::text, position from events order by tx_id desc, position desc limit 1`).Scan(&tx, &c.Position)
	if errors.Is(err, pgx.ErrNoRows) {
		return Cursor{}, nil
	}
	if err != nil {
		return Cursor{}, fmt.Errorf("read the log's head: %w", err)
	}
	c.TxID, err = strconv.ParseUint(tx, 10, 64)
	return c, err
}

// ReadAll returns up to limit events after cursor in global order, stopping
// at the horizon below which every transaction has ended.
func (s *Postgres) ReadAll(ctx context.Context, after Cursor, limit int) ([]Event, error) {
	rows, err := s.pool.Query(ctx, `select `+eventColumns+` from events
		where (tx_id, position) > ($1::text::xid8, $2)
		  and tx_id < `+horizonSQL+`
		order by tx_id, position
		limit $3`, strconv.FormatUint(after.TxID, 10), after.Position, limit)
	if err != nil {
		return nil, fmt.Errorf("read log after %+v: %w", after, err)
	}
	return collect(rows)
}

// HeldBack reports whether committed events after the cursor wait behind
// ReadAll's horizon, the oldest transaction still running: they will be
// read as soon as it ends.
func (s *Postgres) HeldBack(ctx context.Context, after Cursor) (bool, error) {
	var held bool
	err := s.pool.QueryRow(ctx, `select events_held_back($1::text::xid8, $2)`, // migration 00019
		strconv.FormatUint(after.TxID, 10), after.Position).Scan(&held)
	return held, err
}

func collect(rows pgx.Rows) ([]Event, error) {
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		var data, meta []byte
		var tx string
		if err := rows.Scan(&e.ID, &e.Stream, &e.Version, &e.Type, &e.SchemaVersion,
			&data, &meta, &e.RecordedAt, &e.Position, &tx, &e.Hash); err != nil {
			return nil, fmt.Errorf("scan event: %w", err)
		}
		e.Data = data
		if err := json.Unmarshal(meta, &e.Metadata); err != nil {
			return nil, fmt.Errorf("decode metadata of event %s: %w", e.ID, err)
		}
		var err error
		if e.TxID, err = strconv.ParseUint(tx, 10, 64); err != nil {
			return nil, fmt.Errorf("parse tx id of event %s: %w", e.ID, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	return out, nil
}

// Checkpoint returns the durable cursor saved under name (zero if none).
func (s *Postgres) Checkpoint(ctx context.Context, name string) (Cursor, error) {
	var tx string
	var c Cursor
	err := s.pool.QueryRow(ctx, `select tx_id::text, position from checkpoints where name = $1`, name).Scan(&tx, &c.Position)
	if errors.Is(err, pgx.ErrNoRows) {
		return Cursor{}, nil
	}
	if err != nil {
		return Cursor{}, fmt.Errorf("read checkpoint %s: %w", name, err)
	}
	c.TxID, err = strconv.ParseUint(tx, 10, 64)
	return c, err
}

// SaveCheckpoint stores c under name; a checkpoint never moves backwards.
// It commits without waiting for the WAL flush (synchronous_commit off for
// this one statement): a checkpoint lost in a crash only delivers its
// events again, which every reader of the log handles (the relay's records
// are deduplicated by ce_id, projections by applied version).
func (s *Postgres) SaveCheckpoint(ctx context.Context, name string, c Cursor) error {
	_, err := s.pool.Exec(ctx, `insert into checkpoints (name, tx_id, position)
		select $1, $2::text::xid8, $3 from (select set_config('synchronous_commit', 'off', true)) async
		on conflict (name) do update set tx_id = excluded.tx_id, position = excluded.position, updated_at = now()
		where (checkpoints.tx_id, checkpoints.position) < (excluded.tx_id, excluded.position)`,
		name, strconv.FormatUint(c.TxID, 10), c.Position)
	if err != nil {
		return fmt.Errorf("save checkpoint %s: %w", name, err)
	}
	return nil
}

// --- waking readers -------------------------------------------------------

// appended wakes local readers and schedules one NOTIFY for other processes.
func (s *Postgres) appended() {
	s.wakeLocal()
	select {
	case s.pending <- struct{}{}:
	default: // one is already scheduled; it covers this append too
	}
}

func (s *Postgres) wakeLocal() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for w := range s.waiters {
		select {
		case w <- struct{}{}:
		default:
		}
	}
}

func (s *Postgres) notifier() {
	defer close(s.done)
	for {
		select {
		case <-s.stop:
			return
		case <-s.pending:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if _, err := s.pool.Exec(ctx, `select pg_notify($1, '')`, notifyChannel); err != nil {
			// Readers elsewhere fall back to polling; nothing is lost.
			s.logger.Warn("notify readers of new events failed", "error", err)
		}
		cancel()
		// At most one NOTIFY per notifyEvery: under load one covers many
		// appends, instead of costing the server a statement per append.
		select {
		case <-s.stop:
			return
		case <-time.After(notifyEvery):
		}
	}
}

// Wakeups returns a channel that receives (coalesced) when events may have
// been appended, by this process or — through LISTEN — by any other. It is
// a hint only: readers must also poll. The channel is released when ctx ends.
func (s *Postgres) Wakeups(ctx context.Context) <-chan struct{} {
	w := make(chan struct{}, 1)
	s.mu.Lock()
	s.waiters[w] = struct{}{}
	s.mu.Unlock()
	go s.listen(ctx, w)
	return w
}

// listen forwards NOTIFYs to w on a dedicated connection, reconnecting after
// failures, until ctx ends.
func (s *Postgres) listen(ctx context.Context, w chan struct{}) {
	defer func() {
		s.mu.Lock()
		delete(s.waiters, w)
		s.mu.Unlock()
	}()
	for ctx.Err() == nil {
		err := s.listenOnce(ctx, w)
		if ctx.Err() != nil {
			return
		}
		s.logger.Warn("listening for new events failed; polling until it is back", "error", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

func (s *Postgres) listenOnce(ctx context.Context, w chan struct{}) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// A LISTENing connection must not go back to the pool.
	pc := conn.Hijack()
	defer pc.Close(context.Background())
	if _, err := pc.Exec(ctx, "listen "+notifyChannel); err != nil {
		return err
	}
	for {
		if _, err := pc.WaitForNotification(ctx); err != nil {
			return err
		}
		select {
		case w <- struct{}{}:
		default:
		}
	}
}
