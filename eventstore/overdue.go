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
// week was answered or declared overdue long ago. (There is no index on
// recorded_at — each one would cost every append — so the look still reads
// the log's rows; the lifecycle watcher's looks use partial indexes
// instead, migration 00014.)
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

// provisioningRequested is the type of the events whose subscriptions
// SubscriptionsEnded reads (domain.TypeProvisioningRequested; the
// migration's partial index names it too).
const provisioningRequested = "tenant.provisioning.requested"

// SubscriptionsEnded names each stream whose latest provisioning request
// has a data.subscription.endDate at or before before (a zero one, 0001-01-01,
// is no end), and which no later event of one of endedBy types followed:
// expiry's candidates. The partial index events_provisioning_requests keeps
// the look to provisioning requests, one row per attempt.
func (s *Postgres) SubscriptionsEnded(ctx context.Context, endedBy []string, before time.Time) ([]string, error) {
	rows, err := s.pool.Query(ctx, `select r.stream_id from events r
		where r.event_type = 'tenant.provisioning.requested'
		  and (r.data->'subscription'->>'endDate')::timestamptz > '0001-01-01 00:00:00+00'
		  and (r.data->'subscription'->>'endDate')::timestamptz <= $2
		  and not exists (select 1 from events o where o.stream_id = r.stream_id and o.stream_version > r.stream_version
		                  and (o.event_type = 'tenant.provisioning.requested' or o.event_type = any($1)))`,
		endedBy, before)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// SubscriptionsEnded implements the same contract as Postgres.SubscriptionsEnded.
func (m *Memory) SubscriptionsEnded(_ context.Context, endedBy []string, before time.Time) ([]string, error) {
	return m.latestDue(provisioningRequested, endedBy, func(data json.RawMessage) bool {
		var d struct {
			Subscription struct {
				EndDate time.Time `json:"endDate"`
			} `json:"subscription"`
		}
		return json.Unmarshal(data, &d) == nil && !d.Subscription.EndDate.IsZero() && !d.Subscription.EndDate.After(before)
	}), nil
}

// latestDue names each stream whose latest event of type typ is due (by
// its data) and that no later event of one of endedBy types followed.
func (m *Memory) latestDue(typ string, endedBy []string, due func(data json.RawMessage) bool) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for stream, evs := range m.streams {
		last := -1
		for i, e := range evs {
			if e.Type == typ {
				last = i
			}
		}
		if last < 0 || !due(evs[last].Data) || slices.ContainsFunc(evs[last+1:], func(o Event) bool { return slices.Contains(endedBy, o.Type) }) {
			continue
		}
		out = append(out, stream)
	}
	return out
}

// offboardingRequested is the type of the events OffboardingsDue reads
// (domain.TypeOffboardingRequested; the migration's partial index names
// it too).
const offboardingRequested = "tenant.offboarding.requested"

// OffboardingsDue names each stream whose latest offboarding request has a
// data.purgeAt at or before before, and which no later event of one of
// endedBy types followed (a restore, the deprovisioning): the purges due.
// The partial index events_offboarding_requests keeps the look to those
// requests.
func (s *Postgres) OffboardingsDue(ctx context.Context, endedBy []string, before time.Time) ([]string, error) {
	rows, err := s.pool.Query(ctx, `select r.stream_id from events r
		where r.event_type = 'tenant.offboarding.requested' and (r.data->>'purgeAt')::timestamptz <= $2
		  and not exists (select 1 from events o where o.stream_id = r.stream_id and o.stream_version > r.stream_version
		                  and (o.event_type = 'tenant.offboarding.requested' or o.event_type = any($1)))`,
		endedBy, before)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// OffboardingsDue implements the same contract as Postgres.OffboardingsDue.
func (m *Memory) OffboardingsDue(_ context.Context, endedBy []string, before time.Time) ([]string, error) {
	return m.latestDue(offboardingRequested, endedBy, func(data json.RawMessage) bool {
		var d struct {
			PurgeAt time.Time `json:"purgeAt"`
		}
		return json.Unmarshal(data, &d) == nil && !d.PurgeAt.After(before)
	}), nil
}
