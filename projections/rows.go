package projections

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Execer is what a projector writes through. The engine queues the
// statements and sends a whole batch's in one round trip (a pgx pipeline),
// which is what makes a replay fast; so a projector can only write, never
// read back, and an error surfaces when the batch is sent.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	// Row adds a row to the batch's one statement sql, whose $n is the
	// array of the rows' nth values (select … from unnest($1::text[], …)).
	// A row's values are strings, integers, floats, booleans, times or
	// bytes; an array a row holds goes as its text ('{a,b}'), cast in sql.
	// The statement is sent after every Exec of the batch, once for all the
	// streams the batch holds: it must touch no row twice, so a projector
	// adds at most one row a key a batch.
	//
	// Decision (issue 33): a statement a row cost PostgreSQL an executor's
	// start and end and tenantd a Bind message per row: step_runs' insert
	// an event was 13.6 % of a replay's statement time, the largest after
	// the log's appends.
	Row(sql string, values ...any)
}

// queue is the Execer the engine hands to projectors: Exec's statements
// in order, then Row's, one statement each, in the order first used.
type queue struct {
	b     *pgx.Batch
	sets  map[string]*rowSet
	order []string
}

func newQueue() *queue { return &queue{b: &pgx.Batch{}, sets: map[string]*rowSet{}} }

func (q *queue) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	q.b.Queue(sql, args...)
	return pgconn.CommandTag{}, nil
}

func (q *queue) Row(sql string, values ...any) {
	s, ok := q.sets[sql]
	if !ok {
		s = &rowSet{}
		q.sets[sql], q.order = s, append(q.order, sql)
	}
	s.rows = append(s.rows, values)
}

// flush queues the row statements; an error is a row whose values do not
// match its statement's first row.
func (q *queue) flush() error {
	for _, sql := range q.order {
		args, err := q.sets[sql].columns()
		if err != nil {
			return fmt.Errorf("%s: %w", firstLine(sql), err)
		}
		q.b.Queue(sql, args...)
	}
	q.sets, q.order = map[string]*rowSet{}, nil
	return nil
}

type rowSet struct{ rows [][]any }

// columns turns the rows into one typed array a column, typed by the first
// row's value.
func (s *rowSet) columns() ([]any, error) {
	n := len(s.rows[0])
	cols := make([]any, n)
	for c := range n {
		var err error
		switch s.rows[0][c].(type) {
		case string:
			cols[c], err = column[string](s.rows, c)
		case int:
			cols[c], err = column[int](s.rows, c)
		case int32:
			cols[c], err = column[int32](s.rows, c)
		case int64:
			cols[c], err = column[int64](s.rows, c)
		case float64:
			cols[c], err = column[float64](s.rows, c)
		case bool:
			cols[c], err = column[bool](s.rows, c)
		case time.Time:
			cols[c], err = column[time.Time](s.rows, c)
		case []byte:
			cols[c], err = column[[]byte](s.rows, c)
		default:
			err = fmt.Errorf("column %d: values of type %T cannot be sent as an array", c+1, s.rows[0][c])
		}
		if err != nil {
			return nil, err
		}
	}
	return cols, nil
}

func column[T any](rows [][]any, c int) ([]T, error) {
	out := make([]T, len(rows))
	for i, r := range rows {
		if len(r) != len(rows[0]) {
			return nil, fmt.Errorf("row %d has %d values, the first %d", i+1, len(r), len(rows[0]))
		}
		v, ok := r[c].(T)
		if !ok {
			return nil, fmt.Errorf("row %d column %d: %T, the first row's is %T", i+1, c+1, r[c], rows[0][c])
		}
		out[i] = v
	}
	return out, nil
}
