package projections

import (
	"bytes"
	"context"
	"encoding/base64"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/eventstore/wire"
)

// NamePlans is the plan catalogue's projector.
const NamePlans = "plans"

// Plans is the plan catalogue (GET /plans): every plan's current terms and
// whether it is offered.
type Plans struct{}

func (Plans) Name() string { return NamePlans }
func (Plans) Version() int { return 1 }

func (Plans) Reads(stream string) bool { _, ok := wire.PlanOf(stream); return ok }

func (Plans) DDL() string {
	return `create table plans (
		id         text        primary key,
		tier       text        not null,
		archived   boolean     not null default false,
		plan       jsonb       not null,
		version    bigint      not null,
		created_at timestamptz not null,
		updated_at timestamptz not null
	);
	create index plans_tier on plans (tier, id);`
}

func (Plans) Apply(ctx context.Context, tx Execer, e eventstore.Event, de domain.Event) error {
	id, ok := wire.PlanOf(e.Stream)
	if !ok {
		return nil
	}
	var err error
	switch v := de.(type) {
	case *domain.PlanCreated:
		_, err = tx.Exec(ctx, `insert into plans (id, tier, plan, version, created_at, updated_at) values ($1, $2, $3, $4, $5, $5)
			on conflict (id) do nothing`, id, v.Plan.Tier, v.Plan, e.Version, v.At)
	case *domain.PlanUpdated:
		_, err = tx.Exec(ctx, `update plans set plan = $2, version = $3, updated_at = $4 where id = $1`, id, v.Plan, e.Version, v.At)
	case *domain.PlanArchived:
		_, err = tx.Exec(ctx, `update plans set archived = $2, version = $3, updated_at = $4 where id = $1`, id, v.Archived, e.Version, v.At)
	}
	return err
}

// PlanView is a plan of the catalogue as the API shows it.
type PlanView struct {
	domain.Plan
	Archived  bool      `json:"archived"`
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// PlanQuery selects plans: of one tier (empty: every tier), archived ones
// too or not, limit at a time after cursor (a page's next).
type PlanQuery struct {
	Tier            string
	IncludeArchived bool
	Cursor          string
	Limit           int
}

// Plans lists the catalogue in id order.
func (en *Engine) Plans(ctx context.Context, q PlanQuery) ([]PlanView, string, error) {
	after := ""
	if q.Cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(q.Cursor)
		if err != nil || len(raw) == 0 || !utf8.Valid(raw) || bytes.ContainsRune(raw, 0) { // not one of our cursors
			return nil, "", ErrBadCursor
		}
		after = string(raw)
	}
	schema, err := en.Schema(ctx, NamePlans)
	if err != nil {
		return nil, "", err
	}
	rows, err := en.Pool.Query(ctx, `select plan, archived, version, created_at, updated_at from `+schema+`.plans
		where id > $1 and ($2 = '' or tier = $2) and ($3 or not archived) order by id limit $4`, after, q.Tier, q.IncludeArchived, q.Limit+1)
	if err != nil {
		return nil, "", err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (PlanView, error) {
		var v PlanView
		var plan []byte
		if err := r.Scan(&plan, &v.Archived, &v.Version, &v.CreatedAt, &v.UpdatedAt); err != nil {
			return v, err
		}
		v.Plan, err = jsonOf[domain.Plan](plan)
		return v, err
	})
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > q.Limit {
		out = out[:q.Limit]
		next = base64.RawURLEncoding.EncodeToString([]byte(out[len(out)-1].ID))
	}
	if out == nil {
		out = []PlanView{}
	}
	return out, next, nil
}
