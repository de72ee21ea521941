package handlers_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tenantflow/tenantflow/adapters/kafka"
	"github.com/tenantflow/tenantflow/adapters/keycloak"
	"github.com/tenantflow/tenantflow/adapters/smtp"
	"github.com/tenantflow/tenantflow/app"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/handlers"
	"github.com/tenantflow/tenantflow/handlers/database"
	"github.com/tenantflow/tenantflow/handlers/deadletters"
	dnsstep "github.com/tenantflow/tenantflow/handlers/dns"
	"github.com/tenantflow/tenantflow/handlers/faults"
	"github.com/tenantflow/tenantflow/handlers/idp"
	"github.com/tenantflow/tenantflow/handlers/infrastructure"
	"github.com/tenantflow/tenantflow/handlers/notify"
	"github.com/tenantflow/tenantflow/handlers/platform"
	"github.com/tenantflow/tenantflow/handlers/step"
	"github.com/tenantflow/tenantflow/handlers/storage"
	"github.com/tenantflow/tenantflow/internal/testkit/devsteps"
	"github.com/tenantflow/tenantflow/internal/testkit/kafkatest"
	"github.com/tenantflow/tenantflow/internal/testkit/mailtest"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
	"github.com/tenantflow/tenantflow/internal/testkit/wait"
	"github.com/tenantflow/tenantflow/platform/backoff"
)

// flow is the whole choreography on the real services: a fresh database,
// a topic of its own, the relay, every handler in groups of its own, the
// dev stack's Keycloak and SMTP server.
type flow struct {
	store    *eventstore.Postgres
	pool     *pgxpool.Pool
	tenants  app.Repository[*domain.Tenant]
	admin    *keycloak.Admin
	identity *idp.Identity
	dead     *deadletters.Table
	s3       storage.S3
	dns      dnsstep.DNS
	infra    infrastructure.Infrastructure
	actions  map[string]step.Action
	tier     string // plan tier of provisioned tenants: silo runs OpenTofu

	publisher message.Publisher // the relay's, without test decorations
	topic     string
	brokers   []string
	groups    string // consumer group prefix
}

// parts are what an option may change before the flow starts.
type parts struct {
	cfg       *handlers.Config
	publisher message.Publisher
	faults    *faults.Injector
}

type flowOption func(*parts)

func withFaults(spec string) flowOption {
	return func(p *parts) {
		f, err := faults.Parse(spec, append(domain.Steps, domain.StepNotify))
		if err != nil {
			panic(err)
		}
		p.faults = f
	}
}

// withDuplicates makes the relay publish every record twice: each trigger
// reaches every handler twice.
func withDuplicates() flowOption {
	return func(p *parts) { p.publisher = twice{p.publisher} }
}

type twice struct{ message.Publisher }

func (d twice) Publish(topic string, msgs ...*message.Message) error {
	if err := d.Publisher.Publish(topic, msgs...); err != nil {
		return err
	}
	return d.Publisher.Publish(topic, msgs...)
}

func logger(t *testing.T) *slog.Logger {
	if os.Getenv("TENANTFLOW_TEST_LOGS") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newFlow(t *testing.T, opts ...flowOption) *flow {
	t.Helper()
	env := testenv.Require(t, "TENANTFLOW_KEYCLOAK_URL", "TENANTFLOW_KEYCLOAK_ADMIN_USER", "TENANTFLOW_KEYCLOAK_ADMIN_PASSWORD",
		"TENANTFLOW_KEYCLOAK_CLIENT_ID", "TENANTFLOW_KEYCLOAK_CLIENT_SECRET")
	brokers := testenv.KafkaBrokers(t)
	smtpAddr := mailtest.SMTPAddr(t)
	pool := testenv.NewMigratedPool(t)
	log := logger(t)
	store := eventstore.NewPostgres(pool, log)
	t.Cleanup(store.Close)

	topic := "tenant.events.test-" + uuid.NewString()[:8]
	if err := kafka.CreateTopic(brokers, topic, 4); err != nil {
		t.Fatal(err)
	}
	// Two principals, as in tenantd: the relay's writes the event topic, the
	// process's writes dead letters.
	publisher, err := kafka.NewRelayPublisher(brokers)
	if err != nil {
		t.Fatal(err)
	}
	dlq, err := kafka.NewRecordPublisher(brokers)
	if err != nil {
		t.Fatal(err)
	}
	admin := keycloak.NewAdmin(env["TENANTFLOW_KEYCLOAK_URL"], "master", env["TENANTFLOW_KEYCLOAK_ADMIN_USER"], env["TENANTFLOW_KEYCLOAK_ADMIN_PASSWORD"])
	host, port, _ := net.SplitHostPort(smtpAddr)
	// The steps sign in as tenantd does, with the dev stack's service account
	// (create-realm only); the test inspects Keycloak as its admin user.
	provisioner := keycloak.NewServiceAccount(env["TENANTFLOW_KEYCLOAK_URL"], "master", env["TENANTFLOW_KEYCLOAK_CLIENT_ID"], env["TENANTFLOW_KEYCLOAK_CLIENT_SECRET"])
	identity := &idp.Identity{Admin: provisioner, RealmMail: idp.RealmMail{Host: host, Port: port, From: "no-reply@tenantflow.localhost"},
		SharedRealm: devsteps.SharedRealm}
	mailer, err := smtp.New(smtp.Settings{Addr: smtpAddr, From: "tenantflow <no-reply@tenantflow.localhost>", TLS: "none"})
	if err != nil {
		t.Fatal(err)
	}
	dead := &deadletters.Table{Pool: pool, Publisher: dlq}
	cfg := handlers.Config{
		Brokers: brokers, Topic: topic, GroupPrefix: "test-" + uuid.NewString()[:8], Store: store,
		Actions: map[string]step.Action{
			domain.StepIdentity:       identity.RealmStep(),
			domain.StepAdminUser:      devsteps.AdminUser(identity),
			domain.StepDatabase:       database.Database{Pool: pool},
			domain.StepStorage:        devsteps.S3(t),
			domain.StepDNS:            devsteps.DNS(t),
			domain.StepInfrastructure: devsteps.Infrastructure(t),
			domain.StepNotify:         notify.Step{Sender: notify.MailNotifier{Mailer: mailer, Links: notify.Links{KeycloakURL: env["TENANTFLOW_KEYCLOAK_URL"], SupportEmail: "support@example.com"}}},
		},
		Steps:       step.Runner{Retry: backoff.Policy{MaxTries: 3, BaseDelay: 10 * time.Millisecond, MaxDelay: 100 * time.Millisecond}},
		DeadLetters: dead,
		Logger:      log,
	}
	if err := kafka.CreateTopic(brokers, kafka.DLQTopic(topic), 1); err != nil {
		t.Fatal(err)
	}
	p := &parts{cfg: &cfg, publisher: publisher}
	for _, o := range opts {
		o(p)
	}
	cfg.Actions = platform.Actions(cfg.Actions, p.faults.Wrap) // as the composition root builds them

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() {
		_ = (&eventstore.Relay{Store: store, Publisher: p.publisher, Topic: topic, Logger: log}).Run(ctx)
		done <- struct{}{}
	}()
	go func() {
		if err := handlers.Run(ctx, cfg); err != nil && ctx.Err() == nil {
			t.Errorf("handlers stopped: %v", err)
		}
		done <- struct{}{}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		<-done
		_ = publisher.Close()
		_ = dlq.Close()
	})
	return &flow{actions: cfg.Actions, infra: infraOf(cfg.Actions), tier: "silo", s3: devsteps.S3(t), dns: devsteps.DNS(t), dead: dead, store: store, pool: pool, tenants: app.Tenants(store), admin: admin, identity: identity,
		publisher: publisher, topic: topic, brokers: brokers, groups: cfg.GroupPrefix}
}

// infraOf is the infrastructure back end among actions, wrapped or not.
func infraOf(actions map[string]step.Action) infrastructure.Infrastructure {
	infra, _ := step.As[infrastructure.Infrastructure](actions[domain.StepInfrastructure])
	return infra
}

// provision creates a tenant with a unique key and requests provisioning.
func (f *flow) provision(t *testing.T, prefix string) *domain.Tenant {
	t.Helper()
	return f.request(t, f.provisionPending(t, prefix).ID())
}

// provisionPending creates a tenant with a unique key (PENDING_PROVISION).
func (f *flow) provisionPending(t *testing.T, prefix string) *domain.Tenant {
	t.Helper()
	ctx := context.Background()
	key := testenv.UniqueKey(prefix)
	email := key + "@example.com"
	tn, evs, err := domain.NewTenant(uuid.NewString(), "", domain.TenantInput{Key: key, Name: "Tenant " + key,
		Contact: domain.Contact{Email: email, FirstName: "Ada", LastName: "Lovelace"}, Domains: []string{key + "." + f.dns.Zone}})
	if err != nil {
		t.Fatal(err)
	}
	if err := app.CreateTenant(ctx, f.store, tn, eventstore.Metadata{}, evs); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.cleanup(tn) })
	return tn
}

func (f *flow) request(t *testing.T, id string) *domain.Tenant {
	t.Helper()
	sub := domain.Subscription{ID: "sub", SubscriberID: "cust", PlanID: "basic", StartDate: time.Now(),
		Plan: domain.Plan{ID: "basic", Name: "Basic", Tier: f.tier}}
	tn, err := f.tenants.Update(context.Background(), id, eventstore.Metadata{}, func(t *domain.Tenant) ([]domain.Event, error) {
		return t.RequestProvisioning(sub, testenv.DevTiers)
	})
	if err != nil {
		t.Fatal(err)
	}
	return tn
}

// cleanup removes what a failed test may have left in the shared services.
func (f *flow) cleanup(tn *domain.Tenant) {
	ctx := context.Background()
	if fresh, err := f.tenants.Get(ctx, tn.ID()); err == nil {
		tn = fresh // with its identity model
	}
	_ = devsteps.AdminUser(f.identity).Undo(ctx, tn)
	_ = f.identity.RealmStep().Undo(ctx, tn)
	_ = database.Database{Pool: f.pool}.Undo(ctx, tn)
	_ = f.s3.Undo(ctx, tn)
	_ = f.dns.Undo(ctx, tn)
	if fresh, err := f.tenants.Get(ctx, tn.ID()); err == nil {
		_ = f.infra.Undo(ctx, fresh) // needs the subscription's tier
	}
}

// waitFor polls the tenant's fold until cond holds.
func (f *flow) waitFor(t *testing.T, id, what string, timeout time.Duration, cond func(*domain.Tenant) bool) *domain.Tenant {
	t.Helper()
	return wait.Value(t, timeout, func() (*domain.Tenant, error) {
		tn, err := f.tenants.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if !cond(tn) {
			return nil, fmt.Errorf("tenant %s is not %s; now %s, steps %s", id, what, tn.Status(), describe(tn))
		}
		return tn, nil
	})
}

func describe(tn *domain.Tenant) string {
	var parts []string
	for _, s := range tn.StepStates() {
		parts = append(parts, fmt.Sprintf("%s=%s/%s(%s)", s.Step, s.State, s.Undo, s.Error))
	}
	return strings.Join(parts, " ")
}

func settled(tn *domain.Tenant) bool {
	return (tn.Status() == domain.StatusActive || tn.Status() == domain.StatusProvisionFailed) && !tn.NotificationDue()
}

// waitIdle waits until every handler group has committed offsets up to the
// end of every partition of the flow's topic: all published records were
// handled (watermill commits an offset only after the handler returned).
func (f *flow) waitIdle(t *testing.T) {
	t.Helper()
	kafkatest.WaitIdle(t, f.brokers, f.topic, f.groups, 1, 60*time.Second)
}
