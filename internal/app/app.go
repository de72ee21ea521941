// Package app is tenantd's composition root: it builds the real adapters from
// the configuration, wires them into the service and runs it until ctx ends.
package app

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/tenantflow/tenantflow/adapters/kafka"
	"github.com/tenantflow/tenantflow/adapters/keycloak"
	"github.com/tenantflow/tenantflow/adapters/postgres"
	"github.com/tenantflow/tenantflow/adapters/smtp"
	"github.com/tenantflow/tenantflow/api"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/handlers"
	"github.com/tenantflow/tenantflow/handlers/database"
	"github.com/tenantflow/tenantflow/handlers/deadletters"
	"github.com/tenantflow/tenantflow/handlers/deploy"
	"github.com/tenantflow/tenantflow/handlers/dns"
	"github.com/tenantflow/tenantflow/handlers/faults"
	"github.com/tenantflow/tenantflow/handlers/idp"
	"github.com/tenantflow/tenantflow/handlers/infrastructure"
	"github.com/tenantflow/tenantflow/handlers/notify"
	"github.com/tenantflow/tenantflow/handlers/step"
	"github.com/tenantflow/tenantflow/handlers/storage"
	"github.com/tenantflow/tenantflow/internal/auth"
	"github.com/tenantflow/tenantflow/internal/config"
	"github.com/tenantflow/tenantflow/internal/deployauth"
	"github.com/tenantflow/tenantflow/internal/idempotency"
	"github.com/tenantflow/tenantflow/internal/metrics"
	"github.com/tenantflow/tenantflow/internal/pii"
	"github.com/tenantflow/tenantflow/internal/sessions"
	"github.com/tenantflow/tenantflow/internal/telemetry"
	"github.com/tenantflow/tenantflow/migrations"
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

	brokers := cfg.KafkaBrokers
	kafka.Configure(cfg.Kafka())
	if cfg.EmbeddedKafka() {
		emb, err := kafka.StartEmbedded(logger)
		if err != nil {
			return err
		}
		defer emb.Close()
		brokers = emb.Brokers()
		kafka.Configure(kafka.Settings{ReplicationFactor: 1, MinInsyncReplicas: 1}) // one in-process broker, no sign-in
	} else if s := cfg.Kafka(); s.ReplicationFactor < kafka.DefaultReplicationFactor || s.MinInsyncReplicas < kafka.DefaultMinInsyncReplicas {
		logger.Warn("the topics tenantd creates are not replicated for production: one lost broker can lose acknowledged events",
			"replication_factor", s.ReplicationFactor, "min_insync_replicas", s.MinInsyncReplicas)
	}

	store := eventstore.NewPostgres(pool, logger)
	// People's personal fields are sealed before they reach the log (and so
	// the topic, the projections and the analytics stream); see internal/pii.
	masterKey, _ := cfg.PIIMasterKey() // validated with the configuration
	vault, err := pii.NewVault(pool, masterKey)
	if err != nil {
		return err
	}
	if masterKey == nil {
		logger.Warn("development only: TENANTFLOW_PII_KEY is not set, so the keys of people's personal data are stored unwrapped")
	}
	store.SetDataSealer(vault.SealEvent)
	store.SetMaxEventBytes(cfg.MaxEventBytes)
	defer store.Close()
	// Two principals: the relay's writes the event topic, the process's
	// writes dead letters (the brokers' ACLs keep them apart).
	publisher, err := kafka.NewRecordPublisher(brokers, kafka.SlogAdapter(logger))
	if err != nil {
		return fmt.Errorf("kafka publisher: %w", err)
	}
	defer publisher.Close()
	relayPublisher, err := kafka.NewRelayPublisher(brokers)
	if err != nil {
		return fmt.Errorf("kafka relay publisher: %w", err)
	}
	defer relayPublisher.Close()

	var workers sync.WaitGroup
	workCtx, stopWork := context.WithCancel(ctx)
	defer func() { stopWork(); workers.Wait() }()
	steps, err := stepConfig(ctx, cfg, logger, store, vault, brokers, publisher)
	if err != nil {
		return err
	}
	if steps != nil && cfg.Runs("handlers") {
		waitBridge, err := startMailBridge(workCtx, cfg, logger, store, vault, steps)
		if err != nil {
			return err
		}
		defer waitBridge()
	}
	log := &startup{migrateURL: cfg.MigrateURL, production: cfg.Env == "production"}
	read := &projections.Engine{Pool: pool, Log: store, Projectors: projections.All(), Logger: logger, InstanceID: cfg.KafkaInstanceID}
	log.projections = read
	workers.Add(1)
	go func() {
		defer workers.Done()
		if !log.run(workCtx, logger, store, brokers, cfg.KafkaTopic, cfg.KafkaPartitions) {
			return
		}
		if cfg.Runs("projections") {
			workers.Add(1) // legal here: this goroutine still holds a count
			go func() {
				defer workers.Done()
				if err := read.Live(workCtx, brokers, cfg.KafkaTopic, cfg.KafkaGroupPrefix); err != nil && workCtx.Err() == nil {
					logger.Error("projections stopped", "error", err)
				}
			}()
		}
		if steps != nil && cfg.Runs("handlers") {
			workers.Add(1)
			go func() {
				defer workers.Done()
				if err := handlers.Run(workCtx, *steps); err != nil && workCtx.Err() == nil {
					logger.Error("step handlers stopped", "error", err)
				}
			}()
		}
		if !cfg.Runs("relay") {
			return
		}
		workers.Add(1)
		go func() {
			defer workers.Done()
			_ = eventstore.Sealer{Store: store, Key: []byte(cfg.SealKey), Every: cfg.SealInterval, Logger: logger}.Run(workCtx)
		}()
		relay := &eventstore.Relay{Store: store, Publisher: relayPublisher, Topic: cfg.KafkaTopic, Logger: logger, Refused: kafka.Refused,
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
		_ = relay.Run(workCtx)
	}()

	checks := []api.Check{
		{Name: "postgres", Fn: pool.Ping},
		{Name: "kafka", Fn: func(ctx context.Context) error { return kafka.Ping(ctx, brokers) }},
		{Name: "eventlog", Fn: log.ready},
	}
	if cfg.KeycloakConfigured() {
		kc := keycloakAdmin(cfg)
		checks = append(checks, api.Check{Name: "keycloak", Fn: kc.Ping})
	}

	deps, mailer, err := commandDeps(workCtx, cfg, logger)
	deps.Personal = vault
	if cfg.DeploySigningKey != "" {
		deps.DeploySigningKey = []byte(cfg.DeploySigningKey)
	}
	if err != nil {
		return err
	}
	if mailer != nil {
		checks = append(checks, api.Check{Name: "smtp", Fn: mailer.Ping})
	}
	idem := idempotency.New(pool, cfg.IdempotencyTTL)
	deps.Store, deps.Tenants, deps.Idempotency = store, read, idem
	deps.Sessions, deps.SecureCookies = sessions.New(pool), cfg.ConsoleSecureCookies
	workers.Add(1)
	go func() {
		defer workers.Done()
		purgeIdempotency(workCtx, idem, logger)
	}()

	_ = metrics.Registry.Register(&metrics.Collector{Pool: pool, Log: store, Brokers: brokers,
		Kafka: func() *sarama.Config { return kafka.SaramaConfig("tenantflow-metrics") }, Topic: cfg.KafkaTopic, GroupPrefix: cfg.KafkaGroupPrefix,
		RelayName: "relay:" + cfg.KafkaTopic, Logger: logger,
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
	logger.Info("roles", "running", cfg.Roles)
	return serve(ctx, cfg, logger, router)
}

// commandDeps builds the token and mail parts of the routes' dependencies
// from the configuration, logging once what is missing.
func commandDeps(ctx context.Context, cfg config.Config, logger *slog.Logger) (api.Deps, *smtp.Mailer, error) {
	proxies, _ := cfg.TrustedProxyPrefixes() // validated with the configuration
	d := api.Deps{LeadRate: cfg.LeadRateLimit, LeadTokenTTL: cfg.LeadTokenTTL, Logger: logger, Tiers: cfg.PlanTiers(),
		SignUpLimits:   api.SignUpLimits{PerRecipient: cfg.LeadRatePerRecipient, PerDomain: cfg.LeadRatePerDomain, Global: cfg.LeadRateGlobal},
		TrustedProxies: proxies}
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

// stepConfig builds the provisioning handlers' configuration, or nil when
// TENANTFLOW_HANDLERS is off. Steps whose back end is not configured are
// skipped (and logged once here).
func stepConfig(ctx context.Context, cfg config.Config, logger *slog.Logger, store *eventstore.Postgres, vault *pii.Vault, brokers []string, publisher message.Publisher) (*handlers.Config, error) {
	if !cfg.Handlers {
		logger.Info("step handlers are off in this tenantd (TENANTFLOW_HANDLERS=false)")
		return nil, nil
	}
	known := append(slices.Clone(domain.Steps), domain.StepNotify)
	injector, err := faults.Parse(cfg.Faults, known)
	if err != nil {
		return nil, fmt.Errorf("TENANTFLOW_FAULTS: %w", err)
	}
	if cfg.Faults != "" {
		logger.Warn("FAULT INJECTION IS ON: steps fail on purpose", "faults", cfg.Faults)
	}
	actions, err := StepActions(ctx, cfg, logger, store.Pool())
	if err != nil {
		return nil, err
	}
	c := &handlers.Config{
		Brokers: brokers, Topic: cfg.KafkaTopic, GroupPrefix: cfg.KafkaGroupPrefix, Store: store, Faults: injector, Logger: logger, MaxTries: cfg.StepMaxTriesByStep,
		Hosted: cfg.Steps, Concurrency: cfg.HandlerConcurrency, StepConcurrency: cfg.StepConcurrency, MaxFailures: cfg.HandlerMaxFailures, InstanceID: cfg.KafkaInstanceID,
		Retry:       handlers.Retry{MaxTries: cfg.StepMaxTries, BaseDelay: cfg.StepRetryBase, MaxDelay: cfg.StepRetryMax, TryTimeout: cfg.StepTryTimeout},
		TryTimeouts: map[string]time.Duration{domain.StepInfrastructure: cfg.InfraTimeout + time.Minute},
		Actions:     actions,
		DeadLetters: &deadletters.Table{Pool: store.Pool(), Publisher: publisher},
	}
	if cfg.DeploySigningKey != "" {
		agentKey, err := deployauth.ParseKey(cfg.AgentKey)
		if err != nil {
			return nil, fmt.Errorf("TENANTFLOW_AGENT_KEY: %w", err)
		}
		c.Actions[domain.StepDeploy] = &deploy.Deployment{SigningKey: []byte(cfg.DeploySigningKey), AgentKey: agentKey,
			Deadline: cfg.DeployDeadline, CheckEvery: min(5*time.Second, cfg.DeployDeadline/4), Log: store, Logger: logger}
		logger.Info("deploy step: choreographed with the application plane's agent", "deadline", cfg.DeployDeadline.String())
	}
	links := notify.Links{KeycloakURL: cfg.KeycloakURL, AdminPortalURL: cfg.AdminPortalURL, SupportEmail: cfg.SupportEmail}
	switch {
	case cfg.Notifier == "novu":
		c.Notifier = notify.Novu{BaseURL: cfg.NovuURL, APIKey: cfg.NovuAPIKey, Links: links, Personal: vault}
	case cfg.SMTPAddr != "":
		m, err := smtp.New(smtp.Settings{Addr: cfg.SMTPAddr, From: cfg.SMTPFrom, User: cfg.SMTPUser, Password: cfg.SMTPPassword, TLS: cfg.SMTPTLS})
		if err != nil {
			return nil, err
		}
		c.Notifier = notify.MailNotifier{Mailer: m, Links: links, Personal: vault}
	default:
		logger.Warn("TENANTFLOW_SMTP_ADDR is not set: the notify step is skipped")
	}
	var configured []string
	for _, s := range domain.Steps {
		if c.Actions[s] != nil {
			configured = append(configured, s)
		}
	}
	logger.Info("step handlers configured", "steps_with_back_ends", configured)
	return c, nil
}

// StepActions builds the back ends of the steps the configuration names (a
// step without one is skipped). tenantctl drift probes the same ones.
func StepActions(ctx context.Context, cfg config.Config, logger *slog.Logger, eventPool *pgxpool.Pool) (map[string]step.Action, error) {
	tenantDB := eventPool
	if cfg.TenantDatabaseURL != "" {
		var err error
		if tenantDB, err = postgres.Open(ctx, cfg.TenantDatabaseURL); err != nil {
			return nil, err
		}
	}
	actions := map[string]step.Action{domain.StepDatabase: database.Database{Pool: tenantDB}}
	if cfg.KeycloakConfigured() {
		platformZone := "" // the dns step names tenants <key>.<zone> only when it runs
		if cfg.DNSServer != "" {
			platformZone = cfg.DNSZone
		}
		realmMail, _ := RealmMail(cfg)
		masterKey, _ := cfg.PIIMasterKey() // validated with the configuration
		vault, err := pii.NewVault(eventPool, masterKey)
		if err != nil {
			return nil, err
		}
		id := &idp.Identity{Admin: keycloakAdmin(cfg),
			RealmMail: realmMail, PlatformZone: platformZone, Personal: vault}
		actions[domain.StepIdentity], actions[domain.StepAdminUser] = id.RealmStep(), id.AdminUserStep()
	} else {
		logger.Warn("TENANTFLOW_KEYCLOAK_URL is not set: the idp and admin_user steps are skipped")
	}
	c := &handlers.Config{Actions: actions}
	if err := backEnds(c, cfg, logger); err != nil {
		return nil, err
	}
	return actions, nil
}

// RealmMail is the SMTP server of the tenants' realms, through which
// Keycloak mails each admin the set-password link: tenantflow's own SMTP
// server and settings when it has one; else, with the Novu notifier,
// tenantflow's mail bridge (bridge true), which hands the link to Novu; else
// none (Host ""), and the admin must be sent the link later.
func RealmMail(cfg config.Config) (m idp.RealmMail, bridge bool) {
	from, _ := mail.ParseAddress(cfg.SMTPFrom)
	switch {
	case cfg.SMTPAddr != "":
		host, port, _ := net.SplitHostPort(cfg.SMTPAddr)
		return idp.RealmMail{Host: host, Port: port, From: from.Address, User: cfg.SMTPUser, Password: cfg.SMTPPassword,
			StartTLS: cfg.SMTPTLS != "none"}, false
	case cfg.Notifier == "novu":
		host, port, _ := net.SplitHostPort(cfg.MailBridgeHost())
		return idp.RealmMail{Host: host, Port: port, From: from.Address, User: "keycloak", Password: mailBridgePassword(cfg)}, true
	}
	return idp.RealmMail{}, false
}

// keycloakAdmin is tenantd's way into Keycloak's admin API: the service
// account when its client is configured, else the admin user.
func keycloakAdmin(cfg config.Config) *keycloak.Admin {
	if cfg.KeycloakClientID != "" {
		return keycloak.NewServiceAccount(cfg.KeycloakURL, cfg.KeycloakAdminRealm, cfg.KeycloakClientID, cfg.KeycloakClientSecret)
	}
	return keycloak.NewAdmin(cfg.KeycloakURL, cfg.KeycloakAdminRealm, cfg.KeycloakAdminUser, cfg.KeycloakAdminPassword)
}

// mailBridgePassword is the mail bridge's SMTP password, derived from
// tenantd's Keycloak credential so that every tenantd of an installation
// derives the same one and nobody has to configure another secret.
func mailBridgePassword(cfg config.Config) string {
	credential := cfg.KeycloakAdminPassword
	if cfg.KeycloakClientID != "" {
		credential = cfg.KeycloakClientSecret
	}
	mac := hmac.New(sha256.New, []byte(credential))
	mac.Write([]byte("tenantflow mail bridge"))
	return hex.EncodeToString(mac.Sum(nil))
}

// startMailBridge runs the mail bridge when Keycloak cannot mail the admins
// itself and this tenantd runs the handlers.
func startMailBridge(ctx context.Context, cfg config.Config, logger *slog.Logger, store eventstore.Streams, vault *pii.Vault, steps *handlers.Config) (func(), error) {
	realmMail, bridge := RealmMail(cfg)
	sender, ok := steps.Notifier.(idp.SetPasswordSender)
	if !bridge || !cfg.KeycloakConfigured() || !ok {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", cfg.MailBridgeAddr)
	if err != nil {
		return nil, fmt.Errorf("mail bridge (TENANTFLOW_MAIL_BRIDGE_ADDR): %w", err)
	}
	b := &keycloak.MailBridge{User: realmMail.User, Password: realmMail.Password, Deliver: idp.LinkDelivery(store, vault, sender), Logger: logger}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := b.Serve(ctx, ln); err != nil {
			logger.Error("mail bridge stopped", "error", err)
		}
	}()
	logger.Info("Keycloak cannot mail the admins itself: it mails set-password links to the mail bridge, which sends them through the notifier",
		"listen", ln.Addr().String(), "keycloak_dials", cfg.MailBridgeHost())
	return func() { <-done }, nil
}

// backEnds adds the storage, infrastructure and DNS steps' back ends.
func backEnds(c *handlers.Config, cfg config.Config, logger *slog.Logger) error {
	switch cfg.Storage {
	case "local":
		dir := cfg.StorageDir
		if dir == "" {
			dir = filepath.Join(os.TempDir(), "tenantflow-storage")
		}
		c.Actions[domain.StepStorage] = storage.LocalStorage{Root: dir}
		logger.Info("storage step: local directories (embedded default)", "root", dir)
	case "s3":
		client, err := minio.New(cfg.S3Endpoint, &minio.Options{Creds: credentials.NewStaticV4(cfg.S3AccessKey, cfg.S3SecretKey, ""),
			Secure: cfg.S3TLS, Region: cfg.S3Region})
		if err != nil {
			return fmt.Errorf("s3 client: %w", err)
		}
		c.Actions[domain.StepStorage] = storage.S3{Client: client, Region: cfg.S3Region}
	}
	if cfg.InfraBinary != "" && len(cfg.InfraModules) > 0 {
		dir := cfg.InfraStateDir
		if dir == "" {
			dir = filepath.Join(os.TempDir(), "tenantflow-infra")
			logger.Warn("TENANTFLOW_INFRA_STATE_DIR is not set: tenant infrastructure state lives under the temporary directory", "dir", dir)
		}
		if cfg.InfraStateConn() == "" {
			logger.Warn("TENANTFLOW_INFRA_STATE=local: OpenTofu state is in files of this process; another instance cannot undo what it applied")
		}
		c.Actions[domain.StepInfrastructure] = infrastructure.Infrastructure{Binary: cfg.InfraBinary, Modules: cfg.InfraModules,
			StateDir: dir, StateConn: cfg.InfraStateConn(), Region: cfg.InfraRegion, Timeout: cfg.InfraTimeout}
	}
	if cfg.DNSServer != "" {
		c.Actions[domain.StepDNS] = dns.DNS{Server: cfg.DNSServer, Zone: cfg.DNSZone, TSIGName: cfg.DNSTSIGName,
			TSIGSecret: cfg.DNSTSIGSecret, Target: cfg.DNSTarget}
	}
	return nil
}

// purgeIdempotency deletes expired Idempotency-Key records every hour.
func purgeIdempotency(ctx context.Context, s *idempotency.Store, logger *slog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := s.Purge(ctx); err != nil {
				logger.Warn("purging expired idempotency keys failed", "error", err)
			} else if n > 0 {
				logger.Info("purged expired idempotency keys", "count", n)
			}
		}
	}
}

// startup brings the event log up: schema migrations, a log that belongs to
// this cluster, the topic. It retries until it succeeds or ctx ends.
type startup struct {
	projections *projections.Engine
	// migrateURL is the tables' owner (empty: the store's own pool migrates);
	// in production the store's role must not be able to rewrite the log.
	migrateURL string
	production bool
	warned     bool

	mu   sync.Mutex
	err  error
	done bool
}

func (s *startup) run(ctx context.Context, logger *slog.Logger, store *eventstore.Postgres, brokers []string, topic string, partitions int32) bool {
	s.set(false, errors.New("starting"))
	for delay := time.Second; ctx.Err() == nil; delay = min(2*delay, 30*time.Second) {
		err := s.once(ctx, logger, store, brokers, topic, partitions)
		if err == nil {
			s.set(true, nil)
			return true
		}
		s.set(false, err)
		if ctx.Err() == nil {
			logger.Error("event log not ready; retrying", "error", err, "retry_in", delay.String())
		}
		select {
		case <-ctx.Done():
		case <-time.After(delay):
		}
	}
	return false
}

func (s *startup) once(ctx context.Context, logger *slog.Logger, store *eventstore.Postgres, brokers []string, topic string, partitions int32) error {
	applied, err := s.migrate(ctx, store)
	if err != nil {
		return err
	}
	if len(applied) > 0 {
		logger.Info("database migrated", "applied", applied)
	}
	if err := store.CheckAppendOnly(ctx); err != nil {
		if s.production || !errors.Is(err, eventstore.ErrRewritableLog) {
			return err
		}
		if !s.warned {
			s.warned = true
			logger.Warn("development only: the runtime role could rewrite the event log", "error", err)
		}
	}
	if err := store.CheckHorizon(ctx); err != nil {
		return err
	}
	if err := s.projections.Ensure(ctx); err != nil {
		return err
	}
	if err := kafka.CreateTopic(brokers, topic, partitions); err != nil {
		return err
	}
	if err := kafka.CreateTopic(brokers, kafka.DLQTopic(topic), 1); err != nil {
		return err
	}
	return nil
}

// migrate applies pending migrations as the tables' owner.
func (s *startup) migrate(ctx context.Context, store *eventstore.Postgres) ([]string, error) {
	if s.migrateURL == "" {
		return migrations.Up(ctx, store.Pool())
	}
	owner, err := postgres.Open(ctx, s.migrateURL)
	if err != nil {
		return nil, fmt.Errorf("TENANTFLOW_DATABASE_MIGRATE_URL: %w", err)
	}
	defer owner.Close()
	return migrations.Up(ctx, owner)
}

func (s *startup) set(done bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done, s.err = done, err
}

// ready is the /readyz check: the log is migrated and the relay running.
func (s *startup) ready(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return nil
	}
	return s.err
}

// The server's bounds: a slow or stalled client cannot hold a connection or
// a goroutine for long. The console's event streams lift their own write
// deadline and are bounded by their viewer's token instead.
const (
	readTimeout    = 30 * time.Second
	writeTimeout   = 60 * time.Second
	idleTimeout    = 2 * time.Minute
	maxHeaderBytes = 64 << 10
)

// serve runs the HTTP server until ctx ends, then shuts it down gracefully:
// new connections are refused, requests in flight finish (their contexts
// are not cancelled by the signal), the console's streams end, all within
// cfg.ShutdownTimeout.
func serve(ctx context.Context, cfg config.Config, logger *slog.Logger, router *api.Router) error {
	srv := &http.Server{
		Handler:           router,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	srv.RegisterOnShutdown(router.CloseStreams)
	admin := &http.Server{Handler: router.Admin(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: readTimeout,
		WriteTimeout: writeTimeout, IdleTimeout: idleTimeout, MaxHeaderBytes: maxHeaderBytes}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
	}
	adminLn, err := net.Listen("tcp", cfg.AdminAddr)
	if err != nil {
		ln.Close()
		return fmt.Errorf("listen on %s (TENANTFLOW_ADMIN_ADDR): %w", cfg.AdminAddr, err)
	}
	logger.Info("tenantd listening", "addr", ln.Addr().String(), "admin_addr", adminLn.Addr().String(),
		"kafka_embedded", cfg.EmbeddedKafka(), "keycloak_configured", cfg.KeycloakConfigured())
	if cfg.KeycloakConfigured() && cfg.KeycloakClientID == "" {
		logger.Warn("development only: tenantd signs in to Keycloak as the admin user; set TENANTFLOW_KEYCLOAK_CLIENT_ID and _SECRET for its service account",
			"user", cfg.KeycloakAdminUser)
	}

	serveErr := make(chan error, 2)
	go func() { serveErr <- srv.Serve(ln) }()
	go func() { serveErr <- admin.Serve(adminLn) }()

	select {
	case err := <-serveErr:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	defer admin.Close() // the metrics until the end, then gone
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	logger.Info("stopped")
	return nil
}
