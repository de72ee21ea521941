package eventstore

import (
	"context"
	"time"
)

// Count is the number of events in the log.
func (s *Postgres) Count(ctx context.Context) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `select count(*) from events`).Scan(&n)
	return n, err
}

// Behind is the number of events after checkpoint name (every event when
// the checkpoint does not exist yet).
func (s *Postgres) Behind(ctx context.Context, name string) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `select count(*) from events e, (select tx_id, position from checkpoints where name = $1
		union all select '0'::xid8, 0 limit 1) c where (e.tx_id, e.position) > (c.tx_id, c.position)`, name).Scan(&n)
	return n, err
}

// Tip is the position and recording time of the last event in commit
// order (zero when the log is empty).
func (s *Postgres) Tip(ctx context.Context) (int64, time.Time, error) {
	var (
		position int64
		at       time.Time
	)
	err := s.pool.QueryRow(ctx, `select coalesce(max(position), 0), coalesce(max(recorded_at), 'epoch')
		from (select position, recorded_at from events order by tx_id desc, position desc limit 1) last`).Scan(&position, &at)
	if position == 0 {
		at = time.Time{}
	}
	return position, at, err
}

// Count is the number of events in the log.
func (m *Memory) Count(context.Context) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return int64(len(m.log)), nil
}

// Behind is the number of events after checkpoint name.
func (m *Memory) Behind(_ context.Context, name string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.checkpoints[name]
	var n int64
	for _, e := range m.log {
		if c.Less(e.After()) {
			n++
		}
	}
	return n, nil
}

// Tip is the position and recording time of the last event appended.
func (m *Memory) Tip(context.Context) (int64, time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.log) == 0 {
		return 0, time.Time{}, nil
	}
	last := m.log[len(m.log)-1]
	return last.Position, last.RecordedAt, nil
}

// Checkpoint is the cursor saved under name (zero: the log's start).
func (m *Memory) Checkpoint(_ context.Context, name string) (Cursor, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.checkpoints[name], nil
}

// SaveCheckpoint saves c under name.
func (m *Memory) SaveCheckpoint(_ context.Context, name string, c Cursor) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.checkpoints[name] = c
	return nil
}

// Wakeups signals after appends in this store; a reader that misses a
// signal (the channel holds one) still polls.
func (m *Memory) Wakeups(ctx context.Context) <-chan struct{} {
	w := make(chan struct{}, 1)
	m.mu.Lock()
	m.wake = append(m.wake, w)
	m.mu.Unlock()
	go func() {
		<-ctx.Done()
		m.mu.Lock()
		defer m.mu.Unlock()
		for i, x := range m.wake {
			if x == w {
				m.wake = append(m.wake[:i], m.wake[i+1:]...)
				break
			}
		}
	}()
	return w
}
