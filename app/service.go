package app

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
)

// Metadata is what a command records about itself: who asked, and the
// request and trace it belongs to (the log's event metadata).
type Metadata = eventstore.Metadata

// Event is one event of a stream as the log keeps it (History).
type Event = eventstore.Event

// The log's refusals, for callers that tell them apart: a concurrent change
// (HTTP 409, with the stream's version) and an event over the size cap (413).
type (
	ConcurrencyError   = eventstore.ConcurrencyError
	EventTooLargeError = eventstore.EventTooLargeError
)

// Service is the use-case layer as its callers outside Kafka see it — the
// REST API and tenantctl: every command, and the queries the log answers
// itself, over one store. Both build it the same way (NewService).
type Service struct {
	Tenants Repository[*domain.Tenant]
	Leads   Repository[*domain.Lead]
	Configs Repository[*domain.TenantConfig]
	Plans   Repository[*domain.CatalogPlan]
	// Zone is the platform's DNS zone: a tenant may not ask for the names
	// in it that belong to other tenants (domain.CheckPlatformZone).
	Zone  string
	store eventstore.Streams
}

// NewService is the use-case layer over store.
func NewService(store eventstore.Streams, zone string) *Service {
	return &Service{Tenants: Tenants(store), Leads: Leads(store), Configs: TenantConfigs(store), Plans: Plans(store), Zone: zone, store: store}
}

// CreateTenant validates in as a new tenant (every bad field at once, the
// platform zone's names included) and stores it with its key reserved.
func (s *Service) CreateTenant(ctx context.Context, in domain.TenantInput, md Metadata) (*domain.Tenant, error) {
	t, events, err := domain.NewTenant(uuid.NewString(), "", in)
	if err == nil {
		err = domain.CheckPlatformZone("domains", in.Domains, in.Key, s.Zone)
	}
	if err != nil {
		return nil, err
	}
	return t, CreateTenant(ctx, s.store, t, md, events)
}

// CreateLeadTenant creates the verified lead's one tenant from in, in the
// same transaction as the lead's record of it.
func (s *Service) CreateLeadTenant(ctx context.Context, lead *domain.Lead, in domain.LeadTenantInput, md Metadata) (*domain.Tenant, error) {
	t, tenantEvents, leadEvents, err := lead.CreateTenant(uuid.NewString(), in)
	if err == nil {
		err = domain.CheckPlatformZone("domains", t.Domains(), t.Key(), s.Zone)
	}
	if err != nil {
		return nil, err
	}
	return t, CreateLeadTenant(ctx, s.store, lead, leadEvents, t, md, tenantEvents)
}

// SignUp validates in as a new lead whose verification token hashes to
// tokenHash; admit may refuse it (rate limits); then mail sends the
// verification, and only then is the lead stored: a lead whose mail failed
// is never stored, and its token verifies nothing. Before the mail, the log
// must answer (an unreachable log fails here, before a mail names a lead
// that would not exist).
func (s *Service) SignUp(ctx context.Context, in domain.LeadInput, tokenHash string, md Metadata,
	admit func(*domain.Lead) error, mail func(*domain.Lead) error) (*domain.Lead, error) {
	lead, events, err := domain.NewLead(uuid.NewString(), in, tokenHash, time.Now())
	if err != nil {
		return nil, err
	}
	if err := admit(lead); err != nil {
		return nil, err
	}
	if _, err := s.Leads.Get(ctx, lead.ID()); err == nil {
		return nil, errors.New("a new lead's id is taken") // a fresh UUID: never
	} else if !errors.Is(err, domain.ErrNotFound) {
		return nil, err // a new lead's stream is empty: anything else is the log failing
	}
	if err := mail(lead); err != nil {
		return nil, err
	}
	return lead, s.Leads.Create(ctx, lead.ID(), md, events)
}

// History is the tenant's stream from version from on, in version order.
func (s *Service) History(ctx context.Context, tenantID string, from int64) ([]Event, error) {
	return s.store.LoadFrom(ctx, s.Tenants.Stream(tenantID), from)
}
