package eventstore

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// overdueWindow bounds how far back Overdue looks: a request older than a
// week was answered or declared overdue long ago, and the index on
// recorded_at keeps each look cheap.
const overdueWindow = 7 * 24 * time.Hour

// Overdue returns the streams holding an event of one of requestTypes,
// recorded in the last week, whose data's "deadline" has passed and which
// no later event of the stream, of a type starting with answeredBy, has
// answered: the deploy step's requests to the application plane still
// waiting for a report. Each stream is named once.
func (s *Postgres) Overdue(ctx context.Context, requestTypes []string, answeredBy string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `select distinct r.stream_id from events r
		where r.event_type = any($1) and r.recorded_at > now() - $3 * interval '1 second' and (r.data->>'deadline')::timestamptz < now()
		  and not exists (select 1 from events o where o.stream_id = r.stream_id and o.stream_version > r.stream_version
		                  and starts_with(o.event_type, $2))`,
		requestTypes, answeredBy, overdueWindow.Seconds())
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// Overdue implements the same contract as Postgres.Overdue.
func (m *Memory) Overdue(_ context.Context, requestTypes []string, answeredBy string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	var out []string
	for stream, evs := range m.streams {
		for i, e := range evs {
			var d struct {
				Deadline time.Time `json:"deadline"`
			}
			if !slices.Contains(requestTypes, e.Type) || now.Sub(e.RecordedAt) > overdueWindow ||
				json.Unmarshal(e.Data, &d) != nil || d.Deadline.IsZero() || !d.Deadline.Before(now) || slices.ContainsFunc(evs[i+1:], func(o Event) bool { return strings.HasPrefix(o.Type, answeredBy) }) {
				continue
			}
			out = append(out, stream)
			break
		}
	}
	return out, nil
}
