package api

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/tenantflow/tenantflow/app"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/platform/auth"
	"github.com/tenantflow/tenantflow/projections"
)

// Mailer sends a plain-text mail (adapters/smtp).
type Mailer interface {
	Send(ctx context.Context, to, subject, body string) error
}

// Minter mints the short-lived token a verified lead receives (auth.HS256).
type Minter interface {
	Mint(subject string, permissions []string, leadID string, ttl time.Duration, now time.Time) (string, error)
}

// ReadModels are the projections queries are served from (projections.Engine).
type ReadModels interface {
	List(ctx context.Context, q projections.TenantQuery) ([]projections.TenantSummary, string, error)
	Document(ctx context.Context, id string) (projections.Document, error)
	Stats(ctx context.Context) ([]projections.StepStat, error)
	Lags(ctx context.Context) ([]projections.Lag, error)
	Config(ctx context.Context, id, key string) (projections.TenantConfig, error)
	Leads(ctx context.Context, cursor string, limit int) ([]projections.LeadSummary, string, error)
	Orphans(ctx context.Context, tenantID string) ([]domain.Resource, error)
	Plans(ctx context.Context, q projections.PlanQuery) ([]projections.PlanView, string, error)
}

// Deps is what the command and query routes need. Verifier, Minter, Mailer
// and Idempotency may be nil: the routes that need them then answer 401
// (no verifier) or 503 (no minter, no mailer) and say why; without an
// idempotency store the Idempotency-Key header is not honoured.
type Deps struct {
	// App is the use-case layer: every command and the log's own queries
	// (app.NewService over the event store, with the platform's zone).
	App      *app.Service
	Tenants  ReadModels
	Verifier Verifier
	// TenantAdmins verifies tenants' administrators' tokens (auth.TenantAdmins),
	// which read their own tenants and nothing else; nil: none are accepted.
	TenantAdmins Verifier
	Minter       Minter
	Mailer       Mailer
	Idempotency  IdempotencyStore
	LeadRate     int           // sign-ups per minute per client address
	LeadTokenTTL time.Duration // lifetime of a verified lead's token
	// SignUpLimits bound the verification mails: per recipient address and
	// per recipient domain an hour, and for everyone a minute; zero values
	// are the defaults (5, 120, 600).
	SignUpLimits SignUpLimits
	// TrustedProxies are the operator's proxies, whose X-Forwarded-For names
	// the client for the per-client limit.
	TrustedProxies []netip.Prefix
	// Sessions keeps the console's sign-ins (nil: in this process only);
	// SecureCookies marks its cookies Secure even without TLS here.
	Sessions      SessionStore
	SecureCookies bool
	// DeploySigningKey derives the secrets deployment reports are signed
	// with (the application plane's agent); nil: reports answer 503.
	DeploySigningKey []byte
	Logger           *slog.Logger
	// Tiers is the plan tier catalogue; nil: domain.DefaultTiers.
	Tiers domain.Tiers
	// Personal opens the sealed personal fields of the answers; nil: the
	// events hold none (a store without a sealer).
	Personal Opener
	// Billing makes invoices at the billing provider (the billing step's
	// provider); nil: POST /tenants/{id}/invoices answers 503.
	Billing Invoicer
	// BillingNotices verifies the billing provider's webhook deliveries
	// (POST /billing/stripe/events); nil: it answers 503.
	BillingNotices BillingNotices
	// OffboardRetention keeps a DELETEd live tenant, suspended, for this
	// long before its purge, restorable meanwhile; 0: DELETE deprovisions
	// at once.
	OffboardRetention time.Duration
}

// Mount adds the lead and tenant routes.
func (rt *Router) Mount(d Deps) {
	rt.verifier, rt.tenantAdmins, rt.idem, rt.logger, rt.trusted = d.Verifier, d.TenantAdmins, d.Idempotency, d.Logger, d.TrustedProxies
	if d.Personal != nil {
		rt.mux.Use(openPersonal(func(r *http.Request, doc []byte) ([]byte, error) { return d.Personal.OpenJSON(r.Context(), doc) }))
	}
	if d.Tiers == nil {
		d.Tiers = domain.DefaultTiers
	}
	t := &tenantHandlers{app: d.App, tiers: d.Tiers, list: d.Tenants, logger: d.Logger, billing: d.Billing, retention: d.OffboardRetention, personal: d.Personal}
	l := &leadHandlers{app: d.App, mailer: d.Mailer, minter: d.Minter,
		tokenTTL: d.LeadTokenTTL, logger: d.Logger, read: d.Tenants, limit: newRateLimiter(d.LeadRate, time.Minute),
		recipients: newRateLimiter(or(d.SignUpLimits.PerRecipient, 5), time.Hour), domains: newRateLimiter(or(d.SignUpLimits.PerDomain, 120), time.Hour),
		everyone: newRateLimiter(or(d.SignUpLimits.Global, 600), time.Minute), personal: d.Personal}

	post := func(path string, h http.HandlerFunc) { rt.mux.HandleFunc(path, h).Methods(http.MethodPost) }
	get := func(path string, h http.HandlerFunc) { rt.mux.HandleFunc(path, h).Methods(http.MethodGet) }

	post("/leads", l.limit.wrap(d.TrustedProxies, rt.idempotent(l.create)))
	get("/leads", rt.require(auth.ViewLead, l.list))
	get("/leads/{id}", rt.require(auth.ViewLead, l.get))
	post("/leads/{id}/verify", rt.idempotent(l.verify))
	post("/leads/{id}/tenants", rt.authenticate(rt.idempotent(l.createTenant)))
	post("/tenants", rt.require(auth.CreateTenant, rt.idempotent(t.create)))
	get("/tenants", rt.require(auth.ViewTenant, t.listTenants))
	get("/tenants/{id}", rt.requireOrAdminOf(auth.ViewTenant, t.get))
	get("/tenants/{id}/events", rt.requireOrAdminOf(auth.ViewTenant, t.events))
	get("/stats/provisioning", rt.require(auth.ViewTenant, t.stats))
	get("/stats/projections", rt.require(auth.ViewTenant, t.lags))
	post("/tenants/{id}/provision", rt.require(auth.ProvisionTenant, rt.idempotent(t.provision)))
	post("/tenants/{id}/deployment", t.deploymentReport(d.DeploySigningKey))
	post("/tenants/{id}/provision/cancel", rt.require(auth.ProvisionTenant, rt.idempotent(t.cancel)))
	rt.mux.HandleFunc("/tenants/{id}", rt.require(auth.DeleteTenant, t.deprovision)).Methods(http.MethodDelete)
	post("/tenants/{id}/restore", rt.require(auth.DeleteTenant, rt.idempotent(t.restore)))
	rt.mux.HandleFunc("/tenants/{id}", rt.requireOrAdminOf(auth.UpdateTenant, t.update)).Methods(http.MethodPatch)
	get("/orphans", rt.require(auth.ViewOrphans, t.orphans))
	post("/tenants/{id}/orphans/retry", rt.require(auth.ManageOrphans, rt.idempotent(t.retryOrphans)))
	post("/tenants/{id}/orphans/forget", rt.require(auth.ManageOrphans, rt.idempotent(t.forgetOrphan)))
	c := &configHandlers{tenants: d.App.Tenants, configs: d.App.Configs, read: d.Tenants, h: t}
	// A tenant's own administrators (auth.TenantAdmins, or the replaced
	// system's userTenantId) read the tenant and its events, keep its
	// contacts and its configuration: that tenant's, nothing else.
	post("/tenants/{id}/config", rt.requireOrAdminOf(auth.CreateTenantConfig, rt.idempotent(c.create)))
	get("/tenants/{id}/config", rt.requireOrAdminOf(auth.ViewTenantConfig, c.list))
	get("/tenants/{id}/config/{key}", rt.requireOrAdminOf(auth.ViewTenantConfig, c.get))
	rt.mux.HandleFunc("/tenants/{id}/config/{key}", rt.requireOrAdminOf(auth.UpdateTenantConfig, c.update)).Methods(http.MethodPut)
	rt.mux.HandleFunc("/tenants/{id}/config/{key}", rt.requireOrAdminOf(auth.DeleteTenantConfig, c.remove)).Methods(http.MethodDelete)
	get("/tenants/{id}/subscription", rt.requireOrAdminOf(auth.ViewSubscription, t.subscription))
	post("/tenants/{id}/plan", rt.require(auth.UpdateSubscription, rt.idempotent(t.changePlan)))
	post("/tenants/{id}/suspend", rt.require(auth.SuspendTenant, rt.idempotent(t.change(domain.ChangeSuspend))))
	post("/tenants/{id}/reactivate", rt.require(auth.SuspendTenant, rt.idempotent(t.change(domain.ChangeReactivate))))
	get("/tenants/{id}/change", rt.requireOrAdminOf(auth.ViewTenant, t.lastChange))
	post("/tenants/{id}/invoices", rt.require(auth.CreateInvoice, rt.idempotent(t.createInvoice)))
	get("/tenants/{id}/invoices", rt.requireOrAdminOf(auth.ViewInvoice, t.invoices))
	post("/billing/stripe/events", t.billingNotice(d.BillingNotices))
	p := &planHandlers{app: d.App, tiers: d.Tiers, read: d.Tenants, logger: d.Logger}
	post("/plans", rt.require(auth.CreatePlan, rt.idempotent(p.create)))
	get("/plans", rt.require(auth.ViewPlan, p.list))
	get("/plans/{id}", rt.require(auth.ViewPlan, p.get))
	rt.mux.HandleFunc("/plans/{id}", rt.require(auth.UpdatePlan, p.update)).Methods(http.MethodPatch)
	rt.mux.HandleFunc("/plans/{id}", rt.require(auth.DeletePlan, p.archive)).Methods(http.MethodDelete)
	get("/openapi.json", serveOpenAPI)
	rt.mountConsole(d.Tenants, d.App.Tenants, d.Sessions, d.SecureCookies)
}

// SignUpLimits bound the verification mails sign-ups send (see Deps).
type SignUpLimits struct {
	PerRecipient, PerDomain int // an hour
	Global                  int // a minute
}

// or is v, or def when v is not positive.
func or(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}
