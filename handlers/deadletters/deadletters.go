// Package deadletters keeps the records no handler could handle, in
// PostgreSQL and on dlq.<topic>, and redrives them when an operator says so
// (tenantctl dlq): an operator's tool, beside the steps.
package deadletters

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tenantflow/tenantflow/adapters/kafka"
	"github.com/tenantflow/tenantflow/eventstore/wire"
)

// Table keeps records no handler could decode, and holds back the
// later records of their stream, per handler, until an operator redrives
// them: a tenant is never processed past a record nobody understood. Rows
// live in PostgreSQL (table dead_letters); every dead letter is also
// published to dlq.<topic> with its reason, for whoever watches it.
type Table struct {
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

// HoldAll returns every {handler, stream} with unreleased rows.
func (d *Table) HoldAll(ctx context.Context) (map[[2]string]bool, error) {
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

// Holding reports whether handler holds stream back, from the table.
func (d *Table) Holding(ctx context.Context, handler, stream string) (bool, error) {
	if stream == "" {
		return false, nil
	}
	var held bool
	err := d.Pool.QueryRow(ctx, `select exists (select 1 from dead_letters where handler = $1 and stream = $2 and released_at is null)`,
		handler, stream).Scan(&held)
	return held, err
}

// Put stores a record: a dead letter (held=false), or one held behind one.
func (d *Table) Put(ctx context.Context, handler, stream, topic string, held bool, reason string, r kafka.Record) error {
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
	id := r.Headers[wire.HeaderID]
	if id == "" {
		id = watermill.NewUUID()
	}
	return d.Publisher.Publish(kafka.DLQTopic(topic), kafka.DeadLetterMessage(r, id, handler, reason))
}

// List returns the unreleased rows, oldest first.
func (d *Table) List(ctx context.Context) ([]DeadLetter, error) {
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
func (d *Table) Redrive(ctx context.Context, publisher message.Publisher, stream string, discardDead bool) (int, error) {
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
		id := l.Headers[wire.HeaderID] + "|" + string(l.Payload)
		if seen[id] || (discardDead && !l.Held) {
			continue
		}
		seen[id] = true
		msg := message.NewMessage(l.Headers[wire.HeaderID], l.Payload)
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
