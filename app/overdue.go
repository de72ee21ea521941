package app

import (
	"context"

	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/eventstore/wire"
)

// OverdueTenants is the log's look-up of requests past their deadline that
// nothing answered, by tenant id: what the deploy step's watcher asks, so
// that the step knows tenants, not streams.
type OverdueTenants struct{ Log eventstore.Deadlines }

// Overdue lists the tenants with a request of one of requestTypes past its
// deadline and no later event whose type starts with answeredBy.
func (o OverdueTenants) Overdue(ctx context.Context, requestTypes []string, answeredBy string) ([]string, error) {
	streams, err := o.Log.Overdue(ctx, requestTypes, answeredBy)
	var ids []string
	for _, s := range streams {
		if id, ok := wire.TenantOf(s); ok {
			ids = append(ids, id)
		}
	}
	return ids, err
}
