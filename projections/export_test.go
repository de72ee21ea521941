package projections

import (
	"context"
	"testing"

	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
)

// ApplyForTest applies events to every projector's current generation, as
// the live feed does.
func (en *Engine) ApplyForTest(ctx context.Context, events []eventstore.Event) error {
	return en.applyBatch(ctx, en.Projectors, events, 0)
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

// SmallRebuildBatchesForTest makes rebuilds read n events at a time until
// t ends, so that streams span batches and shares.
func SmallRebuildBatchesForTest(t testing.TB, n int) {
	was := rebuildBatch
	rebuildBatch = n
	t.Cleanup(func() { rebuildBatch = was })
}
