package service

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/tenantflow/tenantflow/adapters/keycloak"
	"github.com/tenantflow/tenantflow/adapters/postgres"
	"github.com/tenantflow/tenantflow/adapters/smtp"
	"github.com/tenantflow/tenantflow/app"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/handlers"
	"github.com/tenantflow/tenantflow/handlers/adminuser"
	"github.com/tenantflow/tenantflow/handlers/billing"
	"github.com/tenantflow/tenantflow/handlers/database"
	"github.com/tenantflow/tenantflow/handlers/deadletters"
	"github.com/tenantflow/tenantflow/handlers/deploy"
	"github.com/tenantflow/tenantflow/handlers/dns"
	"github.com/tenantflow/tenantflow/handlers/faults"
	"github.com/tenantflow/tenantflow/handlers/idp"
	"github.com/tenantflow/tenantflow/handlers/infrastructure"
	"github.com/tenantflow/tenantflow/handlers/notify"
	"github.com/tenantflow/tenantflow/handlers/platform"
	"github.com/tenantflow/tenantflow/handlers/signin"
	"github.com/tenantflow/tenantflow/handlers/step"
	"github.com/tenantflow/tenantflow/handlers/storage"
	"github.com/tenantflow/tenantflow/internal/config"
	"github.com/tenantflow/tenantflow/platform/backoff"
	"github.com/tenantflow/tenantflow/platform/deployauth"
	"github.com/tenantflow/tenantflow/platform/pii"
)

// stepConfig builds the provisioning handlers' configuration, or nil when
// TENANTFLOW_HANDLERS is off. Steps whose back end is not configured are
// skipped (and logged once here).
func stepConfig(ctx context.Context, cfg config.Config, logger *slog.Logger, store *eventstore.Postgres, vault *pii.Vault, brokers []string, publisher message.Publisher) (*handlers.Config, error) {
	if !cfg.Handlers {
		logger.Info("step handlers are off in this tenantd (TENANTFLOW_HANDLERS=false)")
		return nil, nil
	}
	known := domain.AllSteps
	injector, err := faults.Parse(cfg.Faults, known)
	if err != nil {
		return nil, fmt.Errorf("TENANTFLOW_FAULTS: %w", err)
	}
	if cfg.Faults != "" {
		logger.Warn("FAULT INJECTION IS ON: steps fail on purpose", "faults", cfg.Faults)
	}
	actions, err := StepActions(ctx, cfg, logger, store)
	if err != nil {
		return nil, err
	}
	c := &handlers.Config{
		Brokers: brokers, Topic: cfg.KafkaTopic, GroupPrefix: cfg.KafkaGroupPrefix, Store: store, Logger: logger,
		Hosted: cfg.Steps, Concurrency: cfg.HandlerConcurrency, StepConcurrency: cfg.StepConcurrency, MaxFailures: cfg.HandlerMaxFailures, InstanceID: cfg.KafkaInstanceID,
		Steps: step.Runner{Retry: backoff.Policy{MaxTries: cfg.StepMaxTries, BaseDelay: cfg.StepRetryBase, MaxDelay: cfg.StepRetryMax, TryTimeout: cfg.StepTryTimeout},
			MaxTries: stepTries(cfg.StepMaxTriesByStep), TryTimeouts: map[string]time.Duration{domain.StepInfrastructure: cfg.InfraTimeout + time.Minute, domain.StepPlanInfra: cfg.InfraTimeout + time.Minute}, Personal: vault},
		Actions:     actions,
		DeadLetters: &deadletters.Table{Pool: store.Pool(), Publisher: publisher},
	}
	links := notify.Links{KeycloakURL: cfg.KeycloakURL, SharedRealm: cfg.KeycloakOrganizationsRealm, AdminPortalURL: cfg.AdminPortalURL, SupportEmail: cfg.SupportEmail}
	switch {
	case cfg.Notifier == "novu":
		c.Actions[domain.StepNotify] = notify.Step{Sender: notify.Novu{BaseURL: cfg.NovuURL, APIKey: cfg.NovuAPIKey, Links: links, Personal: vault}}
	case cfg.SMTPAddr != "":
		m, err := smtp.New(smtp.Settings{Addr: cfg.SMTPAddr, From: cfg.SMTPFrom, User: cfg.SMTPUser, Password: cfg.SMTPPassword, TLS: cfg.SMTPTLS})
		if err != nil {
			return nil, err
		}
		c.Actions[domain.StepNotify] = notify.Step{Sender: notify.MailNotifier{Mailer: m, Links: links, Personal: vault}}
	default:
		logger.Warn("TENANTFLOW_SMTP_ADDR is not set: the notify step is skipped")
	}
	var configured []string
	for _, s := range domain.AllSteps {
		if c.Actions[s] != nil {
			configured = append(configured, s)
		}
	}
	logger.Info("step handlers configured", "steps_with_back_ends", configured)
	c.Actions = platform.Actions(c.Actions, injector.Wrap) // traced, behind their faults; step.NotConfigured where none
	return c, nil
}

// StepActions builds the back ends of the steps the configuration names (a
// step without one is skipped). tenantctl drift probes the same ones.
func StepActions(ctx context.Context, cfg config.Config, logger *slog.Logger, store *eventstore.Postgres) (map[string]step.Action, error) {
	eventPool := store.Pool()
	tenantDB := eventPool
	if cfg.TenantDatabaseURL != "" {
		var err error
		if tenantDB, err = postgres.Open(ctx, cfg.TenantDatabaseURL); err != nil {
			return nil, err
		}
	}
	actions := map[string]step.Action{domain.StepDatabase: database.Database{Pool: tenantDB}}
	masterKey, _ := cfg.PIIMasterKey() // validated with the configuration
	vault, err := pii.NewVault(eventPool, masterKey)
	if err != nil {
		return nil, err
	}
	if cfg.KeycloakConfigured() {
		platformZone := "" // the dns step names tenants <key>.<zone> only when it runs
		if cfg.DNSServer != "" {
			platformZone = cfg.DNSZone
		}
		id := Identity(cfg, platformZone)
		actions[domain.StepIdentity], actions[domain.StepAdminUser] = id.RealmStep(), AdminUser(id, vault)
		tenants := keycloak.Tenants{Admin: id.Admin, SharedRealm: id.SharedRealm}
		actions[domain.StepSignInOff], actions[domain.StepSignInOn] = signin.Off{Keycloak: tenants}, signin.On{Keycloak: tenants}
	} else {
		logger.Warn("TENANTFLOW_KEYCLOAK_URL is not set: the idp and admin_user steps are skipped")
	}
	if cfg.DeploySigningKey != "" {
		agentKey, err := deployauth.ParseKey(cfg.AgentKey)
		if err != nil {
			return nil, fmt.Errorf("TENANTFLOW_AGENT_KEY: %w", err)
		}
		actions[domain.StepDeploy] = &deploy.Deployment{SigningKey: []byte(cfg.DeploySigningKey), AgentKey: agentKey,
			Deadline: cfg.DeployDeadline, CheckEvery: min(5*time.Second, cfg.DeployDeadline/4), Log: app.OverdueTenants{Log: store}, Logger: logger}
		logger.Info("deploy step: choreographed with the application plane's agent", "deadline", cfg.DeployDeadline.String())
		// The changes tell the same agent (signed like its deployment requests).
		actions[domain.StepAppSuspend] = deploy.Tell{AgentKey: agentKey, Action: domain.AppPlaneSuspend, UndoAction: domain.AppPlaneResume}
		actions[domain.StepAppResume] = deploy.Tell{AgentKey: agentKey, Action: domain.AppPlaneResume, UndoAction: domain.AppPlaneSuspend}
		actions[domain.StepPlanApp] = deploy.Tell{AgentKey: agentKey, Action: domain.AppPlaneResize, UndoAction: domain.AppPlaneResize}
	}
	if err := backEnds(actions, cfg, vault, logger); err != nil {
		return nil, err
	}
	return actions, nil
}

// BillingProvider is the configured billing provider (TENANTFLOW_BILLING=stripe).
func BillingProvider(cfg config.Config) *billing.Stripe {
	return billing.NewStripe(cfg.StripeAPIKey, cfg.StripeAPIURL, &http.Client{Timeout: 30 * time.Second})
}

// BillingTries is the billing step's tries unless configured
// (TENANTFLOW_STEP_MAX_TRIES_BY_STEP): a billing provider that is down
// holds the billing step, and only it, for about 25 minutes with the
// default delays (30 s at most between tries) before billing.failed is
// recorded; the tenant is ACTIVE meanwhile.
const BillingTries = 50

// stepTries is the configured per-step tries, with BillingTries.
func stepTries(configured map[string]int) map[string]int {
	out := map[string]int{domain.StepBilling: BillingTries}
	maps.Copy(out, configured)
	return out
}

// RealmMail is the SMTP server of the tenants' realms, through which
// Keycloak mails each admin the set-password link: tenantflow's own SMTP
// server and settings when it has one; else, with the Novu notifier,
// tenantflow's mail bridge (bridge true), which hands the link to Novu; else
// none (Host ""), and the admin must be sent the link later.
func RealmMail(cfg config.Config) (m idp.RealmMail, bridge bool) {
	from, _ := mail.ParseAddress(cfg.SMTPFrom)
	switch {
	case cfg.SMTPAddr != "" && cfg.SMTPUser == "":
		host, port, _ := net.SplitHostPort(cfg.SMTPAddr)
		return idp.RealmMail{Host: host, Port: port, From: from.Address, StartTLS: cfg.SMTPTLS != "none"}, false
	case cfg.SMTPAddr != "" || cfg.Notifier == "novu":
		// tenantflow's SMTP server wants a password, or there is only Novu:
		// the realms mail the bridge, each with credentials of its own.
		host, port, _ := net.SplitHostPort(cfg.MailBridgeHost())
		return idp.RealmMail{Host: host, Port: port, From: from.Address, PasswordFor: mailBridgePassword(cfg)}, true
	}
	return idp.RealmMail{}, false
}

// Identity is the idp step's back end on the configured Keycloak;
// platformZone is the DNS zone tenants are named in when the dns step runs.
func Identity(cfg config.Config, platformZone string) *idp.Identity {
	realmMail, _ := RealmMail(cfg)
	return &idp.Identity{Admin: keycloakAdmin(cfg), RealmMail: realmMail, PlatformZone: platformZone, SharedRealm: cfg.KeycloakOrganizationsRealm}
}

// AdminUser is the admin_user step on the identity step's Keycloak; vault
// opens the admins' sealed addresses and names (nil: not sealed).
func AdminUser(id *idp.Identity, vault *pii.Vault) adminuser.Step {
	step := adminuser.Step{Keycloak: keycloak.Tenants{Admin: id.Admin, SharedRealm: id.SharedRealm}, KeycloakMails: id.RealmMail.Host != ""}
	if vault != nil {
		step.Personal = vault // a nil *Vault in the interface would not read as nil
	}
	return step
}

// keycloakAdmin is tenantd's way into Keycloak's admin API: the service
// account when its client is configured, else the admin user.
func keycloakAdmin(cfg config.Config) *keycloak.Admin {
	if cfg.KeycloakClientID != "" {
		return keycloak.NewServiceAccount(cfg.KeycloakURL, cfg.KeycloakAdminRealm, cfg.KeycloakClientID, cfg.KeycloakClientSecret)
	}
	return keycloak.NewAdmin(cfg.KeycloakURL, cfg.KeycloakAdminRealm, cfg.KeycloakAdminUser, cfg.KeycloakAdminPassword)
}

// mailBridgePassword gives each realm its own SMTP password at the mail
// bridge, derived from tenantd's Keycloak credential and the realm's name,
// so that every tenantd of an installation derives the same ones, nobody
// configures another secret, and one realm's password opens nothing of
// another's.
func mailBridgePassword(cfg config.Config) func(realm string) string {
	credential := cfg.KeycloakAdminPassword
	if cfg.KeycloakClientID != "" {
		credential = cfg.KeycloakClientSecret
	}
	return func(realm string) string {
		mac := hmac.New(sha256.New, []byte(credential))
		mac.Write([]byte("tenantflow mail bridge\x00" + realm))
		return hex.EncodeToString(mac.Sum(nil))
	}
}

// mailBridge is the mail bridge, listening already, when Keycloak cannot
// mail the admins itself and this tenantd runs the handlers; nil otherwise.
func mailBridge(cfg config.Config, logger *slog.Logger, store eventstore.Streams, vault *pii.Vault, steps *handlers.Config) (*component, error) {
	realmMail, bridge := RealmMail(cfg)
	notifier, _ := step.As[notify.Step](steps.Actions[domain.StepNotify])
	sender, ok := notifier.Sender.(app.SetPasswordSender)
	if !bridge || !cfg.KeycloakConfigured() || !ok {
		return nil, nil
	}
	ln, err := net.Listen("tcp", cfg.MailBridgeAddr)
	if err != nil {
		return nil, fmt.Errorf("mail bridge (TENANTFLOW_MAIL_BRIDGE_ADDR): %w", err)
	}
	id := Identity(cfg, "")
	links := app.SetPasswordLinks{Store: store, Personal: vault, Sender: sender, SharedRealm: cfg.KeycloakOrganizationsRealm, OrganizationsOf: id.RecipientOrganizations}
	b := &keycloak.MailBridge{PasswordFor: realmMail.PasswordFor, Deliver: links.Deliver, Logger: logger}
	logger.Info("Keycloak cannot mail the admins itself: it mails set-password links to the mail bridge, which sends them through the notifier",
		"listen", ln.Addr().String(), "keycloak_dials", cfg.MailBridgeHost())
	return &component{name: "mail bridge", run: func(ctx context.Context) error { return b.Serve(ctx, ln) }}, nil
}

// lifecycle is the watcher of live tenants' deadlines (app.Lifecycle):
// expiry, warning through the notify step's sender (without one, a warning
// is recorded and not sent), and offboardings' purges.
func lifecycle(cfg config.Config, store *eventstore.Postgres, steps *handlers.Config, logger *slog.Logger) component {
	notifier, _ := step.As[notify.Step](steps.Actions[domain.StepNotify])
	warner, _ := notifier.Sender.(app.ExpiryWarner)
	x := &app.Lifecycle{Tenants: app.Tenants(store), Log: store, Lease: store, Warner: warner, Policy: cfg.ExpiryPolicy(), Logger: logger}
	return component{name: "lifecycle", afterStartup: true, run: x.Run}
}

// backEnds adds the storage, infrastructure and DNS steps' back ends.
func backEnds(actions map[string]step.Action, cfg config.Config, vault *pii.Vault, logger *slog.Logger) error {
	switch cfg.Storage {
	case "local":
		dir := cfg.StorageDir
		if dir == "" {
			dir = filepath.Join(os.TempDir(), "tenantflow-storage")
		}
		actions[domain.StepStorage] = storage.LocalStorage{Root: dir}
		logger.Info("storage step: local directories (embedded default)", "root", dir)
	case "s3":
		client, err := minio.New(cfg.S3Endpoint, &minio.Options{Creds: credentials.NewStaticV4(cfg.S3AccessKey, cfg.S3SecretKey, ""),
			Secure: cfg.S3TLS, Region: cfg.S3Region})
		if err != nil {
			return fmt.Errorf("s3 client: %w", err)
		}
		actions[domain.StepStorage] = storage.S3{Client: client, Region: cfg.S3Region}
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
		infra := infrastructure.Infrastructure{Binary: cfg.InfraBinary, Modules: cfg.InfraModules,
			StateDir: dir, StateConn: cfg.InfraStateConn(), Region: cfg.InfraRegion, Timeout: cfg.InfraTimeout, PassEnv: cfg.InfraPassEnv}
		actions[domain.StepInfrastructure], actions[domain.StepPlanInfra] = infra, infrastructure.Resize{Infrastructure: infra}
	}
	if cfg.Billing == "stripe" {
		provider := BillingProvider(cfg)
		actions[domain.StepBilling], actions[domain.StepPlanBilling] = billing.Step{Provider: provider, Personal: vault}, billing.PlanStep{Provider: provider}
		if cfg.StripeAPIURL != "" {
			logger.Info("billing step: Stripe's API at another address", "url", cfg.StripeAPIURL)
		}
	}
	if cfg.DNSServer != "" {
		actions[domain.StepDNS] = dns.DNS{Server: cfg.DNSServer, Zone: cfg.DNSZone, TSIGName: cfg.DNSTSIGName,
			TSIGSecret: cfg.DNSTSIGSecret, Target: cfg.DNSTarget}
	}
	return nil
}
