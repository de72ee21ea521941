package eventstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// ErrRestoredLog means the log holds transaction ids from another cluster (a
// logical dump restored here), so new events would sort before old ones.
// Readers must not run until RepairAfterRestore has been applied.
var ErrRestoredLog = errors.New("the event log holds transaction ids newer than this cluster's " +
	"(restored from a logical dump?): run `tenantctl migrate --repair-after-restore` before starting tenantd")

// CheckHorizon returns ErrRestoredLog when any stored transaction id is not
// yet issued by this cluster — impossible unless the rows came from elsewhere.
func (s *Postgres) CheckHorizon(ctx context.Context) error {
	var foreign bool
	err := s.pool.QueryRow(ctx, `select exists (select 1 from events
		where tx_id >= pg_snapshot_xmax(pg_current_snapshot()))`).Scan(&foreign)
	if err != nil {
		return fmt.Errorf("check the log's transaction ids: %w", err)
	}
	if foreign {
		return ErrRestoredLog
	}
	return nil
}

// RepairAfterRestore makes a restored log safe to follow again, in one
// transaction that blocks appends meanwhile. Every checkpoint (tx, pos) moves
// to (0, p), p being the greatest position such that every event up to p was
// behind the old checkpoint — so nothing is skipped, and events the reader
// had already seen beyond p are delivered again (at-least-once). Then every
// stored transaction id becomes 0: old events are ordered by position, which
// within a stream is version order, and all of them before any new event.
// Running it on a healthy log changes nothing. It reports how many events and
// checkpoints it rewrote.
func (s *Postgres) RepairAfterRestore(ctx context.Context) (events, checkpoints int64, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `lock table events in exclusive mode`); err != nil {
			return err
		}
		var foreign bool
		if err := tx.QueryRow(ctx, `select exists (select 1 from events
			where tx_id >= pg_snapshot_xmax(pg_current_snapshot()))`).Scan(&foreign); err != nil {
			return err
		}
		if !foreign {
			return nil
		}
		ct, err := tx.Exec(ctx, `update checkpoints c set tx_id = '0', updated_at = now(),
			position = coalesce(
				(select min(e.position) - 1 from events e where (e.tx_id, e.position) > (c.tx_id, c.position)),
				(select coalesce(max(position), 0) from events))`)
		if err != nil {
			return fmt.Errorf("move checkpoints: %w", err)
		}
		checkpoints = ct.RowsAffected()
		ct, err = tx.Exec(ctx, `update events set tx_id = '0' where tx_id <> '0'`)
		if err != nil {
			return fmt.Errorf("rewrite transaction ids: %w", err)
		}
		events = ct.RowsAffected()
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("repair the log after a restore: %w", err)
	}
	return events, checkpoints, nil
}
