package projections

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
)

// ApplyForTest applies events to every projector's current generation, as
// the live feed does.
func (en *Engine) ApplyForTest(ctx context.Context, events []eventstore.Event) error {
	return en.applyBatch(ctx, en.Projectors, events, 0)
}

// ResourcesForTest reads the resources projection's rows of tenant id that
// are not orphaned (Orphans reads the others).
func (en *Engine) ResourcesForTest(ctx context.Context, id string) ([]domain.Resource, error) {
	schema, err := en.Schema(ctx, NameResources)
	if err != nil {
		return nil, err
	}
	rows, _ := en.Pool.Query(ctx, `select tenant_id::text, step, kind, id, location, created_at from `+schema+`.resources
		where tenant_id = $1 and not orphaned`, id)
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.Resource, error) {
		var r domain.Resource
		err := row.Scan(&r.TenantID, &r.Step, &r.Kind, &r.ID, &r.Location, &r.CreatedAt)
		r.CreatedAt = r.CreatedAt.UTC()
		return r, err
	})
}

// SummaryForTest reads tenant id's row of the tenants projection.
func (en *Engine) SummaryForTest(ctx context.Context, id string) (TenantSummary, error) {
	schema, err := en.Schema(ctx, NameTenants)
	if err != nil {
		return TenantSummary{}, err
	}
	var s TenantSummary
	err = en.Pool.QueryRow(ctx, `select id::text, key, name, status, version, created_at, updated_at from `+schema+`.tenants where id = $1`, id).
		Scan(&s.ID, &s.Key, &s.Name, &s.StatusCode, &s.Version, &s.CreatedAt, &s.UpdatedAt)
	s.Status = domain.Status(s.StatusCode).String()
	return s, err
}
