package projections

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/eventstore/wire"
)

// Projector names: durable ids.
const (
	NameTenants = "tenants"
	NameOrphans = "orphans"
	NameStats   = "stepstats"
	NameConfig  = "tenantconfig"
	NameLeads   = "leads"
)

// All returns every projector tenantflow runs.
func All() []Projector {
	return []Projector{Tenants{}, Orphans{}, StepStats{}, Config{}, Leads{}, Plans{}, Documents{}}
}

func tenantID(stream string) (string, bool) { return wire.TenantOf(stream) }

// Tenants is the tenant list (GET /tenants) and the metrics' count of
// tenants by status: what a summary shows, nothing else, from the tenant's
// fold (Folder).
type Tenants struct{ folding }

func (Tenants) Name() string { return NameTenants }

// Version 2 added the dns step's addressing (platform_host, custom_domains),
// 3 the contacts (tenant.updated), 4 ARC's owner address and source. 5
// keeps only the summary, written once a batch from the fold: GET
// /tenants/{id} reads the documents projection, and the rest (personal data
// among it) was written for no reader.
func (Tenants) Version() int { return 5 }

func (Tenants) Reads(stream string) bool { _, ok := tenantID(stream); return ok }

func (Tenants) DDL() string {
	return `create table tenants (
		id         uuid        primary key,
		key        text        not null unique,
		name       text        not null,
		status     smallint    not null,
		version    bigint      not null,
		created_at timestamptz not null,
		updated_at timestamptz not null
	);
	create index tenants_key_prefix on tenants (key text_pattern_ops);
	create index tenants_status_key on tenants (status, key);`
}

// Fold writes the tenant's summary as the batch leaves it: one statement a
// stream a batch, where applying each event was one an event (twelve a
// provisioned tenant). A history that does not fold leaves the row as it
// was (GET says what is wrong).
func (Tenants) Fold(_ context.Context, tx Execer, stream string, h *History) error {
	id, _ := tenantID(stream)
	t, err := h.Tenant(len(h.Events))
	if err != nil || t.ID() == "" {
		return nil
	}
	if h.Applied == 0 { // the batch holds its first event
		tx.Row(`insert into tenants (id, key, name, status, version, created_at, updated_at)
			select i::uuid, k, n, s, v, c, u from unnest($1::text[], $2::text[], $3::text[], $4::smallint[], $5::bigint[], $6::timestamptz[], $7::timestamptz[])
			as r (i, k, n, s, v, c, u)`,
			id, t.Key(), t.Name(), int(t.Status()), h.Last().Version, h.Stored[0].RecordedAt, h.Last().RecordedAt)
		return nil
	}
	tx.Row(`update tenants set version = r.v, updated_at = r.u, status = r.s, name = r.n
		from unnest($1::text[], $2::bigint[], $3::timestamptz[], $4::smallint[], $5::text[]) as r (i, v, u, s, n) where id = r.i::uuid`,
		id, h.Last().Version, h.Last().RecordedAt, int(t.Status()), t.Name())
	return nil
}

// StepStats keeps one row per step run (do outcomes) with its duration and
// the plan tier, for GET /stats/provisioning.
type StepStats struct{ folding }

func (StepStats) Name() string { return NameStats }

// Version 2 folds: the tier is the stream's, as of each run, from its
// history, where version 1 kept a tiers table to look it up per run.
func (StepStats) Version() int { return 2 }

func (StepStats) Reads(stream string) bool { _, ok := tenantID(stream); return ok }

func (StepStats) DDL() string {
	return `create table step_runs (
		tenant_id   uuid    not null,
		attempt     integer not null,
		step        text    not null,
		tier        text    not null,
		outcome     text    not null,
		duration_ms double precision not null,
		primary key (tenant_id, attempt, step)
	);`
}

// Fold adds a row for each run the batch recorded, with the tier of the
// newest provisioning request before it (empty if none), as one row of the
// batch's one insert.
func (StepStats) Fold(_ context.Context, tx Execer, stream string, h *History) error {
	id, _ := tenantID(stream)
	tier := ""
	for i, de := range h.Events {
		switch v := de.(type) {
		case *domain.ProvisioningRequested:
			tier = v.Subscription.Plan.Tier
		case *domain.StepOutcome:
			if i < h.Applied || (v.Outcome != domain.OutcomeCompleted && v.Outcome != domain.OutcomeSkipped && v.Outcome != domain.OutcomeFailed) {
				continue
			}
			ms := 0.0
			if !v.StartedAt.IsZero() && !v.At.IsZero() {
				ms = float64(v.At.Sub(v.StartedAt).Microseconds()) / 1000
			}
			tx.Row(`insert into step_runs (tenant_id, attempt, step, tier, outcome, duration_ms)
				select t::uuid, a, s, r, o, d from unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[], $6::float8[]) as u (t, a, s, r, o, d)
				on conflict do nothing`, id, v.Attempt, v.Step, tier, v.Outcome, ms)
		}
	}
	return nil
}

// jsonOf is for reading jsonb columns back.
func jsonOf[T any](raw []byte) (T, error) {
	var v T
	if len(raw) == 0 {
		return v, nil
	}
	err := json.Unmarshal(raw, &v)
	return v, err
}

// Config is each tenant's configuration (key → JSON value), for
// GET /tenants/{id}/config.
type Config struct{}

func (Config) Name() string { return NameConfig }
func (Config) Version() int { return 1 }

// Reads the tenantconfig- streams: a tenant's configuration has a stream of
// its own (app.TenantConfigs).
func (Config) Reads(stream string) bool { return strings.HasPrefix(stream, wire.TenantConfigPrefix) }

func (Config) DDL() string {
	return `create table config (
		tenant_id  uuid        not null,
		key        text        not null,
		value      jsonb       not null,
		updated_at timestamptz not null,
		primary key (tenant_id, key)
	);`
}

func (Config) Apply(ctx context.Context, tx Execer, e eventstore.Event, de domain.Event) error {
	switch v := de.(type) {
	case *domain.ConfigSet:
		_, err := tx.Exec(ctx, `insert into config (tenant_id, key, value, updated_at) values ($1, $2, $3, $4)
			on conflict (tenant_id, key) do update set value = excluded.value, updated_at = excluded.updated_at`,
			v.TenantID, v.Key, string(v.Value), v.At)
		return err
	case *domain.ConfigDeleted:
		_, err := tx.Exec(ctx, `delete from config where tenant_id = $1 and key = $2`, v.TenantID, v.Key)
		return err
	}
	return nil
}

// Leads is the lead list (GET /leads): who signed up, whether they verified
// their address, and their tenant. The verification token's hash stays in
// the log only.
type Leads struct{}

func (Leads) Name() string { return NameLeads }
func (Leads) Version() int { return 1 }

func (Leads) Reads(stream string) bool { _, ok := wire.LeadOf(stream); return ok }

func (Leads) DDL() string {
	return `create table leads (
		id           uuid        primary key,
		email        text        not null,
		first_name   text        not null,
		last_name    text        not null,
		company_name text        not null,
		verified     boolean     not null default false,
		tenant_id    text        not null default '',
		version      bigint      not null,
		created_at   timestamptz not null
	);
	create index leads_created on leads (created_at, id);`
}

func (Leads) Apply(ctx context.Context, tx Execer, e eventstore.Event, de domain.Event) error {
	id, ok := wire.LeadOf(e.Stream)
	if !ok {
		return nil
	}
	var err error
	switch v := de.(type) {
	case *domain.LeadCreated:
		_, err = tx.Exec(ctx, `insert into leads (id, email, first_name, last_name, company_name, version, created_at)
			values ($1, $2, $3, $4, $5, $6, $7) on conflict (id) do nothing`,
			id, v.Contact.Email, v.Contact.FirstName, v.Contact.LastName, v.CompanyName, e.Version, v.At)
	case *domain.LeadVerified:
		_, err = tx.Exec(ctx, `update leads set verified = true, version = $2 where id = $1`, id, e.Version)
	case *domain.LeadTenantAssigned:
		_, err = tx.Exec(ctx, `update leads set tenant_id = $2, version = $3 where id = $1`, id, v.TenantID, e.Version)
	}
	return err
}
