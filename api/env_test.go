package api

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tenantflow/tenantflow/adapters/smtp"
	"github.com/tenantflow/tenantflow/app"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/internal/testkit/mailtest"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
	"github.com/tenantflow/tenantflow/platform/auth"
	"github.com/tenantflow/tenantflow/platform/idempotency"
	"github.com/tenantflow/tenantflow/platform/pii"
	"github.com/tenantflow/tenantflow/projections"
)

const testSecret = "api-test-secret-api-test-secret-0123"

// apiEnv is the real router on the real services of the dev stack: a fresh
// PostgreSQL database (event store, idempotency records, tenant list
// projection, which runs while the test does) and the SMTP server.
type apiEnv struct {
	srv    *httptest.Server
	signer *auth.HS256
	pool   *pgxpool.Pool
	store  *eventstore.Postgres
	logs   *syncBuffer
}

type option func(*Deps)

func withMailer(m Mailer) option { return func(d *Deps) { d.Mailer = m } }
func withLeadRate(n int) option  { return func(d *Deps) { d.LeadRate = n } }

// withSealer runs the API as tenantd does: personal fields sealed in the
// log by a vault on the test's database, and opened in the answers.
func withSealer() option { return func(d *Deps) { d.Personal = wantSealer{} } }

// wantSealer marks the wish until newAPI has the database to keep the keys in.
type wantSealer struct{ Opener }

func newAPI(t *testing.T, opts ...option) *apiEnv {
	t.Helper()
	smtpAddr := mailtest.SMTPAddr(t)
	pool := testenv.NewMigratedPool(t)
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	store := eventstore.NewPostgres(pool, logger)
	t.Cleanup(store.Close)
	signer, _ := auth.NewHS256(testSecret, "tenantflow")
	mailer, err := smtp.New(smtp.Settings{Addr: smtpAddr, From: "tenantflow <no-reply@tenantflow.localhost>", TLS: "opportunistic"})
	if err != nil {
		t.Fatal(err)
	}
	list := &projections.Engine{Pool: pool, Log: store, Projectors: projections.All(), Logger: logger}
	if err := list.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = list.FollowLog(ctx, store) }()
	t.Cleanup(func() { cancel(); <-done })

	d := Deps{App: app.NewService(store, ""), Tenants: list, Verifier: signer, Minter: signer, Mailer: mailer,
		Idempotency: idempotency.New(pool, 24*time.Hour), LeadRate: 1000, LeadTokenTTL: 15 * time.Minute, Logger: logger}
	for _, o := range opts {
		o(&d)
	}
	if _, ok := d.Personal.(wantSealer); ok {
		vault, err := pii.NewVault(pool, bytes.Repeat([]byte{0x5e}, 32))
		if err != nil {
			t.Fatal(err)
		}
		store.SetDataSealer(vault.SealEvent)
		d.Personal = vault
	}
	rt := NewRouter(nil, time.Second)
	rt.Mount(d)
	srv := httptest.NewServer(rt)
	t.Cleanup(srv.Close)
	return &apiEnv{srv: srv, signer: signer, pool: pool, store: store, logs: logs}
}

// eventCount is how many events the log holds.
func (e *apiEnv) eventCount(t *testing.T) int {
	t.Helper()
	var n int
	if err := e.pool.QueryRow(context.Background(), `select count(*) from events`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// syncBuffer collects log output from concurrent handlers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
