package projections

import (
	"context"
	"encoding/base64"
	"errors"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore/wire"
)

// TenantSummary is one row of the list.
type TenantSummary struct {
	ID         string    `json:"id"`
	Key        string    `json:"key"`
	Name       string    `json:"name"`
	Status     string    `json:"status"`
	StatusCode int       `json:"statusCode"`
	Version    int64     `json:"version"`
	CreatedAt  time.Time `json:"createdAt"`
	UpdatedAt  time.Time `json:"updatedAt"`
}

// TenantQuery filters and pages the list, in key order.
type TenantQuery struct {
	Status    *domain.Status
	KeyPrefix string // only [a-z0-9]: checked by the caller, so LIKE needs no escaping
	Cursor    string // from the previous page; empty for the first
	Limit     int
}

var cursorKey = regexp.MustCompile(`^[a-z][a-z0-9]{0,9}$`)

// ErrBadCursor means the cursor was not one this list handed out.
var ErrBadCursor = errors.New("the cursor is not valid")

// List returns one page of the tenants projection and the cursor of the
// next page ("" on the last).
func (en *Engine) List(ctx context.Context, q TenantQuery) ([]TenantSummary, string, error) {
	after := ""
	if q.Cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(q.Cursor)
		if err != nil || !cursorKey.Match(raw) { // a cursor is a tenant key; anything else never reaches SQL
			return nil, "", ErrBadCursor
		}
		after = string(raw)
	}
	var status *int
	if q.Status != nil {
		s := int(*q.Status)
		status = &s
	}
	schema, err := en.Schema(ctx, NameTenants)
	if err != nil {
		return nil, "", err
	}
	rows, err := en.Pool.Query(ctx, `select id::text, key, name, status, version, created_at, updated_at from `+schema+`.tenants
		 where ($1::int is null or status = $1) and key like $2 || '%' and key > $3
		 order by key limit $4`, status, q.KeyPrefix, after, q.Limit+1)
	if err != nil {
		return nil, "", err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (TenantSummary, error) {
		var s TenantSummary
		err := r.Scan(&s.ID, &s.Key, &s.Name, &s.StatusCode, &s.Version, &s.CreatedAt, &s.UpdatedAt)
		s.Status = domain.Status(s.StatusCode).String()
		return s, err
	})
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > q.Limit {
		out = out[:q.Limit]
		next = base64.RawURLEncoding.EncodeToString([]byte(out[len(out)-1].Key))
	}
	if out == nil {
		out = []TenantSummary{}
	}
	return out, next, nil
}

// ErrNotProjected means the projections do not hold the tenant (yet).
var ErrNotProjected = errors.New("not in the projections")

// cachedSchemas is schemas, remembered for a second: GET /tenants/{id} is
// the hot read, and generations change only when a replay switches them (a
// generation just replaced still exists and shows an older version, so the
// caller falls back to the log).
func (en *Engine) cachedSchemas(ctx context.Context, names ...string) (map[string]string, error) {
	key := strings.Join(names, ",")
	en.cache.mu.Lock()
	c, ok := en.cache.m[key]
	en.cache.mu.Unlock()
	if ok && time.Since(c.at) < time.Second {
		return c.schemas, nil
	}
	m, err := en.schemas(ctx, names...)
	if err != nil {
		return nil, err
	}
	en.cache.mu.Lock()
	if en.cache.m == nil {
		en.cache.m = map[string]cachedGen{}
	}
	en.cache.m[key] = cachedGen{at: time.Now(), schemas: m}
	en.cache.mu.Unlock()
	return m, nil
}

type cachedGen struct {
	at      time.Time
	schemas map[string]string
}

// StepStat summarises the runs of one step (and one plan tier, unless "").
type StepStat struct {
	Step     string  `json:"step"`
	Tier     string  `json:"tier,omitempty"`
	Count    int64   `json:"count"`
	Failures int64   `json:"failures"`
	P50ms    float64 `json:"p50Ms"`
	P95ms    float64 `json:"p95Ms"`
	P99ms    float64 `json:"p99Ms"`
}

// Stats reads the step statistics: per step, and per step and tier.
func (en *Engine) Stats(ctx context.Context) ([]StepStat, error) {
	schema, err := en.Schema(ctx, NameStats)
	if err != nil {
		return nil, err
	}
	return StatsFrom(ctx, en.Pool, schema+".step_runs")
}

// StatsFrom computes step statistics over a table of step runs (step, tier,
// outcome, duration_ms): the projection's, or the analytics consumer's.
func StatsFrom(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, table string) ([]StepStat, error) {
	rows, err := q.Query(ctx, `select step, coalesce(tier, ''), count(*), count(*) filter (where outcome = 'failed'),
		percentile_cont(0.5) within group (order by duration_ms), percentile_cont(0.95) within group (order by duration_ms),
		percentile_cont(0.99) within group (order by duration_ms)
		from `+table+` group by grouping sets ((step), (step, tier)) order by step, tier nulls first`)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (StepStat, error) {
		var s StepStat
		err := r.Scan(&s.Step, &s.Tier, &s.Count, &s.Failures, &s.P50ms, &s.P95ms, &s.P99ms)
		return s, err
	})
	if out == nil {
		out = []StepStat{}
	}
	return out, err
}

// TenantConfig is a tenant's configuration as projected, with the stream
// versions of the projection (Applied) and of the log (Head): Applied below
// Head means it lags, and the caller folds the log instead.
type TenantConfig struct {
	Entries       []domain.ConfigEntry
	Applied, Head int64
}

// Config reads tenant id's configuration (every key, or only key).
func (en *Engine) Config(ctx context.Context, id, key string) (TenantConfig, error) {
	var c TenantConfig
	schemas, err := en.cachedSchemas(ctx, NameConfig)
	if err != nil {
		return c, err
	}
	var entries []byte
	err = en.Pool.QueryRow(ctx, `select
		coalesce((select version from `+schemas[NameConfig]+`.applied where stream = 'tenantconfig-' || $1), 0),
		coalesce((select json_agg(json_build_object('key', key, 'value', value, 'updatedAt', updated_at) order by key)
		      from `+schemas[NameConfig]+`.config where tenant_id = $1::uuid and ($2 = '' or key = $2)), '[]')`, id, key).
		Scan(&c.Applied, &entries)
	if err != nil {
		return c, err
	}
	if c.Head, err = en.Log.StreamVersion(ctx, wire.TenantConfigStream(id)); err != nil { // after, as in Detail
		return c, err
	}
	c.Entries, err = jsonOf[[]domain.ConfigEntry](entries)
	return c, err
}

// LeadSummary is one row of the lead list.
type LeadSummary struct {
	ID          string         `json:"id"`
	Contact     domain.Contact `json:"contact"`
	CompanyName string         `json:"companyName"`
	Verified    bool           `json:"verified"`
	TenantID    string         `json:"tenantId,omitempty"`
	Version     int64          `json:"version"`
	CreatedAt   time.Time      `json:"createdAt"`
}

// Leads lists leads oldest first, limit at a time; cursor (from the last
// page's next) continues after the page it ends.
func (en *Engine) Leads(ctx context.Context, cursor string, limit int) ([]LeadSummary, string, error) {
	var after time.Time
	var afterID *string // nil: the first page
	if cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(cursor)
		at, id, found := strings.Cut(string(raw), "|")
		if err != nil || !found {
			return nil, "", ErrBadCursor
		}
		if after, err = time.Parse(time.RFC3339Nano, at); err != nil || uuid.Validate(id) != nil {
			return nil, "", ErrBadCursor
		}
		afterID = &id
	}
	schema, err := en.Schema(ctx, NameLeads)
	if err != nil {
		return nil, "", err
	}
	rows, err := en.Pool.Query(ctx, `select id::text, email, first_name, last_name, company_name, verified, tenant_id, version, created_at
		from `+schema+`.leads where ($1::uuid is null or (created_at, id) > ($2, $1::uuid)) order by created_at, id limit $3`, afterID, after, limit+1)
	if err != nil {
		return nil, "", err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (LeadSummary, error) {
		var l LeadSummary
		err := r.Scan(&l.ID, &l.Contact.Email, &l.Contact.FirstName, &l.Contact.LastName, &l.CompanyName, &l.Verified, &l.TenantID, &l.Version, &l.CreatedAt)
		return l, err
	})
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		last := out[len(out)-1]
		next = base64.RawURLEncoding.EncodeToString([]byte(last.CreatedAt.UTC().Format(time.RFC3339Nano) + "|" + last.ID))
	}
	if out == nil {
		out = []LeadSummary{}
	}
	return out, next, nil
}
