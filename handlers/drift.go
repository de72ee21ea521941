package handlers

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/miekg/dns"
	"github.com/tenantflow/tenantflow/domain"
)

// Prober is implemented by the step back ends that can say what exists now
// for a tenant: the resources, as the step records them, that are live.
type Prober interface {
	Probe(ctx context.Context, t *domain.Tenant) ([]domain.Resource, error)
}

// Drift is what differs between a tenant's recorded resources and the live
// systems.
type Drift struct {
	TenantID   string            `json:"tenantId"`
	Key        string            `json:"key"`
	Missing    []domain.Resource `json:"missing,omitempty"`    // recorded, not found
	Unexpected []domain.Resource `json:"unexpected,omitempty"` // found (ours), not recorded
	Errors     []string          `json:"errors,omitempty"`     // steps that could not be probed
}

// Drifted reports whether anything differs.
func (d Drift) Drifted() bool { return len(d.Missing)+len(d.Unexpected)+len(d.Errors) > 0 }

// CheckDrift compares the tenant's recorded resources with what the back
// ends find, step by step.
func CheckDrift(ctx context.Context, actions map[string]Action, t *domain.Tenant) Drift {
	d := Drift{TenantID: t.ID(), Key: t.Key()}
	recorded := map[string][]domain.Resource{}
	for _, r := range t.Resources() {
		recorded[r.Step] = append(recorded[r.Step], r)
	}
	for _, step := range domain.UndoableSteps {
		p, ok := actions[step].(Prober)
		if !ok {
			continue
		}
		live, err := p.Probe(ctx, t)
		if err != nil {
			d.Errors = append(d.Errors, fmt.Sprintf("%s: %v", step, err))
			continue
		}
		key := func(r domain.Resource) string { return r.Kind + "\x00" + r.ID }
		found := map[string]bool{}
		for _, r := range live {
			found[key(r)] = true
		}
		known := map[string]bool{}
		for _, r := range recorded[step] {
			known[key(r)] = true
			if !found[key(r)] {
				d.Missing = append(d.Missing, r)
			}
		}
		for _, r := range live {
			if !known[key(r)] {
				d.Unexpected = append(d.Unexpected, r)
			}
		}
	}
	return d
}

func (r realmStep) Probe(ctx context.Context, t *domain.Tenant) ([]domain.Resource, error) {
	token, err := r.Admin.Token(ctx)
	if err != nil {
		return nil, err
	}
	realm, err := r.ours(ctx, token, t)
	if err != nil || realm == nil {
		return nil, ignoreForeign(err)
	}
	out := []domain.Resource{{Step: domain.StepIdentity, Kind: "keycloak-realm", ID: RealmName(t)}}
	clients, err := r.Admin.Client().GetClients(ctx, token, RealmName(t), clientParams(ClientName(t)))
	if err != nil {
		return nil, err
	}
	if len(clients) > 0 {
		out = append(out, domain.Resource{Step: domain.StepIdentity, Kind: "keycloak-client", ID: RealmName(t) + "/" + ClientName(t)})
	}
	return out, nil
}

func (a adminStep) Probe(ctx context.Context, t *domain.Tenant) ([]domain.Resource, error) {
	token, err := a.Admin.Token(ctx)
	if err != nil {
		return nil, err
	}
	if realm, err := a.ours(ctx, token, t); err != nil || realm == nil {
		return nil, ignoreForeign(err)
	}
	u, err := a.adminUser(ctx, token, t)
	if err != nil || u == nil {
		return nil, ignoreForeign(err)
	}
	return []domain.Resource{{Step: domain.StepAdminUser, Kind: "keycloak-user", ID: RealmName(t) + "/" + *u.ID}}, nil
}

// ignoreForeign: a resource that belongs to someone else is simply not ours.
func ignoreForeign(err error) error {
	if IsPermanent(err) {
		return nil
	}
	return err
}

func (d Database) Probe(ctx context.Context, t *domain.Tenant) ([]domain.Resource, error) {
	name := SchemaName(t)
	schemaMark, schemaExists, roleMark, roleExists, err := d.owner(ctx, name)
	if err != nil {
		return nil, err
	}
	var out []domain.Resource
	if roleExists && roleMark == mark(t) {
		out = append(out, domain.Resource{Step: domain.StepDatabase, Kind: "postgres-role", ID: name})
	}
	if schemaExists && schemaMark == mark(t) {
		out = append(out, domain.Resource{Step: domain.StepDatabase, Kind: "postgres-schema", ID: name})
	}
	return out, nil
}

func (s S3) Probe(ctx context.Context, t *domain.Tenant) ([]domain.Resource, error) {
	exists, ours, err := s.owner(ctx, t)
	if err != nil || !exists || !ours {
		return nil, err
	}
	return []domain.Resource{{Step: domain.StepStorage, Kind: "s3-bucket", ID: BucketName(t)}}, nil
}

func (l LocalStorage) Probe(_ context.Context, t *domain.Tenant) ([]domain.Resource, error) {
	dir := filepath.Join(l.Root, BucketName(t))
	if mark, err := os.ReadFile(filepath.Join(dir, localMark)); err == nil && string(mark) == t.ID() {
		return []domain.Resource{{Step: domain.StepStorage, Kind: "local-directory", ID: dir}}, nil
	}
	return nil, nil
}

func (d DNS) Probe(ctx context.Context, t *domain.Tenant) ([]domain.Resource, error) {
	var out []domain.Resource
	managed, _, err := d.names(t)
	if err != nil {
		return nil, nil
	}
	for _, name := range managed {
		ours, _, err := d.owner(ctx, t, name)
		if err != nil {
			return nil, err
		}
		if !ours {
			continue
		}
		cnames, err := d.query(ctx, name, dns.TypeCNAME)
		if err != nil {
			return nil, err
		}
		for _, rr := range cnames {
			out = append(out, domain.Resource{Step: domain.StepDNS, Kind: "dns-cname",
				ID: strings.TrimSuffix(name, ".") + " -> " + strings.TrimSuffix(rr.(*dns.CNAME).Target, ".")})
		}
	}
	return out, nil
}

func (in Infrastructure) Probe(ctx context.Context, t *domain.Tenant) ([]domain.Resource, error) {
	if in.StateConn == "" {
		state := in.stateResource(t)
		if _, err := os.Stat(state.ID); err != nil {
			return nil, nil
		}
		return []domain.Resource{state}, nil
	}
	// The state in PostgreSQL, as the pg backend stores it.
	if _, ok := in.module(t); !ok {
		return nil, nil
	}
	exists, resources, err := in.storedState(ctx, t)
	if err != nil || !exists || resources == 0 {
		return nil, err
	}
	return []domain.Resource{in.stateResource(t)}, nil
}
