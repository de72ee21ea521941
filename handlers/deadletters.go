package handlers

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tenantflow/tenantflow/adapters/kafka"
)

// DeadLetters keeps records no handler could decode, and holds back the
// later records of their stream, per handler, until an operator redrives
// them: a tenant is never processed past a record nobody understood. Rows
// live in PostgreSQL (table dead_letters); every dead letter is also
// published to dlq.<topic> with its reason, for whoever watches it.
type DeadLetters struct {
	Pool      *pgxpool.Pool
	Publisher message.Publisher // may be nil: then only the table holds them
}

// DeadLetter is one row.
type DeadLetter struct {
	ID        int64             `json:"id"`
	Handler   string            `json:"handler"`
	Stream    string            `json:"stream"`
	Held      bool              `json:"held"`
	Reason    string            `json:"reason"`
	Topic     string            `json:"topic"`
	Key       string            `json:"key"`
	Headers   map[string]string `json:"headers"`
	Payload   []byte            `json:"payload"`
	CreatedAt time.Time         `json:"createdAt"`
}

// holds is what the dead letters hold back, known in memory so that a record
// costs no query: loaded when the consumer is given partitions, added to when
// this process dead-letters a record, and confirmed against the table before
// a record is held (a redrive, from any process, releases rows).
type holds struct {
	dl  deadLetterStore
	mu  sync.Mutex
	set map[[2]string]bool // {handler, stream}
}

// deadLetterStore is what the engine needs of the dead letters: the table
// (DeadLetters), or a map in the choreography's in-memory tests.
type deadLetterStore interface {
	put(ctx context.Context, handler, stream, topic string, held bool, reason string, r kafka.Record) error
	holding(ctx context.Context, handler, stream string) (bool, error)
	holdAll(ctx context.Context) (map[[2]string]bool, error)
}

func newHolds(dl deadLetterStore) *holds { return &holds{dl: dl, set: map[[2]string]bool{}} }

// load replaces the set with the store's unreleased holds.
func (h *holds) load(ctx context.Context) error {
	set, err := h.dl.holdAll(ctx)
	if err != nil {
		return fmt.Errorf("load dead-letter holds: %w", err)
	}
	h.mu.Lock()
	h.set = set
	h.mu.Unlock()
	return nil
}

func (h *holds) add(handler, stream string) {
	h.mu.Lock()
	h.set[[2]string{handler, stream}] = true
	h.mu.Unlock()
}

// holding reports whether handler holds stream back.
func (h *holds) holding(ctx context.Context, handler, stream string) (bool, error) {
	k := [2]string{handler, stream}
	h.mu.Lock()
	known := h.set[k]
	h.mu.Unlock()
	if !known {
		return false, nil
	}
	held, err := h.dl.holding(ctx, handler, stream)
	if err == nil && !held {
		h.mu.Lock()
		delete(h.set, k)
		h.mu.Unlock()
	}
	return held, err
}

// holdAll returns every {handler, stream} with unreleased rows.
func (d *DeadLetters) holdAll(ctx context.Context) (map[[2]string]bool, error) {
	rows, err := d.Pool.Query(ctx, `select distinct handler, stream from dead_letters where released_at is null`)
	if err != nil {
		return nil, err
	}
	set := map[[2]string]bool{}
	var handler, stream string
	_, err = pgx.ForEachRow(rows, []any{&handler, &stream}, func() error {
		set[[2]string{handler, stream}] = true
		return nil
	})
	return set, err
}

// holding reports whether handler holds stream back, from the table.
func (d *DeadLetters) holding(ctx context.Context, handler, stream string) (bool, error) {
	if stream == "" {
		return false, nil
	}
	var held bool
	err := d.Pool.QueryRow(ctx, `select exists (select 1 from dead_letters where handler = $1 and stream = $2 and released_at is null)`,
		handler, stream).Scan(&held)
	return held, err
}

// put stores a record: a dead letter (held=false), or one held behind one.
func (d *DeadLetters) put(ctx context.Context, handler, stream, topic string, held bool, reason string, r kafka.Record) error {
	headers, err := json.Marshal(r.Headers)
	if err != nil {
		return err
	}
	if _, err := d.Pool.Exec(ctx, `insert into dead_letters (handler, stream, held, reason, topic, kafka_key, headers, payload)
		values ($1, $2, $3, $4, $5, $6, $7, $8)`,
		handler, stream, held, reason, topic, r.Key, headers, r.Value); err != nil {
		return fmt.Errorf("store dead letter: %w", err)
	}
	if held || d.Publisher == nil {
		return nil
	}
	id := r.Headers["ce_id"]
	if id == "" {
		id = watermill.NewUUID()
	}
	return d.Publisher.Publish(kafka.DLQTopic(topic), kafka.DeadLetterMessage(r, id, handler, reason))
}

// List returns the unreleased rows, oldest first.
func (d *DeadLetters) List(ctx context.Context) ([]DeadLetter, error) {
	rows, err := d.Pool.Query(ctx, `select id, handler, stream, held, reason, topic, kafka_key, headers, payload, created_at
		from dead_letters where released_at is null order by id`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (DeadLetter, error) {
		var l DeadLetter
		err := r.Scan(&l.ID, &l.Handler, &l.Stream, &l.Held, &l.Reason, &l.Topic, &l.Key, &l.Headers, &l.Payload, &l.CreatedAt)
		return l, err
	})
}

// Redrive releases every unreleased row of stream (all streams when empty)
// and publishes the records again, in their original order, to their topic:
// each handler then processes them (duplicates are harmless: handlers decide
// from the log). With discardDead the dead letters themselves are dropped
// instead of republished — for a record that will never decode. It returns
// how many records it republished.
func (d *DeadLetters) Redrive(ctx context.Context, publisher message.Publisher, stream string, discardDead bool) (int, error) {
	var letters []DeadLetter
	err := pgx.BeginFunc(ctx, d.Pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `update dead_letters set released_at = now()
			where released_at is null and ($1 = '' or stream = $1)
			returning id, handler, stream, held, reason, topic, kafka_key, headers, payload, created_at`, stream)
		if err != nil {
			return err
		}
		letters, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (DeadLetter, error) {
			var l DeadLetter
			err := r.Scan(&l.ID, &l.Handler, &l.Stream, &l.Held, &l.Reason, &l.Topic, &l.Key, &l.Headers, &l.Payload, &l.CreatedAt)
			return l, err
		})
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("release dead letters: %w", err)
	}
	// Each record was stored once per handler that met it; publish it once.
	seen := map[string]bool{}
	n := 0
	slices.SortFunc(letters, func(a, b DeadLetter) int { return cmp.Compare(a.ID, b.ID) })
	for i, l := range letters {
		id := l.Headers["ce_id"] + "|" + string(l.Payload)
		if seen[id] || (discardDead && !l.Held) {
			continue
		}
		seen[id] = true
		msg := message.NewMessage(l.Headers["ce_id"], l.Payload)
		for k, v := range l.Headers {
			msg.Metadata.Set(k, v)
		}
		if l.Key != "" {
			msg.Metadata.Set(kafka.KeyMetadata, l.Key) // same partition, so behind nothing and before what follows
		}
		if err := publisher.Publish(l.Topic, msg); err != nil {
			// Hold the rest again, so that nothing is released unpublished.
			var rest []int64
			for _, r := range letters[i:] {
				rest = append(rest, r.ID)
			}
			_, _ = d.Pool.Exec(context.WithoutCancel(ctx), `update dead_letters set released_at = null where id = any($1)`, rest)
			return n, fmt.Errorf("republish dead letter %d: %w (the rest stay held; redrive again)", l.ID, err)
		}
		n++
	}
	return n, nil
}
