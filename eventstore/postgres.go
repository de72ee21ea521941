package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
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
	}
	go s.notifier()
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

// Append appends events to stream in one transaction; see the package
// documentation for its guarantees. It returns the stream's new version.
func (s *Postgres) Append(ctx context.Context, stream string, expected ExpectedVersion, events ...NewEvent) (int64, error) {
	if err := checkSize(events, s.maxEventBytes); err != nil {
		return 0, err
	}
	v, err := appendWith(ctx, s.pool, stream, expected, events)
	if err == nil {
		s.appended()
	}
	return v, err
}

// querier is what appendWith needs: the pool (one implicit transaction per
// append) or, in tests, a transaction held open on purpose.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func appendWith(ctx context.Context, q querier, stream string, expected ExpectedVersion, events []NewEvent) (int64, error) {
	batch, err := normalize(stream, events)
	if err != nil {
		return 0, err
	}
	n := len(batch)
	ids := make([]string, n)
	types := make([]string, n)
	schemas := make([]int32, n)
	data := make([]string, n)
	meta := make([]string, n)
	for i, e := range batch {
		ids[i], types[i], schemas[i], data[i] = e.ID, e.Type, int32(e.SchemaVersion), string(e.Data)
		m, err := json.Marshal(e.Metadata)
		if err != nil {
			return 0, fmt.Errorf("encode metadata: %w", err)
		}
		meta[i] = string(m)
	}
	var version int64
	err = q.QueryRow(ctx,
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
	err := s.pool.QueryRow(ctx, `select coalesce(max(stream_version), 0) from events where stream_id = $1`, stream).Scan(&v)
	return v, err
}

// TailCursor is the cursor after which ReadAll returns the newest n events
// (below the horizon).
func (s *Postgres) TailCursor(ctx context.Context, n int) (Cursor, error) {
	var c Cursor
	var tx string
	err := s.pool.QueryRow(ctx, `select tx_id::text, position from events
		where tx_id < pg_snapshot_xmin(pg_current_snapshot()) order by tx_id desc, position desc offset $1 limit 1`, max(n, 0)).Scan(&tx, &c.Position)
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
	rows, err := s.pool.Query(ctx, `select `+eventColumns+` from events
		where stream_id = $1 and stream_version >= $2 order by stream_version`, stream, from)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", stream, err)
	}
	return collect(rows)
}

// ReadAll returns up to limit events after cursor in global order, stopping
// at the horizon below which every transaction has ended.
func (s *Postgres) ReadAll(ctx context.Context, after Cursor, limit int) ([]Event, error) {
	rows, err := s.pool.Query(ctx, `select `+eventColumns+` from events
		where (tx_id, position) > ($1::text::xid8, $2)
		  and tx_id < pg_snapshot_xmin(pg_current_snapshot())
		order by tx_id, position
		limit $3`, strconv.FormatUint(after.TxID, 10), after.Position, limit)
	if err != nil {
		return nil, fmt.Errorf("read log after %+v: %w", after, err)
	}
	return collect(rows)
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
func (s *Postgres) SaveCheckpoint(ctx context.Context, name string, c Cursor) error {
	_, err := s.pool.Exec(ctx, `insert into checkpoints (name, tx_id, position) values ($1, $2::text::xid8, $3)
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
