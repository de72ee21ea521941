package projections

import (
	"context"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/tenantflow/tenantflow/domain"
)

// Orphans keeps every tenant's orphans: resources an undo could not remove,
// which an operator must (tenantctl orphans, the orphan metrics). They are
// the fold's (domain.Tenant.Orphans), written whenever a batch changes
// them: a tenant that never had any costs no statement.
//
// Decision (issue 33): the resources projection before it kept every
// resource a step made, eight rows a provisioned tenant, to work the
// orphans out in SQL by rules copied from the fold (which drifted from it
// twice, versions 3 and 4); GET /tenants/{id}, the one reader of the other
// rows, reads documents.
type Orphans struct{ folding }

func (Orphans) Name() string { return NameOrphans }
func (Orphans) Version() int { return 1 }

func (Orphans) Reads(stream string) bool { _, ok := tenantID(stream); return ok }

func (Orphans) DDL() string {
	return `create table orphans (
		tenant_id  uuid        not null,
		step       text        not null,
		kind       text        not null,
		id         text        not null,
		location   text        not null,
		created_at timestamptz not null,
		primary key (tenant_id, step, kind, id)
	);`
}

// Fold replaces the tenant's orphans when the batch changed them. A history
// that does not fold keeps none (GET says what is wrong).
func (Orphans) Fold(ctx context.Context, tx Execer, stream string, h *History) error {
	id, _ := tenantID(stream)
	var now, was []domain.Resource
	if t, err := h.Tenant(len(h.Events)); err == nil {
		now = t.Orphans()
	}
	if h.Applied > 0 {
		if t, err := h.Tenant(h.Applied); err == nil {
			was = t.Orphans()
		}
	}
	if slices.EqualFunc(now, was, sameOrphan) {
		return nil
	}
	if len(was) > 0 {
		if _, err := tx.Exec(ctx, `delete from orphans where tenant_id = $1`, id); err != nil {
			return err
		}
	}
	if len(now) == 0 {
		return nil
	}
	steps, kinds, ids, locations := make([]string, len(now)), make([]string, len(now)), make([]string, len(now)), make([]string, len(now))
	created := make([]time.Time, len(now))
	for i, o := range now {
		steps[i], kinds[i], ids[i], locations[i], created[i] = o.Step, o.Kind, o.ID, o.Location, o.CreatedAt
	}
	_, err := tx.Exec(ctx, `insert into orphans (tenant_id, step, kind, id, location, created_at)
		select $1, * from unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[])
		on conflict do nothing`, id, steps, kinds, ids, locations, created)
	return err
}

func sameOrphan(a, b domain.Resource) bool {
	return a.Step == b.Step && a.Kind == b.Kind && a.ID == b.ID && a.Location == b.Location && a.CreatedAt.Equal(b.CreatedAt)
}

// Orphans lists what undos could not remove (domain.Tenant.Orphans, as the
// orphans projection holds it) for one tenant, or for every tenant when
// tenantID is "": oldest tenant first, each tenant's in SortResources order.
func (en *Engine) Orphans(ctx context.Context, tenantID string) ([]domain.Resource, error) {
	schemas, err := en.cachedSchemas(ctx, NameOrphans)
	if err != nil {
		return nil, err
	}
	rows, err := en.Pool.Query(ctx, `select tenant_id::text, step, kind, id, location, created_at from `+schemas[NameOrphans]+`.orphans
		where ($1 = '' or tenant_id::text = $1) order by tenant_id, created_at`, tenantID)
	if err != nil {
		return nil, err
	}
	all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Resource, error) {
		var o domain.Resource
		err := r.Scan(&o.TenantID, &o.Step, &o.Kind, &o.ID, &o.Location, &o.CreatedAt)
		return o, err
	})
	if err != nil {
		return nil, err
	}
	var out []domain.Resource
	for len(all) > 0 { // group by tenant, keeping the query's tenant order
		n := 1
		for n < len(all) && all[n].TenantID == all[0].TenantID {
			n++
		}
		domain.SortResources(all[:n])
		out, all = append(out, all[:n]...), all[n:]
	}
	return out, nil
}

// OrphanCounts counts every tenant's orphans by step and kind (the
// tenantflow_orphans gauge).
func (en *Engine) OrphanCounts(ctx context.Context) (map[[2]string]int, error) {
	schemas, err := en.cachedSchemas(ctx, NameOrphans)
	if err != nil {
		return nil, err
	}
	rows, err := en.Pool.Query(ctx, `select step, kind, count(*) from `+schemas[NameOrphans]+`.orphans group by step, kind`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[[2]string]int{}
	for rows.Next() {
		var step, kind string
		var n int
		if err := rows.Scan(&step, &kind, &n); err != nil {
			return nil, err
		}
		out[[2]string{step, kind}] = n
	}
	return out, rows.Err()
}
