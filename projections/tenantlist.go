// Package projections keeps the read models that queries are served from.
// Each is a durable subscription to the event log (eventstore.Subscription):
// it lags the log by a little and is rebuilt by replaying it.
package projections

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/internal/repo"
)

// TenantListName keys the tenant list's checkpoint.
const TenantListName = "projection.tenant-list"

// TenantList is the table tenant_list behind GET /tenants: one row per
// tenant with its key, name and status.
//
// For every tenant a batch touches it folds the tenant's stream through the
// domain (so the status machine lives in one place) and stores the fold if
// it is newer than the row: handling a batch twice, or out of order with
// another instance, changes nothing.
type TenantList struct {
	Pool  *pgxpool.Pool
	Store repo.Store
}

// Subscription follows the log into the table.
func (p *TenantList) Subscription(store *eventstore.Postgres) eventstore.Subscription {
	return eventstore.Subscription{Name: TenantListName, Store: store, Handle: p.Handle}
}

// Handle applies a batch of events.
func (p *TenantList) Handle(ctx context.Context, events []eventstore.Event) error {
	tenants := repo.Tenants(p.Store)
	seen := map[string]bool{}
	for _, e := range events {
		id, ok := strings.CutPrefix(e.Stream, tenants.Stream(""))
		if !ok || seen[id] {
			continue
		}
		seen[id] = true
		t, err := tenants.Get(ctx, id)
		if err != nil {
			return fmt.Errorf("fold %s: %w", e.Stream, err)
		}
		if _, err := p.Pool.Exec(ctx, `
			insert into tenant_list (id, key, name, status, version, updated_at) values ($1, $2, $3, $4, $5, $6)
			on conflict (id) do update set name = excluded.name, status = excluded.status,
			       version = excluded.version, updated_at = excluded.updated_at
			 where tenant_list.version < excluded.version`,
			t.ID(), t.Key(), t.Name(), int(t.Status()), t.Version(), e.RecordedAt); err != nil {
			return fmt.Errorf("store %s: %w", e.Stream, err)
		}
	}
	return nil
}

// TenantSummary is one row of the list.
type TenantSummary struct {
	ID         string    `json:"id"`
	Key        string    `json:"key"`
	Name       string    `json:"name"`
	Status     string    `json:"status"`
	StatusCode int       `json:"statusCode"`
	Version    int64     `json:"version"`
	UpdatedAt  time.Time `json:"updatedAt"`
}

// TenantQuery filters and pages the list, in key order.
type TenantQuery struct {
	Status    *domain.Status
	KeyPrefix string
	Cursor    string // from the previous page; empty for the first
	Limit     int
}

// ErrBadCursor means the cursor was not one this list handed out.
var ErrBadCursor = errors.New("the cursor is not valid")

// List returns one page and the cursor of the next ("" on the last page).
func (p *TenantList) List(ctx context.Context, q TenantQuery) ([]TenantSummary, string, error) {
	after := ""
	if q.Cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(q.Cursor)
		if err != nil {
			return nil, "", ErrBadCursor
		}
		after = string(raw)
	}
	var status *int
	if q.Status != nil {
		s := int(*q.Status)
		status = &s
	}
	// Keys hold only [a-z0-9], so the prefix needs no LIKE escaping (checked by the caller).
	rows, err := p.Pool.Query(ctx, `
		select id::text, key, name, status, version, updated_at from tenant_list
		 where ($1::int is null or status = $1) and key like $2 || '%' and key > $3
		 order by key limit $4`, status, q.KeyPrefix, after, q.Limit+1)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	out := []TenantSummary{}
	for rows.Next() {
		var s TenantSummary
		if err := rows.Scan(&s.ID, &s.Key, &s.Name, &s.StatusCode, &s.Version, &s.UpdatedAt); err != nil {
			return nil, "", err
		}
		s.Status = domain.Status(s.StatusCode).String()
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > q.Limit {
		out = out[:q.Limit]
		next = base64.RawURLEncoding.EncodeToString([]byte(out[len(out)-1].Key))
	}
	return out, next, nil
}
