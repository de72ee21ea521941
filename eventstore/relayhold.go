package eventstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// A record the broker refuses for good (over its message size, invalid)
// must not stop the relay, or one input would stop provisioning for every
// tenant. The relay sets it aside in relay_held, with every later record of
// its stream (so consumers of that stream never see a gap), and goes on with
// every other stream. An operator looks with `tenantctl relay held` and,
// once the cause is fixed (a bigger message.max.bytes, say), asks for a
// release with `tenantctl relay release <stream>`: the active relay then
// publishes the stream's held records in order, or holds it again.

// HeldRecord is a record the relay set aside.
type HeldRecord struct {
	Topic            string    `json:"topic"`
	Position         int64     `json:"position"`
	Stream           string    `json:"stream"`
	EventID          string    `json:"eventId"`
	EventType        string    `json:"eventType"`
	Reason           string    `json:"reason"` // "" for a record held behind a refused one
	HeldAt           time.Time `json:"heldAt"`
	ReleaseRequested bool      `json:"releaseRequested"`
}

// ListHeld lists the held records of every topic, by topic and position.
func (s *Postgres) ListHeld(ctx context.Context) ([]HeldRecord, error) {
	rows, err := s.pool.Query(ctx, `select topic, position, stream, event_id::text, event_type, reason, held_at, release_requested
		from relay_held order by topic, position`)
	if err != nil {
		return nil, fmt.Errorf("list held records: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[HeldRecord])
}

// RequestRelease asks the active relay of topic to publish stream's held
// records again; it reports how many records the request covers (0: the
// stream holds none).
func (s *Postgres) RequestRelease(ctx context.Context, topic, stream string) (int64, error) {
	tag, err := s.pool.Exec(ctx, `update relay_held set release_requested = true where topic = $1 and stream = $2`, topic, stream)
	if err != nil {
		return 0, fmt.Errorf("request the release of %s: %w", stream, err)
	}
	return tag.RowsAffected(), nil
}

// HeldStreams lists the streams of topic with held records; with
// releaseRequested, only those an operator asked to release.
func (s *Postgres) HeldStreams(ctx context.Context, topic string, releaseRequested bool) ([]string, error) {
	rows, err := s.pool.Query(ctx, `select distinct stream from relay_held where topic = $1 and (release_requested or not $2)`, topic, releaseRequested)
	if err != nil {
		return nil, fmt.Errorf("read held streams: %w", err)
	}
	streams, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("read held streams: %w", err)
	}
	return streams, nil
}

// Hold sets e aside for topic (once: holding it again changes nothing).
func (s *Postgres) Hold(ctx context.Context, topic string, e Event, reason string) error {
	_, err := s.pool.Exec(ctx, `insert into relay_held (topic, position, stream, event_id, event_type, reason)
		values ($1, $2, $3, $4, $5, $6) on conflict (topic, position) do nothing`, topic, e.Position, e.Stream, e.ID, e.Type, reason)
	if err != nil {
		return fmt.Errorf("hold record %s: %w", e.ID, err)
	}
	return nil
}

// HeldPositions lists stream's held positions in topic, in log order.
func (s *Postgres) HeldPositions(ctx context.Context, topic, stream string) ([]int64, error) {
	rows, err := s.pool.Query(ctx, `select position from relay_held where topic = $1 and stream = $2 order by position`, topic, stream)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

// HoldAgain keeps stream held after its record at position was refused
// again: the release request is cleared and the refusal noted.
func (s *Postgres) HoldAgain(ctx context.Context, topic, stream string, position int64, reason string) error {
	_, err := s.pool.Exec(ctx, `update relay_held set release_requested = false,
		reason = case when position = $3 then $4 else reason end where topic = $1 and stream = $2`, topic, stream, position, reason)
	return err
}

// Unhold forgets the held record at position of topic.
func (s *Postgres) Unhold(ctx context.Context, topic string, position int64) error {
	_, err := s.pool.Exec(ctx, `delete from relay_held where topic = $1 and position = $2`, topic, position)
	return err
}

// HeldCount is the number of held records of every topic (a metric).
func (s *Postgres) HeldCount(ctx context.Context) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `select count(*) from relay_held`).Scan(&n)
	return n, err
}

// loadHeld reads which streams of the topic are held (on taking the lead).
func (r *Relay) loadHeld(ctx context.Context) error {
	streams, err := r.Store.HeldStreams(ctx, r.Topic, false)
	if err != nil {
		return fmt.Errorf("read held streams: %w", err)
	}
	r.held = map[string]bool{}
	for _, s := range streams {
		r.held[s] = true
	}
	if len(streams) > 0 {
		r.Logger.Error("relay: streams are held behind records the broker refused; see tenantctl relay held", "streams", len(streams))
	}
	return nil
}

// hold sets e aside; reason is the broker's refusal, or "" when e is only
// held behind an earlier record of its stream.
func (r *Relay) hold(ctx context.Context, e Event, reason string) error {
	if err := r.Store.Hold(ctx, r.Topic, e, reason); err != nil {
		return err
	}
	r.held[e.Stream] = true
	if reason != "" {
		r.Logger.Error("relay: the broker refused a record for good; its stream is held, every other stream goes on",
			"stream", e.Stream, "event_id", e.ID, "event_type", e.Type, "bytes", len(e.Data), "reason", reason)
	}
	if r.OnHeld != nil {
		r.OnHeld(e, reason)
	}
	return nil
}

// relayBatch is the relay's Subscription handler: it publishes the batch,
// setting aside records of held streams and records the broker refuses for
// good, so that nothing but a transient error (retried from the checkpoint)
// can stop the log.
func (r *Relay) relayBatch(ctx context.Context, events []Event) error {
	send := make([]Event, 0, len(events))
	for _, e := range events {
		held, err := r.holdBehind(ctx, e)
		if err != nil {
			return err
		}
		if held {
			continue
		}
		send = append(send, e)
	}
	err := r.publish(ctx, send)
	if err == nil || !r.refused(err) {
		return err
	}
	// Some record was refused: publish one by one, in log order, to find it.
	// Records published twice by this are duplicates consumers already expect.
	for _, e := range send {
		held, err := r.holdBehind(ctx, e)
		if err != nil {
			return err
		}
		if held {
			continue
		}
		err = r.publish(ctx, []Event{e})
		switch {
		case err == nil:
		case r.refused(err):
			if err := r.hold(ctx, e, err.Error()); err != nil {
				return err
			}
		default:
			return err
		}
	}
	return nil
}

// holdBehind holds e when its stream is held, and says whether it did.
func (r *Relay) holdBehind(ctx context.Context, e Event) (bool, error) {
	if !r.held[e.Stream] {
		return false, nil
	}
	return true, r.hold(ctx, e, "")
}

func (r *Relay) refused(err error) bool { return r.Refused != nil && r.Refused(err) }

// releaseRequested publishes the held records of every stream an operator
// released. It runs between batches, in the relay's own goroutine, so a
// released stream's records still go out in order. Errors are logged and
// the release retried later: they must not hold up other streams.
func (r *Relay) releaseRequested(ctx context.Context) {
	// Only this relay holds streams (it loaded every held one on taking the
	// lead): with none held there is nothing to release and no query to make.
	if len(r.held) == 0 || time.Since(r.releaseCheckedAt) < r.ReleaseCheck {
		return
	}
	r.releaseCheckedAt = time.Now()
	streams, err := r.Store.HeldStreams(ctx, r.Topic, true)
	if err == nil {
		for _, s := range streams {
			if err = r.release(ctx, s); err != nil {
				break
			}
		}
	}
	if err != nil && ctx.Err() == nil {
		r.Logger.Warn("relay: releasing held records failed; retrying", "error", err)
	}
}

// release publishes stream's held records in order and forgets each one the
// broker acknowledged; a record refused again holds the stream again.
func (r *Relay) release(ctx context.Context, stream string) error {
	positions, err := r.Store.HeldPositions(ctx, r.Topic, stream)
	if err != nil {
		return err
	}
	events, err := r.Store.LoadFrom(ctx, stream, 1)
	if err != nil {
		return err
	}
	byPosition := make(map[int64]Event, len(events))
	for _, e := range events {
		byPosition[e.Position] = e
	}
	for _, p := range positions {
		e, ok := byPosition[p]
		if !ok {
			return fmt.Errorf("held record at position %d of %s is not in the log", p, stream)
		}
		err := r.publish(ctx, []Event{e})
		if r.refused(err) {
			r.Logger.Error("relay: a released record was refused again; its stream stays held", "stream", stream, "event_id", e.ID, "reason", err.Error())
			return r.Store.HoldAgain(ctx, r.Topic, stream, p, err.Error())
		}
		if err != nil {
			return err
		}
		if err := r.Store.Unhold(ctx, r.Topic, p); err != nil {
			return err
		}
	}
	delete(r.held, stream)
	r.Logger.Info("relay: held stream released and published", "stream", stream, "records", len(positions))
	return nil
}
