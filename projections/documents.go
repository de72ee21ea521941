package projections

import (
	"context"
	"errors"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/segmentio/encoding/json" // as domain.Decode: the documents are rendered in a third of the time
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/platform/pii"
)

// NameDocuments is the documents projection's durable id.
const NameDocuments = "documents"

// Documents keeps each settled tenant's GET /tenants/{id} answer rendered:
// the view its stream folds to (ViewOf, the rendering the API gives from
// the log), without the personal members, which are kept beside it as
// sealed in the log with the ids of the keys that seal them. A GET reads
// the row, the log's head and those keys by their ids, opens the personal
// members and writes the rest as stored.
//
// A tenant whose flow is running (domain.Tenant.Settled is false) has no
// document: its next event follows within milliseconds, and a rendering
// per event cost tenantd 1.9 ms and PostgreSQL 1 ms a provisioned tenant
// (make bench, closed-128: 136.5 → 116.3 tenants/s). GET answers such a
// tenant from the log's fold, as it answers any tenant the projection has
// not caught up with.
//
// Decision (issue 33): GET /tenants/{id} must reach 5,000 requests/s. Read
// from the tenants, progress and resources projections, a tenant's first
// read cost PostgreSQL 0.3 ms (nine index lookups, its steps and resources
// aggregated) and tenantd about as much again (decoding them, encoding the
// view), and make bench reads each tenant of a run about twice: 2,569
// requests/s, against 4,548 from documents in the same run.
type Documents struct{ folding }

func (Documents) Name() string { return NameDocuments }
func (Documents) Version() int { return 1 }

func (Documents) Reads(stream string) bool { _, ok := tenantID(stream); return ok }

// DDL creates the documents table: members is the view's JSON object without its personal members and
// its closing brace (the API appends them); personal is the personal members
// as a JSON object, sealed. Rows of a few kilobytes stay in the table, not
// compressed, up to toast_tuple_target; fillfactor leaves room for HOT
// updates (no indexed column ever changes).
func (Documents) DDL() string {
	return `create table documents (
		tenant_id uuid   primary key,
		version   bigint not null,
		members   bytea  not null,
		personal  bytea  not null,
		key_ids   uuid[] not null
	) with (fillfactor = 70, toast_tuple_target = 8160);`
}

// Fold writes the document of a settled tenant, and removes the one a
// tenant had when its flow starts running again. A history that does not
// fold removes the document too: GET then answers from the log, which says
// what is wrong, and the other projections go on.
func (Documents) Fold(ctx context.Context, tx Execer, stream string, h *History) error {
	id, _ := tenantID(stream)
	t, err := h.Tenant(len(h.Events))
	if err == nil && !t.Settled() && h.Applied > 0 {
		if was, err := h.Tenant(h.Applied); err == nil && !was.Settled() {
			return nil // running before this batch too: it has no document
		}
	}
	if err != nil || !t.Settled() {
		if h.Applied == 0 {
			return nil // nothing was written for it yet
		}
		_, err = tx.Exec(ctx, `delete from documents where tenant_id = $1`, id)
		return err
	}
	v := ViewOf(t)
	personal := v.TenantPersonal
	v.TenantPersonal = nil
	members, err := json.Marshal(v)
	if err != nil {
		return err
	}
	sealed, err := json.Marshal(personal)
	if err != nil {
		return err
	}
	keyIDs := []string{}
	for _, k := range pii.KeyIDs(sealed) {
		if u, err := uuid.Parse(k); err == nil { // anything else names no key
			keyIDs = append(keyIDs, u.String())
		}
	}
	tx.Row(`insert into documents (tenant_id, version, members, personal, key_ids)
		select t::uuid, v, m, p, k::uuid[] from unnest($1::text[], $2::bigint[], $3::bytea[], $4::bytea[], $5::text[]) as r (t, v, m, p, k)
		on conflict (tenant_id) do update set version = excluded.version, members = excluded.members, personal = excluded.personal,
		       key_ids = excluded.key_ids`,
		id, h.Last().Version, members[:len(members)-1], sealed, "{"+strings.Join(keyIDs, ",")+"}")
	return nil
}

// Document is a tenant's rendered GET answer as the documents projection
// holds it.
type Document struct {
	// Version is the stream version it was rendered at; Head is the
	// stream's version in the log, read in the same snapshot. Version below
	// Head means the projection lags.
	Version, Head int64
	Members       []byte // the view's JSON object without personal members, its closing brace left off
	Personal      TenantPersonal
	// Keys are the stored keys of the personal members' seals that still
	// exist: an erased person's is not among them.
	Keys pii.StoredKeys
}

// Document reads tenant id's document, the log's head of its stream and
// the keys its personal members are sealed with, in one statement.
func (en *Engine) Document(ctx context.Context, id string) (Document, error) {
	var d Document
	schemas, err := en.cachedSchemas(ctx, NameDocuments)
	if err != nil {
		return d, err
	}
	var personal []byte
	var keyIDs []string
	var keys [][]byte
	err = en.Pool.QueryRow(ctx, `select d.version, `+eventstore.HeadSQL("'tenant-' || $1")+`, d.members, d.personal, k.ids, k.keys
		from `+schemas[NameDocuments]+`.documents d
		cross join lateral (select array_agg(id::text) ids, array_agg(key) keys from personal_keys where id = any(d.key_ids)) k
		where d.tenant_id = $1::uuid`, id).Scan(&d.Version, &d.Head, &d.Members, &personal, &keyIDs, &keys)
	if errors.Is(err, pgx.ErrNoRows) {
		return d, ErrNotProjected
	}
	if err != nil {
		return d, err
	}
	d.Keys = pii.StoredKeysOf(keyIDs, keys)
	return d, json.Unmarshal(personal, &d.Personal)
}
