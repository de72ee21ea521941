// Package service is tenantd's composition root: it builds the real adapters from
// the configuration, wires them into the service and runs it until ctx ends.
package service

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/IBM/sarama"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tenantflow/tenantflow/adapters/kafka"
	"github.com/tenantflow/tenantflow/adapters/postgres"
	"github.com/tenantflow/tenantflow/adapters/smtp"
	"github.com/tenantflow/tenantflow/api"
	"github.com/tenantflow/tenantflow/app"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/handlers"
	"github.com/tenantflow/tenantflow/handlers/billing"
	"github.com/tenantflow/tenantflow/internal/config"
	"github.com/tenantflow/tenantflow/platform/auth"
	"github.com/tenantflow/tenantflow/platform/idempotency"
	"github.com/tenantflow/tenantflow/platform/metrics"
	"github.com/tenantflow/tenantflow/platform/pii"
	"github.com/tenantflow/tenantflow/platform/sessions"
	"github.com/tenantflow/tenantflow/platform/telemetry"
	"github.com/tenantflow/tenantflow/projections"
)

// Run starts tenantd and blocks until ctx is cancelled (SIGTERM), then shuts
// down gracefully within cfg.ShutdownTimeout. Dependencies that are down do
// not stop it from starting: /readyz reports them, and the log's start-up
// (migrations, topic, relay) is retried until they answer.
func Run(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
	stopTracing, err := telemetry.Setup(ctx)
	if err != nil {
		return fmt.Errorf("tracing (OTEL_* settings): %w", err)
	}
	defer func() { _ = stopTracing(context.Background()) }()
	if telemetry.Enabled() {
		logger.Info("tracing: exporting spans over OTLP (OTEL_* settings)")
	}
	pool, err := postgres.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()

	b, err := openBus(cfg, logger)
	if err != nil {
		return err
	}
	defer b.close()
	brokers, publisher, relayPublisher := b.brokers, b.publisher, b.relayPublisher
	store, vault, err := OpenLog(pool, cfg, logger)
	if err != nil {
		return err
	}
	defer store.Close()

	steps, err := stepConfig(ctx, cfg, logger, store, vault, brokers, publisher)
	if err != nil {
		return err
	}
	read := &projections.Engine{Pool: pool, Log: store, Projectors: projections.All(), Logger: logger, InstanceID: cfg.KafkaInstanceID}
	up := (&startup{projections: read, migrateURL: cfg.MigrateURL, production: cfg.Env == "production",
		store: store, brokers: brokers, topic: cfg.KafkaTopic, partitions: cfg.KafkaPartitions, logger: logger}).starting()
	workers := []component{up.component()}
	if cfg.Runs("projections") {
		workers = append(workers, component{name: "projections", afterStartup: true, run: func(ctx context.Context) error {
			return read.Live(ctx, brokers, cfg.KafkaTopic, cfg.KafkaGroupPrefix)
		}})
	}
	if steps != nil && cfg.Runs("handlers") {
		workers = append(workers, component{name: "handlers", afterStartup: true, run: func(ctx context.Context) error { return handlers.Run(ctx, *steps) }})
		bridge, err := mailBridge(cfg, logger, store, vault, steps)
		if err != nil {
			return err
		}
		if bridge != nil {
			workers = append(workers, *bridge)
		}
		workers = append(workers, lifecycle(cfg, store, steps, logger))
	}
	if cfg.Runs("relay") {
		workers = append(workers, sealer(cfg, store, logger), relay(cfg, store, relayPublisher, logger))
	}

	door, err := frontDoor(ctx, cfg, logger, pool, brokers, store, vault, read, up)
	if err != nil {
		return err
	}
	workers = append(workers, purge(door.idempotency, logger))
	logger.Info("roles", "running", cfg.Roles)
	return supervise(ctx, logger, up, door.component, workers)
}

// bus is tenantd's way to Kafka: the brokers (the embedded one when none
// is configured) and two publishers, one a principal: the relay's writes
// the event topic, the process's writes dead letters (the brokers' ACLs
// keep them apart).
type bus struct {
	brokers                   []string
	publisher, relayPublisher message.Publisher
	closers                   []func() error
}

func (b *bus) close() {
	for i := len(b.closers) - 1; i >= 0; i-- {
		_ = b.closers[i]()
	}
}

func openBus(cfg config.Config, logger *slog.Logger) (*bus, error) {
	b := &bus{brokers: cfg.KafkaBrokers}
	kafka.Configure(cfg.Kafka())
	if cfg.EmbeddedKafka() {
		emb, err := kafka.StartEmbedded(logger)
		if err != nil {
			return nil, err
		}
		b.closers = append(b.closers, func() error { emb.Close(); return nil })
		b.brokers = emb.Brokers()
		kafka.Configure(kafka.Settings{ReplicationFactor: 1, MinInsyncReplicas: 1}) // one in-process broker, no sign-in
	} else if s := cfg.Kafka(); s.ReplicationFactor < kafka.DefaultReplicationFactor || s.MinInsyncReplicas < kafka.DefaultMinInsyncReplicas {
		logger.Warn("the topics tenantd creates are not replicated for production: one lost broker can lose acknowledged events",
			"replication_factor", s.ReplicationFactor, "min_insync_replicas", s.MinInsyncReplicas)
	}
	var err error
	if b.publisher, err = kafka.NewRecordPublisher(b.brokers); err != nil {
		b.close()
		return nil, fmt.Errorf("kafka publisher: %w", err)
	}
	b.closers = append(b.closers, b.publisher.Close)
	if b.relayPublisher, err = kafka.NewRelayPublisher(b.brokers); err != nil {
		b.close()
		return nil, fmt.Errorf("kafka relay publisher: %w", err)
	}
	b.closers = append(b.closers, b.relayPublisher.Close)
	return b, nil
}

// OpenLog is the event store on pool, with people's personal fields sealed
// before they reach the log (and so the topic, the projections and the
// analytics stream; see platform/pii) and the configured event size cap:
// tenantd and tenantctl open it the same way.
func OpenLog(pool *pgxpool.Pool, cfg config.Config, logger *slog.Logger) (*eventstore.Postgres, *pii.Vault, error) {
	masterKey, _ := cfg.PIIMasterKey() // validated with the configuration
	vault, err := pii.NewVault(pool, masterKey)
	if err != nil {
		return nil, nil, err
	}
	if masterKey == nil {
		logger.Warn("development only: TENANTFLOW_PII_KEY is not set, so the keys of people's personal data are stored unwrapped")
	}
	store := eventstore.NewPostgres(pool, logger)
	store.SetDataSealer(vault.SealEvent)
	store.SetMaxEventBytes(cfg.MaxEventBytes)
	return store, vault, nil
}

// sealer seals the log every cfg.SealInterval (the relay role's).
func sealer(cfg config.Config, store *eventstore.Postgres, logger *slog.Logger) component {
	return component{name: "sealer", afterStartup: true, run: func(ctx context.Context) error {
		return eventstore.Sealer{Store: store, Key: []byte(cfg.SealKey), Every: cfg.SealInterval, Logger: logger}.Run(ctx)
	}}
}

// relay publishes the log to Kafka, one active instance at a time.
func relay(cfg config.Config, store *eventstore.Postgres, publisher eventstore.Publisher, logger *slog.Logger) component {
	r := &eventstore.Relay{Store: store, Publisher: publisher, Topic: cfg.KafkaTopic, Logger: logger, Refused: kafka.Refused,
		OnHeld: func(_ eventstore.Event, reason string) {
			if reason != "" {
				metrics.RelayRefused.Inc()
			}
		},
		OnPublished: func(events []eventstore.Event) {
			metrics.Published.Add(float64(len(events)))
			for _, e := range events {
				metrics.PublishLatency.Observe(time.Since(e.RecordedAt).Seconds())
			}
		}}
	return component{name: "relay", afterStartup: true, run: r.Run}
}

// front is the HTTP side: the routes (when the api role runs), health,
// readiness and metrics, and the idempotency store its purge keeps small.
type front struct {
	component
	idempotency *idempotency.Store
}

// frontDoor builds the HTTP server's component: readiness checks, the
// routes' dependencies, the metrics collector.
func frontDoor(ctx context.Context, cfg config.Config, logger *slog.Logger, pool *pgxpool.Pool, brokers []string,
	store *eventstore.Postgres, vault *pii.Vault, read *projections.Engine, up *startup) (front, error) {
	checks := []api.Check{
		{Name: "postgres", Fn: pool.Ping},
		{Name: "kafka", Fn: func(ctx context.Context) error { return kafka.Ping(ctx, brokers) }},
		{Name: "eventlog", Fn: up.ready},
	}
	if cfg.KeycloakConfigured() {
		kc := keycloakAdmin(cfg)
		checks = append(checks, api.Check{Name: "keycloak", Fn: kc.Ping})
	}
	deps, mailer, err := commandDeps(ctx, cfg, logger)
	if err != nil {
		return front{}, err
	}
	deps.Personal = vault
	if cfg.DeploySigningKey != "" {
		deps.DeploySigningKey = []byte(cfg.DeploySigningKey)
	}
	if mailer != nil {
		checks = append(checks, api.Check{Name: "smtp", Fn: mailer.Ping})
	}
	idem := idempotency.New(pool, cfg.IdempotencyTTL)
	zone := ""
	if cfg.DNSServer != "" {
		zone = cfg.DNSZone // the dns step names tenants <key>.<zone>
	}
	deps.App, deps.Tenants, deps.Idempotency = app.NewService(store, zone), read, idem
	if cfg.KeycloakConfigured() && deps.Verifier != nil {
		deps.TenantAdmins = auth.NewTenantAdmins(ctx, cfg.KeycloakURL, cfg.KeycloakOrganizationsRealm, tenantByKey(store))
	}
	deps.Sessions, deps.SecureCookies = sessions.New(pool), cfg.ConsoleSecureCookies

	_ = metrics.Registry.Register(&metrics.Collector{Pool: pool, Log: store, Brokers: brokers,
		Kafka: func() *sarama.Config { return kafka.SaramaConfig("tenantflow-metrics") }, Topic: cfg.KafkaTopic, GroupPrefix: cfg.KafkaGroupPrefix,
		RelayName: "relay:" + cfg.KafkaTopic, Logger: logger, Orphans: read.OrphanCounts,
		TenantsTable: func(ctx context.Context) (string, error) {
			schema, err := read.Schema(ctx, projections.NameTenants)
			return schema + ".tenants", err
		},
		Projections: func(ctx context.Context) (map[string][2]float64, error) {
			lags, err := read.Lags(ctx)
			out := map[string][2]float64{}
			for _, l := range lags {
				out[l.Projection] = [2]float64{float64(l.Positions), l.Seconds}
			}
			return out, err
		}})
	router := api.NewRouter(checks, cfg.ReadyCheckTimeout)
	if cfg.Runs("api") {
		router.Mount(deps)
	}
	return front{idempotency: idem, component: component{name: "http", run: func(ctx context.Context) error {
		return serve(ctx, cfg, logger, router)
	}}}, nil
}

// commandDeps builds the token and mail parts of the routes' dependencies
// from the configuration, logging once what is missing.
func commandDeps(ctx context.Context, cfg config.Config, logger *slog.Logger) (api.Deps, *smtp.Mailer, error) {
	proxies, _ := cfg.TrustedProxyPrefixes() // validated with the configuration
	d := api.Deps{OffboardRetention: cfg.OffboardRetention, LeadRate: cfg.LeadRateLimit, LeadTokenTTL: cfg.LeadTokenTTL, Logger: logger, Tiers: cfg.PlanTiers(),
		SignUpLimits:   api.SignUpLimits{PerRecipient: cfg.LeadRatePerRecipient, PerDomain: cfg.LeadRatePerDomain, Global: cfg.LeadRateGlobal},
		TrustedProxies: proxies}
	if cfg.Billing == "stripe" {
		d.Billing = BillingProvider(cfg)
	}
	if cfg.StripeWebhookSecret != "" {
		d.BillingNotices = billing.StripeNotices{Secret: cfg.StripeWebhookSecret}
	}
	var hs *auth.HS256
	if cfg.JWTSecret != "" {
		signer, err := auth.NewHS256(cfg.JWTSecret, cfg.JWTIssuer)
		if err != nil {
			return d, nil, err
		}
		hs, d.Minter = signer, signer
	} else {
		logger.Warn("TENANTFLOW_JWT_SECRET is not set: leads cannot be verified (503)")
	}
	if hs != nil || cfg.JWTJWKSURL != "" {
		v, err := auth.NewVerifier(ctx, hs, auth.JWKS{URL: cfg.JWTJWKSURL, Issuer: cfg.JWKSIssuer(), Audience: cfg.JWTAudience,
			HS256Operators: cfg.JWTHS256Operators})
		if err != nil {
			return d, nil, err
		}
		d.Verifier = v
	} else {
		logger.Warn("neither TENANTFLOW_JWT_SECRET nor TENANTFLOW_JWT_JWKS_URL is set: every protected route answers 401")
	}
	if cfg.SMTPAddr == "" {
		logger.Warn("TENANTFLOW_SMTP_ADDR is not set: sign-up (POST /leads) answers 503")
		return d, nil, nil
	}
	m, err := smtp.New(smtp.Settings{Addr: cfg.SMTPAddr, From: cfg.SMTPFrom, User: cfg.SMTPUser, Password: cfg.SMTPPassword, TLS: cfg.SMTPTLS})
	if err != nil {
		return d, nil, err
	}
	d.Mailer = m
	return d, m, nil
}

// tenantByKey names the tenant holding a key and its identity model, for
// the tenant administrators' tokens.
func tenantByKey(store eventstore.Streams) func(ctx context.Context, key string) (string, string) {
	tenants := app.Tenants(store)
	return func(ctx context.Context, key string) (string, string) {
		id := app.TenantIDByKey(ctx, store, key)
		if id == "" {
			return "", ""
		}
		t, err := tenants.Get(ctx, id)
		if err != nil {
			return "", ""
		}
		return id, t.Identity()
	}
}
