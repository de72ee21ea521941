// Package config reads tenantflow's settings from the environment.
//
// Every setting is one TENANTFLOW_* variable with a default that works with
// the dev stack (devstack/devstack.sh) or, where the dev stack generates the
// value (passwords), with `devstack.sh env`. Load reports every bad variable at
// once, so an operator fixes a deployment in one round instead of one per try.
package config

import (
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/tenantflow/tenantflow/adapters/kafka"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/handlers"
)

// Config is the whole of tenantd's configuration: one group of settings per
// part or adapter, each validating itself (Validate reports every group's
// problems at once). Groups are embedded, so a setting reads as c.Field.
type Config struct {
	ProcessSettings
	DatabaseSettings
	KafkaSettings
	KeycloakSettings
	TokenSettings
	APISettings
	MailSettings
	LogSettings
	HandlerSettings
	BackEndSettings
}

// ProcessSettings are the process: its roles, addresses, environment, logs and shutdown.
type ProcessSettings struct {
	// Roles are the parts this tenantd runs: api (the REST API and console),
	// relay (the relay and the sealer; one is active, others stand by),
	// handlers (the step handlers) and projections (the read models' live
	// feed). Health, readiness and metrics are always served.
	Roles []string `env:"TENANTFLOW_ROLES" envSeparator:"," envDefault:"api,relay,handlers,projections"`

	// HTTPAddr is where the REST API listens.
	HTTPAddr string `env:"TENANTFLOW_HTTP_ADDR" envDefault:":14000"`

	// AdminAddr is where /metrics and the readiness naming each dependency
	// are served: not the API's address, and by default the loopback only.
	AdminAddr string `env:"TENANTFLOW_ADMIN_ADDR" envDefault:"127.0.0.1:14001"`

	// Env is development or production. Production refuses fault injection,
	// a missing seal key and the embedded broker.
	Env string `env:"TENANTFLOW_ENV" envDefault:"development"`

	// LogLevel is one of debug, info, warn, error.
	LogLevel string `env:"TENANTFLOW_LOG_LEVEL" envDefault:"info"`

	// ShutdownTimeout bounds the graceful shutdown after SIGTERM.
	ShutdownTimeout time.Duration `env:"TENANTFLOW_SHUTDOWN_TIMEOUT" envDefault:"10s"`

	// ReadyCheckTimeout bounds each dependency check behind /readyz.
	ReadyCheckTimeout time.Duration `env:"TENANTFLOW_READY_CHECK_TIMEOUT" envDefault:"2s"`
}

// DatabaseSettings are PostgreSQL: the event log's database, its owner, the tenants' database.
type DatabaseSettings struct {
	// DatabaseURL points at the PostgreSQL database holding the event log and projections.
	DatabaseURL string `env:"TENANTFLOW_DATABASE_URL" envDefault:"postgres://tenantflow@127.0.0.1:15432/tenantflow?sslmode=disable"`

	// MigrateURL is the same database as the owner of its tables: migrations
	// run with it, and DatabaseURL's role (a member of tenantflow_runtime)
	// may then only read and append to the event log. Empty: migrations run
	// with DatabaseURL, which must then own the tables (refused in production).
	MigrateURL string `env:"TENANTFLOW_DATABASE_MIGRATE_URL"`

	// TenantDatabaseURL is where tenant schemas are made; empty: DatabaseURL.
	TenantDatabaseURL string `env:"TENANTFLOW_TENANT_DATABASE_URL"`
}

// KafkaSettings are the bus: brokers, topic, consumer groups, TLS and SASL, replication.
type KafkaSettings struct {
	// KafkaBrokers lists the bootstrap brokers. Empty means: run the embedded,
	// in-process, non-durable broker, so tenantd starts on a machine without a JDK.
	KafkaBrokers []string `env:"TENANTFLOW_KAFKA_BROKERS" envSeparator:","`

	// KafkaPartitions is the partition count of tenant.events.v1 when tenantd
	// creates it. An existing topic is left as it is.
	KafkaPartitions int32 `env:"TENANTFLOW_KAFKA_PARTITIONS" envDefault:"12"`

	// KafkaTopic is the topic the relay writes every event to and the
	// handlers read; KafkaGroupPrefix starts the name of every consumer
	// group (<prefix>.handlers, <prefix>.projections). Change them only to run several
	// installations on one Kafka cluster.
	KafkaTopic string `env:"TENANTFLOW_KAFKA_TOPIC" envDefault:"tenant.events.v1"`

	KafkaGroupPrefix string `env:"TENANTFLOW_KAFKA_GROUP_PREFIX" envDefault:"tenantflow"`

	// The brokers' authentication and the topics' durability (see
	// kafka.Settings): SASL mechanism and principal, the relay's own
	// principal (the only one the ACLs let write the event topic), TLS
	// with an optional CA file, and the replication of the topics tenantd
	// creates.
	KafkaSASLMechanism string `env:"TENANTFLOW_KAFKA_SASL_MECHANISM"`

	KafkaUsername string `env:"TENANTFLOW_KAFKA_USERNAME"`

	KafkaPassword string `env:"TENANTFLOW_KAFKA_PASSWORD" secret:"true"`

	KafkaRelayUsername string `env:"TENANTFLOW_KAFKA_RELAY_USERNAME"`

	KafkaRelayPassword string `env:"TENANTFLOW_KAFKA_RELAY_PASSWORD" secret:"true"`

	KafkaTLS bool `env:"TENANTFLOW_KAFKA_TLS"`

	KafkaTLSCAFile string `env:"TENANTFLOW_KAFKA_TLS_CA_FILE"`

	KafkaReplicationFactor int16 `env:"TENANTFLOW_KAFKA_REPLICATION_FACTOR" envDefault:"3"`

	KafkaMinInsyncReplicas int `env:"TENANTFLOW_KAFKA_MIN_INSYNC_REPLICAS" envDefault:"2"`

	// KafkaInstanceID makes this process a static member of its consumer
	// groups: unique per process and stable across its restarts (a
	// StatefulSet's pod name); empty: dynamic membership.
	KafkaInstanceID string `env:"TENANTFLOW_KAFKA_INSTANCE_ID"`
}

// KeycloakSettings are Keycloak's admin API and tenantd's way in.
type KeycloakSettings struct {
	// KeycloakURL is the base URL of Keycloak. Empty means identity is not
	// configured: readiness does not check it.
	KeycloakURL string `env:"TENANTFLOW_KEYCLOAK_URL"`

	KeycloakAdminRealm string `env:"TENANTFLOW_KEYCLOAK_ADMIN_REALM" envDefault:"master"`

	KeycloakAdminUser string `env:"TENANTFLOW_KEYCLOAK_ADMIN_USER" envDefault:"admin"`

	KeycloakAdminPassword string `env:"TENANTFLOW_KEYCLOAK_ADMIN_PASSWORD" secret:"true"`

	// KeycloakClientID and KeycloakClientSecret are the service account
	// tenantd signs in with (a confidential client of the admin realm with
	// create-realm only; keycloak.Provisioner). When set they are used and
	// the admin user is not; production requires them.
	KeycloakClientID string `env:"TENANTFLOW_KEYCLOAK_CLIENT_ID"`

	KeycloakClientSecret string `env:"TENANTFLOW_KEYCLOAK_CLIENT_SECRET" secret:"true"`

	// KeycloakOrganizationsRealm is the shared realm of the tiers whose
	// identity model is organization: each such tenant is an organization
	// of it. tenantd creates it on first use (its service account may: it
	// holds create-realm), so the service account administers it.
	KeycloakOrganizationsRealm string `env:"TENANTFLOW_KEYCLOAK_ORGANIZATIONS_REALM" envDefault:"tenants"`
}

// TokenSettings are the bearer tokens tenantd accepts and mints.
type TokenSettings struct {
	// JWTSecret signs and verifies HS256 bearer tokens (development). Empty:
	// every protected route answers 401, and tenantd says why at start.
	JWTSecret string `env:"TENANTFLOW_JWT_SECRET" secret:"true"`

	// JWTIssuer is the iss claim tokens must carry.
	JWTIssuer string `env:"TENANTFLOW_JWT_ISSUER" envDefault:"tenantflow"`

	// JWTJWKSURL is a JWKS endpoint (Keycloak's .../protocol/openid-connect/certs)
	// whose keys verify RS256 tokens; keys are cached and refetched when a
	// token names an unknown kid. Empty: only HS256 tokens are accepted.
	JWTJWKSURL string `env:"TENANTFLOW_JWT_JWKS_URL"`

	// JWTJWKSIssuer is the iss of the JWKS URL's tokens; empty: the realm
	// URL of a Keycloak JWKS URL (.../realms/<realm>), else JWTIssuer.
	JWTJWKSIssuer string `env:"TENANTFLOW_JWT_JWKS_ISSUER"`

	// JWTAudience, when set, must be among a JWKS token's aud, or its azp.
	JWTAudience string `env:"TENANTFLOW_JWT_AUDIENCE"`

	// JWTHS256Operators keeps HS256 tokens that grant permissions valid
	// beside a JWKS (development; refused in production).
	JWTHS256Operators bool `env:"TENANTFLOW_JWT_HS256_OPERATORS"`

	// LeadTokenTTL is the lifetime of the token a verified lead receives.
	LeadTokenTTL time.Duration `env:"TENANTFLOW_LEAD_TOKEN_TTL" envDefault:"15m"`
}

// APISettings are the REST API and console: sign-up limits, proxies, cookies, idempotency.
type APISettings struct {
	// LeadRateLimit is how many sign-ups (POST /leads) one client address may
	// send per minute; it is also the burst.
	LeadRateLimit int `env:"TENANTFLOW_LEAD_RATE_LIMIT" envDefault:"10"`

	// The verification mails' bounds: per recipient address and per
	// recipient domain an hour, and for everyone a minute.
	LeadRatePerRecipient int `env:"TENANTFLOW_LEAD_RATE_PER_RECIPIENT" envDefault:"5"`

	LeadRatePerDomain int `env:"TENANTFLOW_LEAD_RATE_PER_DOMAIN" envDefault:"120"`

	LeadRateGlobal int `env:"TENANTFLOW_LEAD_RATE_GLOBAL" envDefault:"600"`

	// ConsoleSecureCookies marks the console's cookies Secure although this
	// process serves plain HTTP (a TLS proxy in front of it).
	ConsoleSecureCookies bool `env:"TENANTFLOW_CONSOLE_SECURE_COOKIES"`

	// TrustedProxies (CIDRs) may name the client in X-Forwarded-For.
	TrustedProxies []string `env:"TENANTFLOW_TRUSTED_PROXIES" envSeparator:","`

	// IdempotencyTTL is how long an Idempotency-Key's first response is kept.
	IdempotencyTTL time.Duration `env:"TENANTFLOW_IDEMPOTENCY_TTL" envDefault:"24h"`
}

// MailSettings are mail: the SMTP server, Novu, the mail bridge and what mails say.
type MailSettings struct {
	// SMTPAddr is the SMTP server (host:port) that sends verification mails.
	// Empty: sign-up (POST /leads) answers 503.
	SMTPAddr string `env:"TENANTFLOW_SMTP_ADDR"`

	SMTPFrom string `env:"TENANTFLOW_SMTP_FROM" envDefault:"tenantflow <no-reply@tenantflow.localhost>"`

	SMTPUser string `env:"TENANTFLOW_SMTP_USER"`

	SMTPPassword string `env:"TENANTFLOW_SMTP_PASSWORD" secret:"true"`

	// SMTPTLS is opportunistic (STARTTLS when offered), mandatory, or none.
	SMTPTLS string `env:"TENANTFLOW_SMTP_TLS" envDefault:"opportunistic"`

	// Notifier sends the tenant's mails: smtp (through TENANTFLOW_SMTP_*) or
	// novu (Novu's event trigger API at NovuURL with NovuAPIKey).
	Notifier string `env:"TENANTFLOW_NOTIFIER" envDefault:"smtp"`

	NovuURL string `env:"TENANTFLOW_NOVU_URL" envDefault:"https://api.novu.co"`

	NovuAPIKey string `env:"TENANTFLOW_NOVU_API_KEY" secret:"true"`

	// MailBridgeAddr is where tenantd's mail bridge listens when Keycloak
	// cannot mail the tenants' admins itself (no TENANTFLOW_SMTP_ADDR, Novu
	// notifier): Keycloak mails the set-password link to it and the bridge
	// sends it through Novu. MailBridgeDial is the host:port Keycloak dials
	// to reach it (empty: MailBridgeAddr).
	MailBridgeAddr string `env:"TENANTFLOW_MAIL_BRIDGE_ADDR" envDefault:"127.0.0.1:14025"`

	MailBridgeDial string `env:"TENANTFLOW_MAIL_BRIDGE_DIAL"`

	// SupportEmail and AdminPortalURL appear in the tenant's mails.
	SupportEmail string `env:"TENANTFLOW_SUPPORT_EMAIL" envDefault:"support@tenantflow.localhost"`

	AdminPortalURL string `env:"TENANTFLOW_ADMIN_PORTAL_URL"`
}

// LogSettings are the event log: event size, seals and personal data's master key.
type LogSettings struct {
	// MaxEventBytes caps the data of one event at append: a request that
	// would record a bigger one is refused (413) and nothing is stored.
	// Keep it well below the brokers' message.max.bytes (default 1 MB).
	MaxEventBytes int `env:"TENANTFLOW_MAX_EVENT_BYTES" envDefault:"65536"`

	// SealKey signs the log's seals (HMAC-SHA256); tenantctl verify needs the
	// same key. Empty: seals are chained but not signed. SealInterval is how
	// often tenantd seals what was committed since.
	SealKey string `env:"TENANTFLOW_SEAL_KEY" secret:"true"`

	// PIIKey (64 hex characters) wraps the keys people's personal fields
	// are sealed with (platform/pii), so that a copy of the database alone
	// opens nothing. Empty: the keys are stored unwrapped (development;
	// refused in production). Erasure works either way.
	PIIKey string `env:"TENANTFLOW_PII_KEY" secret:"true"`

	SealInterval time.Duration `env:"TENANTFLOW_SEAL_INTERVAL" envDefault:"10s"`
}

// HandlerSettings are the step handlers: which run, how many at once, retries, faults, plan tiers.
type HandlerSettings struct {
	// Handlers runs the provisioning step handlers in this tenantd.
	Handlers bool `env:"TENANTFLOW_HANDLERS" envDefault:"true"`

	// Steps names the handlers this tenantd hosts (steps, notify, saga);
	// empty: all. Processes hosting the same set share one consumer group.
	Steps []string `env:"TENANTFLOW_STEPS" envSeparator:","`

	// SkipSteps names the steps this installation runs without a back end,
	// on purpose: production refuses to start when a step of the flow has
	// none and is not named here (a tenant would reach ACTIVE without it).
	// A skipped step says so in the tenant's record.
	SkipSteps []string `env:"TENANTFLOW_SKIP_STEPS" envSeparator:","`

	// HandlerConcurrency bounds the records the handlers work on at once,
	// including those waiting for their step's slot (see
	// handlers.Config.Concurrency); one tenant's records always run in order.
	HandlerConcurrency int `env:"TENANTFLOW_HANDLER_CONCURRENCY" envDefault:"512"`

	// StepConcurrency bounds the records one handler (one step) works on at
	// once in this process: its back end sees at most that many calls.
	StepConcurrency int `env:"TENANTFLOW_STEP_CONCURRENCY" envDefault:"4"`

	// HandlerMaxFailures bounds how often a handler failing on a record (not
	// a step failing: its store unreachable, say) is retried before the
	// record is dead-lettered and its tenant held.
	HandlerMaxFailures int `env:"TENANTFLOW_HANDLER_MAX_FAILURES" envDefault:"20"`

	// StepMaxTries bounds the tries of a step against transient errors;
	// StepMaxTriesByStep overrides it per step ("idp=8,database=3").
	StepMaxTries int `env:"TENANTFLOW_STEP_MAX_TRIES" envDefault:"5"`

	StepMaxTriesByStep map[string]int `env:"TENANTFLOW_STEP_MAX_TRIES_BY_STEP" envKeyValSeparator:"="`

	StepRetryBase time.Duration `env:"TENANTFLOW_STEP_RETRY_BASE" envDefault:"500ms"`

	StepRetryMax time.Duration `env:"TENANTFLOW_STEP_RETRY_MAX" envDefault:"30s"`

	// StepTryTimeout bounds one try of a step against its back end (the
	// infrastructure step gets TENANTFLOW_INFRA_TIMEOUT plus a minute).
	StepTryTimeout time.Duration `env:"TENANTFLOW_STEP_TRY_TIMEOUT" envDefault:"2m"`

	// Tiers is the operator's plan tiers, each mapped to an isolation model
	// (silo, bridge, pooled) and, after a colon, an identity model (realm:
	// a Keycloak realm a tenant, the default; organization: an organization
	// in the shared realm TENANTFLOW_KEYCLOAK_ORGANIZATIONS_REALM):
	// "enterprise=silo:realm,standard=bridge:organization,basic=pooled:organization".
	// A provisioning request naming another tier is refused with the list.
	// Empty: the three isolation models are the tiers, each with realms.
	Tiers string `env:"TENANTFLOW_TIERS"`

	// Faults makes named steps fail on purpose, to rehearse compensation:
	// "database=permanent,idp=transient:2". Refused in production.
	Faults string `env:"TENANTFLOW_FAULTS"`
}

// BackEndSettings are the steps' back ends: storage, OpenTofu, the application plane, DNS.
type BackEndSettings struct {
	// Storage is the storage step's back end: local (a directory per tenant
	// under StorageDir, the embedded default), s3, or none (skipped).
	Storage string `env:"TENANTFLOW_STORAGE" envDefault:"local"`

	StorageDir string `env:"TENANTFLOW_STORAGE_DIR"`

	S3Endpoint string `env:"TENANTFLOW_S3_ENDPOINT"`

	S3AccessKey string `env:"TENANTFLOW_S3_ACCESS_KEY"`

	S3SecretKey string `env:"TENANTFLOW_S3_SECRET_KEY" secret:"true"`

	S3Region string `env:"TENANTFLOW_S3_REGION" envDefault:"us-east-1"`

	S3TLS bool `env:"TENANTFLOW_S3_TLS" envDefault:"true"`

	// Billing is the billing step's provider: stripe, or empty (skipped).
	// StripeAPIURL points stripe-go elsewhere than api.stripe.com (the dev
	// stack's stripe-mock, a stand-in).
	Billing string `env:"TENANTFLOW_BILLING"`

	StripeAPIKey string `env:"TENANTFLOW_STRIPE_API_KEY" secret:"true"`

	StripeAPIURL string `env:"TENANTFLOW_STRIPE_API_URL"`

	// StripeWebhookSecret is the signing secret of the Stripe webhook
	// endpoint POST /billing/stripe/events (whsec_...): with it, a
	// subscription gone unpaid suspends its tenant. Empty: no endpoint.
	StripeWebhookSecret string `env:"TENANTFLOW_STRIPE_WEBHOOK_SECRET" secret:"true"`

	// Infrastructure: InfraBinary (tofu or terraform) runs the module of the
	// tenant's plan tier, else of its isolation model (InfraModules:
	// "silo=/path,bridge=/path,enterprise=/path"; no module: skipped) with per-tenant state under InfraStateDir.
	// Empty binary or modules: the step is skipped.
	InfraBinary string `env:"TENANTFLOW_INFRA_BINARY"`

	InfraModules map[string]string `env:"TENANTFLOW_INFRA_MODULES" envKeyValSeparator:"="`

	InfraStateDir string `env:"TENANTFLOW_INFRA_STATE_DIR"`
	// InfraPassEnv names variables of tenantd's environment OpenTofu and
	// its providers get besides PATH, HOME, TMPDIR, locale and proxies (a
	// cloud provider's credentials); TENANTFLOW_* never passes.
	InfraPassEnv []string `env:"TENANTFLOW_INFRA_PASS_ENV" envSeparator:","`

	// InfraState is where tenants' OpenTofu state lives: "postgres" (the pg
	// backend on the event log's database, a schema per tenant: any handler
	// instance can destroy what another applied) or "local" (files under
	// InfraStateDir: one process only, for development).
	InfraState string `env:"TENANTFLOW_INFRA_STATE" envDefault:"postgres"`
	// InfraStateURL is the PostgreSQL role OpenTofu keeps the tenants'
	// state with (its pg backend, schemas tofu_<tenant>): one that may
	// create schemas and reads nothing else, because OpenTofu and the
	// providers it downloads see it. Empty: the tenant database's URL (or
	// the log's), in development only.
	InfraStateURL string `env:"TENANTFLOW_INFRA_STATE_URL"`

	InfraRegion string `env:"TENANTFLOW_INFRA_REGION" envDefault:"local"`

	InfraTimeout time.Duration `env:"TENANTFLOW_INFRA_TIMEOUT" envDefault:"10m"`

	// Deployment: with both keys set, the deploy step asks the application
	// plane (its agent) and waits up to DeployDeadline for a signed report.
	// DeploySigningKey (at least 32 bytes) never leaves the control plane;
	// AgentKey (64 hex characters) is shared with the agent to seal secrets.
	DeploySigningKey string `env:"TENANTFLOW_DEPLOY_SIGNING_KEY" secret:"true"`

	AgentKey string `env:"TENANTFLOW_AGENT_KEY" secret:"true"`

	DeployDeadline time.Duration `env:"TENANTFLOW_DEPLOY_DEADLINE" envDefault:"10m"`

	// Expiry of a subscription with an endDate (app.Lifecycle, in the handlers
	// role): the tenant keeps running for ExpiryGrace after it, then is
	// suspended, its data kept, for ExpiryRetention, then offboarded; its
	// contact is warned ExpiryWarning before each.
	ExpiryGrace     time.Duration `env:"TENANTFLOW_EXPIRY_GRACE" envDefault:"168h"`
	ExpiryRetention time.Duration `env:"TENANTFLOW_EXPIRY_RETENTION" envDefault:"720h"`
	ExpiryWarning   time.Duration `env:"TENANTFLOW_EXPIRY_WARNING" envDefault:"72h"`

	// OffboardRetention keeps a DELETEd live tenant, suspended with its data,
	// for this long before it is purged (POST /tenants/{id}/restore brings it
	// back meanwhile); 0: DELETE deprovisions at once.
	OffboardRetention time.Duration `env:"TENANTFLOW_OFFBOARD_RETENTION" envDefault:"0s"`

	// DNS: RFC 2136 updates to DNSServer for DNSZone, signed with the TSIG
	// key DNSTSIGName/DNSTSIGSecret (hmac-sha256). Empty server: skipped.
	DNSServer string `env:"TENANTFLOW_DNS_SERVER"`

	DNSZone string `env:"TENANTFLOW_DNS_ZONE"`

	DNSTSIGName string `env:"TENANTFLOW_DNS_TSIG_NAME"`

	DNSTSIGSecret string `env:"TENANTFLOW_DNS_TSIG_SECRET" secret:"true"`

	// DNSTarget is the CNAME target when the infrastructure reports no load_balancer.
	DNSTarget string `env:"TENANTFLOW_DNS_TARGET"`
}

// Load reads the configuration from the process environment and validates it.
func Load() (Config, error) { return FromEnv(nil) }

// FromEnv reads the configuration from environ (the process environment when
// nil) and validates it. The error lists every problem, one per variable.
func FromEnv(environ map[string]string) (Config, error) {
	opts := env.Options{Environment: environ}
	cfg, err := env.ParseAsWithOptions[Config](opts)
	var problems []error
	if err != nil {
		var agg env.AggregateError
		if errors.As(err, &agg) {
			problems = append(problems, agg.Errors...)
		} else {
			problems = append(problems, err)
		}
	}
	if err := cfg.Validate(); err != nil {
		problems = append(problems, err)
	}
	if len(problems) > 0 {
		return cfg, fmt.Errorf("invalid configuration:\n%w", errors.Join(problems...))
	}
	return cfg, nil
}

// Validate reports every invalid setting at once, each naming its variable:
// each group checks its own settings, then the settings that depend on
// another group's are checked here.
func (c Config) Validate() error {
	var p problems
	production := c.Env == "production"
	c.ProcessSettings.validate(&p)
	c.DatabaseSettings.validate(&p)
	c.KafkaSettings.validate(&p, production)
	c.KeycloakSettings.validate(&p, production)
	c.TokenSettings.validate(&p, production)
	c.APISettings.validate(&p)
	c.MailSettings.validate(&p)
	c.LogSettings.validate(&p, production)
	c.HandlerSettings.validate(&p, production)
	c.BackEndSettings.validate(&p)
	c.validateSkipSteps(&p, production)
	if production {
		c.validateProduction(&p)
	}
	// An OpenTofu module is named by a plan tier or an isolation model.
	if tiers, err := domain.ParseTiers(c.Tiers); err == nil {
		for name := range c.InfraModules {
			if _, isTier := tiers[name]; !isTier && !slices.Contains(domain.IsolationModels, name) {
				p.bad("TENANTFLOW_INFRA_MODULES", "%q is neither a configured tier (%s) nor an isolation model (%s)",
					name, strings.Join(tiers.Names(), ", "), strings.Join(domain.IsolationModels, ", "))
			}
		}
	}
	return errors.Join(p...)
}

// OptionalSteps are the steps an installation may run without a back end
// (the database step always has one: the event log's PostgreSQL).
var OptionalSteps = []string{domain.StepIdentity, domain.StepAdminUser, domain.StepStorage, domain.StepInfrastructure,
	domain.StepDeploy, domain.StepDNS, domain.StepBilling, domain.StepNotify}

// StepsWithoutBackEnd are the steps of the flow this configuration has no
// back end for: they are skipped.
func (c Config) StepsWithoutBackEnd() []string {
	missing := map[string]bool{
		domain.StepIdentity:       !c.KeycloakConfigured(),
		domain.StepAdminUser:      !c.KeycloakConfigured(),
		domain.StepStorage:        c.Storage == "none",
		domain.StepInfrastructure: c.InfraBinary == "" || len(c.InfraModules) == 0,
		domain.StepDeploy:         c.DeploySigningKey == "",
		domain.StepDNS:            c.DNSServer == "",
		domain.StepBilling:        c.Billing == "",
		domain.StepNotify:         c.SMTPAddr == "" && c.Notifier != "novu",
	}
	var out []string
	for _, s := range OptionalSteps {
		if missing[s] {
			out = append(out, s)
		}
	}
	return out
}

// validateSkipSteps: TENANTFLOW_SKIP_STEPS names steps that have no back
// end here, and in production every step without one is named.
func (c Config) validateSkipSteps(p *problems, production bool) {
	missing := c.StepsWithoutBackEnd()
	for _, s := range c.SkipSteps {
		switch {
		case !slices.Contains(OptionalSteps, s):
			p.bad("TENANTFLOW_SKIP_STEPS", "%q is not a step that can be skipped (%s)", s, strings.Join(OptionalSteps, ", "))
		case !slices.Contains(missing, s):
			p.bad("TENANTFLOW_SKIP_STEPS", "names %s, which has a back end configured: remove one or the other", s)
		}
	}
	if !production || !c.Handlers || !c.Runs("handlers") {
		return
	}
	var unnamed []string
	for _, s := range missing {
		if !slices.Contains(c.SkipSteps, s) {
			unnamed = append(unnamed, s)
		}
	}
	if len(unnamed) > 0 {
		p.bad("TENANTFLOW_SKIP_STEPS", "steps %s have no back end configured: in production configure them, or name them in TENANTFLOW_SKIP_STEPS to skip them on purpose",
			strings.Join(unnamed, ", "))
	}
}

// validateProduction refuses, in production, every shortcut that is fine on
// a developer's machine and unsafe anywhere else.
func (c Config) validateProduction(p *problems) {
	httpsOnly := func(name, raw string) {
		if u, err := url.Parse(raw); err == nil && raw != "" && u.Scheme != "https" {
			p.bad(name, "must be an https URL when TENANTFLOW_ENV=production: tokens and credentials travel on it")
		}
	}
	if c.JWTJWKSURL == "" {
		p.bad("TENANTFLOW_JWT_JWKS_URL", "is required when TENANTFLOW_ENV=production: operators' tokens come from the identity provider's key set; "+
			"the HS256 secret only signs leads' tokens, and whoever held it could otherwise mint any permission")
	}
	httpsOnly("TENANTFLOW_JWT_JWKS_URL", c.JWTJWKSURL)
	httpsOnly("TENANTFLOW_KEYCLOAK_URL", c.KeycloakURL)
	if c.Notifier == "novu" {
		httpsOnly("TENANTFLOW_NOVU_URL", c.NovuURL)
	}
	if c.Billing == "stripe" {
		httpsOnly("TENANTFLOW_STRIPE_API_URL", c.StripeAPIURL) // the secret key travels with every request
	}
	if c.SMTPAddr != "" && c.SMTPTLS != "mandatory" {
		p.bad("TENANTFLOW_SMTP_TLS", "must be mandatory when TENANTFLOW_ENV=production: mails carry set-password links and people's addresses")
	}
	if c.Storage == "s3" && !c.S3TLS {
		p.bad("TENANTFLOW_S3_TLS", "must be true when TENANTFLOW_ENV=production: the storage keys travel with every request")
	}
	if c.Runs("api") && !c.ConsoleSecureCookies {
		p.bad("TENANTFLOW_CONSOLE_SECURE_COOKIES", "must be true when TENANTFLOW_ENV=production: the console's session cookie must never travel without TLS")
	}
	if c.InfraBinary != "" && len(c.InfraModules) > 0 && c.InfraState == "postgres" && c.InfraStateURL == "" {
		p.bad("TENANTFLOW_INFRA_STATE_URL", "is required when TENANTFLOW_ENV=production and OpenTofu keeps its state in PostgreSQL: "+
			"a role that may create its state schemas and nothing else, because OpenTofu and its providers see it")
	}
	if c.Runs("relay") && len(c.KafkaBrokers) > 0 && c.KafkaRelayUsername == "" {
		p.bad("TENANTFLOW_KAFKA_RELAY_USERNAME", "is required when TENANTFLOW_ENV=production: only the relay's own principal may write the event topic")
	}
}

// ValidateServing adds what only a serving tenantd must not have: in
// production, the tables' owner's credentials (migrations run before, as
// `tenantctl migrate`, a job of their own).
func (c Config) ValidateServing() error {
	if c.Env == "production" && c.MigrateURL != "" {
		return errors.New("TENANTFLOW_DATABASE_MIGRATE_URL: must not reach tenantd when TENANTFLOW_ENV=production: " +
			"the owner of the event log stays out of the serving process; run `tenantctl migrate` with it as a job before tenantd starts (docs/operations.md)")
	}
	return nil
}

// problems collects invalid settings, each naming its variable.
type problems []error

func (p *problems) bad(name, format string, args ...any) {
	*p = append(*p, fmt.Errorf("%s: "+format, append([]any{name}, args...)...))
}

// validate adds the invalid settings of the group to p.
func (c ProcessSettings) validate(p *problems) {
	bad := p.bad
	if len(c.Roles) == 0 {
		bad("TENANTFLOW_ROLES", "name at least one of api, relay, handlers, projections")
	}
	for _, r := range c.Roles {
		if !slices.Contains(AllRoles, r) {
			bad("TENANTFLOW_ROLES", "%q is not one of api, relay, handlers, projections", r)
		}
	}
	if _, port, err := net.SplitHostPort(c.HTTPAddr); err != nil || port == "" {
		bad("TENANTFLOW_HTTP_ADDR", "%q is not host:port (for example :14000)", c.HTTPAddr)
	}
	if _, port, err := net.SplitHostPort(c.AdminAddr); err != nil || port == "" {
		bad("TENANTFLOW_ADMIN_ADDR", "%q is not host:port (for example 127.0.0.1:14001)", c.AdminAddr)
	} else if c.AdminAddr == c.HTTPAddr {
		bad("TENANTFLOW_ADMIN_ADDR", "must not be the API's address: the admin endpoints stay off the public port")
	}
	if c.Env != "development" && c.Env != "production" {
		bad("TENANTFLOW_ENV", "%q is not development or production", c.Env)
	}
	if _, err := c.SlogLevel(); err != nil {
		bad("TENANTFLOW_LOG_LEVEL", "%q is not one of debug, info, warn, error", c.LogLevel)
	}
	if c.ShutdownTimeout <= 0 {
		bad("TENANTFLOW_SHUTDOWN_TIMEOUT", "must be positive, got %s", c.ShutdownTimeout)
	}
	if c.ReadyCheckTimeout <= 0 {
		bad("TENANTFLOW_READY_CHECK_TIMEOUT", "must be positive, got %s", c.ReadyCheckTimeout)
	}
}

// validate adds the invalid settings of the group to p.
func (c DatabaseSettings) validate(p *problems) {
	bad := p.bad
	if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		bad("TENANTFLOW_DATABASE_URL", "must be a postgres:// URL with a host (the value is not shown: it may hold a password)")
	}
	if c.MigrateURL != "" {
		if u, err := url.Parse(c.MigrateURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
			bad("TENANTFLOW_DATABASE_MIGRATE_URL", "must be a postgres:// URL with a host (the value is not shown: it may hold a password)")
		}
	}
	if c.TenantDatabaseURL != "" {
		if u, err := url.Parse(c.TenantDatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
			bad("TENANTFLOW_TENANT_DATABASE_URL", "must be a postgres:// URL with a host (the value is not shown)")
		}
	}
}

// validate adds the invalid settings of the group to p.
func (c KafkaSettings) validate(p *problems, production bool) {
	bad := p.bad
	if c.KafkaInstanceID != "" && !kafkaName.MatchString(c.KafkaInstanceID) {
		bad("TENANTFLOW_KAFKA_INSTANCE_ID", "%q: use letters, digits, . _ -", c.KafkaInstanceID)
	}
	for _, b := range c.KafkaBrokers {
		if host, port, err := net.SplitHostPort(strings.TrimSpace(b)); err != nil || host == "" || port == "" {
			bad("TENANTFLOW_KAFKA_BROKERS", "%q is not host:port", b)
		}
	}
	if err := c.Kafka().Validate(); err != nil {
		name, _, _ := strings.Cut(err.Error(), " ")
		bad(name, "%s", strings.TrimPrefix(strings.TrimPrefix(err.Error(), name), " "))
	}
	if (c.KafkaRelayUsername == "") != (c.KafkaRelayPassword == "") {
		bad("TENANTFLOW_KAFKA_RELAY_PASSWORD", "TENANTFLOW_KAFKA_RELAY_USERNAME and _PASSWORD go together")
	}
	if !kafkaName.MatchString(c.KafkaTopic) {
		bad("TENANTFLOW_KAFKA_TOPIC", "%q is not a Kafka topic name (letters, digits, . _ -, at most 249)", c.KafkaTopic)
	}
	if !kafkaName.MatchString(c.KafkaGroupPrefix) {
		bad("TENANTFLOW_KAFKA_GROUP_PREFIX", "%q: use letters, digits, . _ -", c.KafkaGroupPrefix)
	}
	if c.KafkaPartitions < 1 || c.KafkaPartitions > 10000 {
		bad("TENANTFLOW_KAFKA_PARTITIONS", "must be between 1 and 10000, got %d", c.KafkaPartitions)
	}
	if production {
		if len(c.KafkaBrokers) == 0 {
			bad("TENANTFLOW_KAFKA_BROKERS", "is required when TENANTFLOW_ENV=production: the embedded broker keeps nothing across a restart")
		}
		if len(c.KafkaBrokers) > 0 && c.KafkaSASLMechanism == "" {
			bad("TENANTFLOW_KAFKA_SASL_MECHANISM", "is required when TENANTFLOW_ENV=production: the brokers must know who writes and reads the log")
		}
		if len(c.KafkaBrokers) > 0 && !c.KafkaTLS {
			bad("TENANTFLOW_KAFKA_TLS", "must be true when TENANTFLOW_ENV=production: personal data and sealed secrets travel on the topic")
		}
	}
}

// validate adds the invalid settings of the group to p.
func (c KeycloakSettings) validate(p *problems, production bool) {
	bad := p.bad
	if c.KeycloakURL != "" {
		if u, err := url.Parse(c.KeycloakURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("TENANTFLOW_KEYCLOAK_URL", "%q is not an http(s) URL", c.KeycloakURL)
		}
		switch org := c.KeycloakOrganizationsRealm; {
		case org == "":
			bad("TENANTFLOW_KEYCLOAK_ORGANIZATIONS_REALM", "must not be empty when TENANTFLOW_KEYCLOAK_URL is set")
		case org == c.KeycloakAdminRealm || strings.HasPrefix(org, domain.RealmPrefix) || !realmName.MatchString(org):
			bad("TENANTFLOW_KEYCLOAK_ORGANIZATIONS_REALM", "%q must be a realm of its own: letters, digits, '-' and '_', not the admin realm and not tenant-<key> (a tenant's realm)", org)
		}
		if c.KeycloakAdminRealm == "" {
			bad("TENANTFLOW_KEYCLOAK_ADMIN_REALM", "must not be empty when TENANTFLOW_KEYCLOAK_URL is set")
		}
		switch {
		case c.KeycloakClientID != "":
			if c.KeycloakClientSecret == "" {
				bad("TENANTFLOW_KEYCLOAK_CLIENT_SECRET", "must be set with TENANTFLOW_KEYCLOAK_CLIENT_ID")
			}
		case production:
			bad("TENANTFLOW_KEYCLOAK_CLIENT_ID", "is required when TENANTFLOW_ENV=production: tenantd signs in as a service account with create-realm only, never as the admin user")
		case c.KeycloakAdminUser == "":
			bad("TENANTFLOW_KEYCLOAK_ADMIN_USER", "must not be empty when TENANTFLOW_KEYCLOAK_URL is set (or set TENANTFLOW_KEYCLOAK_CLIENT_ID)")
		case c.KeycloakAdminPassword == "":
			bad("TENANTFLOW_KEYCLOAK_ADMIN_PASSWORD", "must be set when TENANTFLOW_KEYCLOAK_URL is set (or set TENANTFLOW_KEYCLOAK_CLIENT_ID and _SECRET)")
		}
	}
}

// validate adds the invalid settings of the group to p.
func (c TokenSettings) validate(p *problems, production bool) {
	bad := p.bad
	if c.JWTSecret != "" && len(c.JWTSecret) < 32 {
		bad("TENANTFLOW_JWT_SECRET", "must be at least 32 bytes (the value is not shown)")
	}
	if c.JWTIssuer == "" {
		bad("TENANTFLOW_JWT_ISSUER", "must not be empty")
	}
	if c.JWTJWKSURL != "" {
		if u, err := url.Parse(c.JWTJWKSURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("TENANTFLOW_JWT_JWKS_URL", "%q is not an http(s) URL", c.JWTJWKSURL)
		}
	}
	if c.LeadTokenTTL <= 0 || c.LeadTokenTTL > 24*time.Hour {
		bad("TENANTFLOW_LEAD_TOKEN_TTL", "must be between 1s and 24h, got %s", c.LeadTokenTTL)
	}
	if production {
		if c.JWTHS256Operators {
			bad("TENANTFLOW_JWT_HS256_OPERATORS", "is for development: in production operators' tokens come from the JWKS")
		}
	}
}

// validate adds the invalid settings of the group to p.
func (c APISettings) validate(p *problems) {
	bad := p.bad
	for name, v := range map[string]int{"TENANTFLOW_LEAD_RATE_PER_RECIPIENT": c.LeadRatePerRecipient,
		"TENANTFLOW_LEAD_RATE_PER_DOMAIN": c.LeadRatePerDomain, "TENANTFLOW_LEAD_RATE_GLOBAL": c.LeadRateGlobal} {
		if v < 1 {
			bad(name, "must be at least 1, got %d", v)
		}
	}
	if _, err := c.TrustedProxyPrefixes(); err != nil {
		bad("TENANTFLOW_TRUSTED_PROXIES", "%v", err)
	}
	if c.LeadRateLimit < 1 {
		bad("TENANTFLOW_LEAD_RATE_LIMIT", "must be at least 1 per minute, got %d", c.LeadRateLimit)
	}
	if c.IdempotencyTTL < time.Minute {
		bad("TENANTFLOW_IDEMPOTENCY_TTL", "must be at least 1m, got %s", c.IdempotencyTTL)
	}
}

// validate adds the invalid settings of the group to p.
func (c MailSettings) validate(p *problems) {
	bad := p.bad
	if c.SMTPAddr != "" {
		if host, port, err := net.SplitHostPort(c.SMTPAddr); err != nil || host == "" || port == "" {
			bad("TENANTFLOW_SMTP_ADDR", "%q is not host:port", c.SMTPAddr)
		}
	}
	if _, err := mail.ParseAddress(c.SMTPFrom); err != nil {
		bad("TENANTFLOW_SMTP_FROM", "%q is not a mail address", c.SMTPFrom)
	}
	if (c.SMTPUser == "") != (c.SMTPPassword == "") {
		bad("TENANTFLOW_SMTP_USER", "TENANTFLOW_SMTP_USER and TENANTFLOW_SMTP_PASSWORD are set together or not at all")
	}
	if !slices.Contains([]string{"opportunistic", "mandatory", "none"}, c.SMTPTLS) {
		bad("TENANTFLOW_SMTP_TLS", "%q is not one of opportunistic, mandatory, none", c.SMTPTLS)
	}
	switch c.Notifier {
	case "smtp":
	case "novu":
		if u, err := url.Parse(c.NovuURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("TENANTFLOW_NOVU_URL", "%q is not an http(s) URL", c.NovuURL)
		}
		if c.NovuAPIKey == "" {
			bad("TENANTFLOW_NOVU_API_KEY", "must be set when TENANTFLOW_NOTIFIER=novu")
		}
	default:
		bad("TENANTFLOW_NOTIFIER", "%q is not smtp or novu", c.Notifier)
	}
	if _, port, err := net.SplitHostPort(c.MailBridgeAddr); err != nil || port == "" {
		bad("TENANTFLOW_MAIL_BRIDGE_ADDR", "%q is not host:port", c.MailBridgeAddr)
	}
	if c.MailBridgeDial != "" {
		if host, port, err := net.SplitHostPort(c.MailBridgeDial); err != nil || host == "" || port == "" {
			bad("TENANTFLOW_MAIL_BRIDGE_DIAL", "%q is not host:port", c.MailBridgeDial)
		}
	}
	if _, err := mail.ParseAddress(c.SupportEmail); err != nil {
		bad("TENANTFLOW_SUPPORT_EMAIL", "%q is not a mail address", c.SupportEmail)
	}
}

// validate adds the invalid settings of the group to p.
func (c LogSettings) validate(p *problems, production bool) {
	bad := p.bad
	if c.MaxEventBytes < 4096 || c.MaxEventBytes > 900_000 {
		bad("TENANTFLOW_MAX_EVENT_BYTES", "must be between 4096 and 900000 (below the brokers' 1 MB default), got %d", c.MaxEventBytes)
	}
	if _, err := c.PIIMasterKey(); err != nil {
		bad("TENANTFLOW_PII_KEY", "must be 64 hex characters (32 bytes; the value is not shown)")
	}
	if c.SealKey != "" && len(c.SealKey) < 32 {
		bad("TENANTFLOW_SEAL_KEY", "must be at least 32 bytes (the value is not shown)")
	}
	if c.SealInterval < time.Second {
		bad("TENANTFLOW_SEAL_INTERVAL", "must be at least 1s, got %s", c.SealInterval)
	}
	if production {
		if c.PIIKey == "" {
			bad("TENANTFLOW_PII_KEY", "is required when TENANTFLOW_ENV=production: it wraps the keys of people's personal data")
		}
		if c.SealKey == "" {
			bad("TENANTFLOW_SEAL_KEY", "is required when TENANTFLOW_ENV=production: unsigned seals prove nothing against someone who can write the database")
		}
	}
}

// validate adds the invalid settings of the group to p.
func (c HandlerSettings) validate(p *problems, production bool) {
	bad := p.bad
	for _, st := range c.Steps {
		if !slices.Contains(handlers.HandlerNames(), st) {
			bad("TENANTFLOW_STEPS", "%q is not one of %v", st, handlers.HandlerNames())
		}
	}
	if c.HandlerConcurrency < 1 || c.HandlerConcurrency > 10000 {
		bad("TENANTFLOW_HANDLER_CONCURRENCY", "must be between 1 and 10000, got %d", c.HandlerConcurrency)
	}
	if c.StepConcurrency < 1 || c.StepConcurrency > c.HandlerConcurrency {
		bad("TENANTFLOW_STEP_CONCURRENCY", "must be between 1 and TENANTFLOW_HANDLER_CONCURRENCY (%d), got %d", c.HandlerConcurrency, c.StepConcurrency)
	}
	if c.HandlerMaxFailures < 1 {
		bad("TENANTFLOW_HANDLER_MAX_FAILURES", "must be at least 1, got %d", c.HandlerMaxFailures)
	}
	if c.StepMaxTries < 1 || c.StepMaxTries > 100 {
		bad("TENANTFLOW_STEP_MAX_TRIES", "must be between 1 and 100, got %d", c.StepMaxTries)
	}
	for step, n := range c.StepMaxTriesByStep {
		if !slices.Contains(domain.AllSteps, step) {
			bad("TENANTFLOW_STEP_MAX_TRIES_BY_STEP", "%q is not a step (%v)", step, domain.AllSteps)
		}
		if n < 1 || n > 100 {
			bad("TENANTFLOW_STEP_MAX_TRIES_BY_STEP", "%s=%d: must be between 1 and 100", step, n)
		}
	}
	if c.StepTryTimeout < 0 {
		bad("TENANTFLOW_STEP_TRY_TIMEOUT", "must not be negative (0 turns the bound off)")
	}
	if c.StepRetryBase <= 0 || c.StepRetryMax < c.StepRetryBase {
		bad("TENANTFLOW_STEP_RETRY_BASE", "must be positive and at most TENANTFLOW_STEP_RETRY_MAX")
	}
	if _, err := domain.ParseTiers(c.Tiers); err != nil {
		bad("TENANTFLOW_TIERS", "%v", err)
	}
	if production {
		if c.Faults != "" {
			bad("TENANTFLOW_FAULTS", "fault injection is refused when TENANTFLOW_ENV=production")
		}
	}
}

// validate adds the invalid settings of the group to p.
func (c BackEndSettings) validate(p *problems) {
	bad := p.bad
	switch c.Storage {
	case "none", "local":
	case "s3":
		if c.S3Endpoint == "" || c.S3AccessKey == "" || c.S3SecretKey == "" {
			bad("TENANTFLOW_S3_ENDPOINT", "TENANTFLOW_S3_ENDPOINT, _ACCESS_KEY and _SECRET_KEY are required with TENANTFLOW_STORAGE=s3")
		}
	default:
		bad("TENANTFLOW_STORAGE", "%q is not local, s3 or none", c.Storage)
	}
	switch c.Billing {
	case "":
	case "stripe":
		if c.StripeAPIKey == "" {
			bad("TENANTFLOW_STRIPE_API_KEY", "is required with TENANTFLOW_BILLING=stripe (a secret key, sk_...)")
		}
		if u, err := url.Parse(c.StripeAPIURL); c.StripeAPIURL != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
			bad("TENANTFLOW_STRIPE_API_URL", "must be an http(s) URL such as https://api.stripe.com, got %q", c.StripeAPIURL)
		}
	default:
		bad("TENANTFLOW_BILLING", "%q is not stripe (or empty: the billing step is skipped)", c.Billing)
	}
	if c.StripeWebhookSecret != "" && (c.Billing != "stripe" || !strings.HasPrefix(c.StripeWebhookSecret, "whsec_")) {
		bad("TENANTFLOW_STRIPE_WEBHOOK_SECRET", "must be the endpoint's signing secret (whsec_..., the value is not shown), with TENANTFLOW_BILLING=stripe")
	}
	if c.InfraState != "postgres" && c.InfraState != "local" {
		bad("TENANTFLOW_INFRA_STATE", "must be postgres or local, got %q", c.InfraState)
	}
	if c.InfraStateURL != "" {
		if u, err := url.Parse(c.InfraStateURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
			bad("TENANTFLOW_INFRA_STATE_URL", "must be a postgres:// URL with a host (the value is not shown)")
		}
	}
	if c.InfraTimeout < time.Second {
		bad("TENANTFLOW_INFRA_TIMEOUT", "must be at least 1s, got %s", c.InfraTimeout)
	}
	if (c.DeploySigningKey == "") != (c.AgentKey == "") {
		bad("TENANTFLOW_DEPLOY_SIGNING_KEY", "TENANTFLOW_DEPLOY_SIGNING_KEY and TENANTFLOW_AGENT_KEY are set together or not at all")
	}
	if c.DeploySigningKey != "" && len(c.DeploySigningKey) < 32 {
		bad("TENANTFLOW_DEPLOY_SIGNING_KEY", "must be at least 32 bytes (the value is not shown)")
	}
	if c.AgentKey != "" && !hex64.MatchString(c.AgentKey) {
		bad("TENANTFLOW_AGENT_KEY", "must be 64 hex characters (the value is not shown)")
	}
	if c.DeployDeadline < time.Second {
		bad("TENANTFLOW_DEPLOY_DEADLINE", "must be at least 1s, got %s", c.DeployDeadline)
	}
	for name, d := range map[string]time.Duration{"TENANTFLOW_EXPIRY_GRACE": c.ExpiryGrace, "TENANTFLOW_EXPIRY_RETENTION": c.ExpiryRetention,
		"TENANTFLOW_EXPIRY_WARNING": c.ExpiryWarning, "TENANTFLOW_OFFBOARD_RETENTION": c.OffboardRetention} {
		if d < 0 {
			bad(name, "must not be negative, got %s", d)
		}
	}
	if c.DNSServer != "" {
		if _, _, err := net.SplitHostPort(c.DNSServer); err != nil {
			bad("TENANTFLOW_DNS_SERVER", "%q is not host:port", c.DNSServer)
		}
		if c.DNSZone == "" || c.DNSTSIGName == "" || c.DNSTSIGSecret == "" {
			bad("TENANTFLOW_DNS_ZONE", "TENANTFLOW_DNS_ZONE, _TSIG_NAME and _TSIG_SECRET are required with TENANTFLOW_DNS_SERVER")
		}
	}
}

var hex64 = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)

var kafkaName = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,200}$`)

// realmName is a realm name tenantd may create: letters, digits, - and _.
var realmName = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,100}$`)

// AllRoles are the parts a tenantd can run.
var AllRoles = []string{"api", "relay", "handlers", "projections"}

// Runs reports whether this tenantd runs role.
func (c ProcessSettings) Runs(role string) bool { return slices.Contains(c.Roles, role) }

// MailBridgeHost is the host:port Keycloak dials to reach the mail bridge.
func (c MailSettings) MailBridgeHost() string {
	if c.MailBridgeDial != "" {
		return c.MailBridgeDial
	}
	host, port, _ := net.SplitHostPort(c.MailBridgeAddr)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// PlanTiers is the tier catalogue (Validate has checked it).
func (c HandlerSettings) PlanTiers() domain.Tiers {
	t, err := domain.ParseTiers(c.Tiers)
	if err != nil {
		return domain.DefaultTiers
	}
	return t
}

// Kafka is the Kafka clients' settings of this configuration.
func (c KafkaSettings) Kafka() kafka.Settings {
	return kafka.Settings{Mechanism: c.KafkaSASLMechanism, Username: c.KafkaUsername, Password: c.KafkaPassword,
		RelayUsername: c.KafkaRelayUsername, RelayPassword: c.KafkaRelayPassword, TLS: c.KafkaTLS, CAFile: c.KafkaTLSCAFile,
		ReplicationFactor: c.KafkaReplicationFactor, MinInsyncReplicas: c.KafkaMinInsyncReplicas}
}

// EmbeddedKafka reports whether tenantd must run its in-process broker.
func (c KafkaSettings) EmbeddedKafka() bool { return len(c.KafkaBrokers) == 0 }

// KeycloakConfigured reports whether an identity provider is configured.
func (c KeycloakSettings) KeycloakConfigured() bool { return c.KeycloakURL != "" }

// SlogLevel maps LogLevel onto log/slog.
func (c ProcessSettings) SlogLevel() (slog.Level, error) {
	var l slog.Level
	err := l.UnmarshalText([]byte(c.LogLevel))
	if err != nil || !isKnownLevel(c.LogLevel) {
		return slog.LevelInfo, fmt.Errorf("unknown log level %q", c.LogLevel)
	}
	return l, nil
}

func isKnownLevel(s string) bool {
	switch strings.ToLower(s) {
	case "debug", "info", "warn", "error":
		return true
	}
	return false
}

// Secrets lists the variables whose values are secrets (tag secret:"true"):
// tools print them hidden, whatever they are named.
func Secrets() []string {
	var out []string
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			if f.Anonymous && f.Type.Kind() == reflect.Struct {
				walk(f.Type)
				continue
			}
			if name := f.Tag.Get("env"); name != "" && f.Tag.Get("secret") == "true" {
				out = append(out, name)
			}
		}
	}
	walk(reflect.TypeOf(Config{}))
	return out
}

// VariableNames lists every environment variable the configuration reads.
func VariableNames() []string {
	params, err := env.GetFieldParams(&Config{})
	if err != nil {
		panic(fmt.Sprintf("config: struct tags are broken: %v", err)) // a programming error, caught by tests
	}
	names := make([]string, 0, len(params))
	for _, p := range params {
		names = append(names, p.Key)
	}
	return names
}

// InfraStateConn is the connection OpenTofu's pg backend gets:
// TENANTFLOW_INFRA_STATE_URL (a role of its own, least privilege), else —
// development only — the tenant database's URL (the role that provisions
// tenants' resources; the event log's runtime role may not create the
// backend's tables), else the event log's, without pgx's own pool_* settings (lib/pq, which the backend uses,
// would send them to the server), or "" for local state. Its sslmode
// applies as written (lib/pq's default is require).
func (c Config) InfraStateConn() string {
	conn := c.InfraStateURL
	if conn == "" {
		conn = c.TenantDatabaseURL
	}
	if conn == "" {
		conn = c.DatabaseURL
	}
	if c.InfraState != "postgres" || conn == "" {
		return ""
	}
	u, err := url.Parse(conn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return conn // a key=value string: pool settings are not written that way here
	}
	q := u.Query()
	for k := range q {
		if strings.HasPrefix(k, "pool_") {
			q.Del(k)
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// JWKSIssuer is the issuer RS256 tokens from the JWKS URL must carry:
// TENANTFLOW_JWT_JWKS_ISSUER, or the realm of a Keycloak certs URL, or the
// HS256 issuer.
func (c TokenSettings) JWKSIssuer() string {
	if c.JWTJWKSIssuer != "" {
		return c.JWTJWKSIssuer
	}
	if realm, ok := strings.CutSuffix(c.JWTJWKSURL, "/protocol/openid-connect/certs"); ok {
		return realm
	}
	return c.JWTIssuer
}

// TrustedProxyPrefixes parses TENANTFLOW_TRUSTED_PROXIES (CIDRs, or single
// addresses).
func (c APISettings) TrustedProxyPrefixes() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, raw := range c.TrustedProxies {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		if p, err := netip.ParsePrefix(raw); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(raw)
		if err != nil {
			return nil, fmt.Errorf("%q is neither a CIDR nor an address", raw)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// PIIMasterKey is TENANTFLOW_PII_KEY's 32 bytes, or nil when it is unset.
func (c LogSettings) PIIMasterKey() ([]byte, error) {
	if c.PIIKey == "" {
		return nil, nil
	}
	k, err := hex.DecodeString(c.PIIKey)
	if err != nil || len(k) != 32 {
		return nil, errors.New("TENANTFLOW_PII_KEY must be 64 hex characters")
	}
	return k, nil
}

// ExpiryPolicy is the operator's expiry periods.
func (c Config) ExpiryPolicy() domain.ExpiryPolicy {
	return domain.ExpiryPolicy{Grace: c.ExpiryGrace, Retention: c.ExpiryRetention, Warning: c.ExpiryWarning}
}
