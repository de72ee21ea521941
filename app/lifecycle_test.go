package app_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/tenantflow/tenantflow/adapters/smtp"
	"github.com/tenantflow/tenantflow/app"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/handlers/notify"
	"github.com/tenantflow/tenantflow/internal/testkit/mailtest"
	"github.com/tenantflow/tenantflow/internal/testkit/tenanttest"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
	"github.com/tenantflow/tenantflow/internal/testkit/wait"
)

// lifecycleEnv is a fresh log on the dev stack's PostgreSQL, its tenants,
// and a mailer to the dev stack's SMTP server.
func lifecycleEnv(t *testing.T) (*eventstore.Postgres, app.Repository[*domain.Tenant], *smtp.Mailer, *slog.Logger) {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	store := eventstore.NewPostgres(testenv.NewMigratedPool(t), logger)
	mailer, err := smtp.New(smtp.Settings{Addr: mailtest.SMTPAddr(t), From: "tenantflow <no-reply@tenantflow.localhost>", TLS: "opportunistic"})
	if err != nil {
		t.Fatal(err)
	}
	return store, app.Tenants(store), mailer, logger
}

// activeUntil stores an ACTIVE tenant, mailed at email, whose subscription
// ends at end: its steps recorded as the handlers would.
func activeUntil(t *testing.T, tenants app.Repository[*domain.Tenant], email string, end time.Time) string {
	t.Helper()
	ctx := context.Background()
	tn, created, err := domain.NewTenant(uuid.NewString(), "", domain.TenantInput{Key: testenv.UniqueKey("x"), Name: "Acme",
		Contact: domain.Contact{Email: email, FirstName: "Ada", LastName: "L"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := tenants.Create(ctx, tn.ID(), app.Metadata{Actor: "test"}, created); err != nil {
		t.Fatal(err)
	}
	_, err = tenants.Update(ctx, tn.ID(), app.Metadata{Actor: "test"}, func(tn *domain.Tenant) ([]domain.Event, error) {
		var all []domain.Event
		keep := func(evs []domain.Event, err error) {
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, evs...)
		}
		keep(tn.RequestProvisioning(domain.Subscription{ID: "s", SubscriberID: "c", PlanID: "p", StartDate: end.AddDate(-1, 0, 0), EndDate: end,
			Plan: domain.Plan{ID: "p", Name: "P", Tier: "pooled", CurrencyID: "EUR", BillingCycleID: "monthly"}}, domain.DefaultTiers))
		all = append(all, testenv.Activate(t, tn, nil)...)
		keep(tn.RecordNotification(domain.StepOutcome{Step: domain.StepNotify, Outcome: domain.OutcomeCompleted}))
		return all, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return tn.ID()
}

// Expiry on the real log and mail server, with a clock the test moves: the
// contact is warned before the grace period ends, the tenant is suspended
// when it ends, warned again before the retention period ends and
// offboarded when it ends — each once, whichever watcher (a new one
// stands for a restart) looks, however often.
func TestExpiryThroughGraceAndRetention(t *testing.T) {
	ctx := context.Background()
	store, tenants, mailer, logger := lifecycleEnv(t)
	email := testenv.UniqueKey("e") + "@example.com"
	end := time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC)
	id := activeUntil(t, tenants, email, end)
	renewed := activeUntil(t, tenants, testenv.UniqueKey("r")+"@example.com", end.AddDate(10, 0, 0))
	day := 24 * time.Hour
	var now time.Time
	watcher := func() *app.Lifecycle {
		return &app.Lifecycle{Tenants: tenants, Log: store, Lease: store, Logger: logger,
			Warner: notify.MailNotifier{Mailer: mailer, Links: notify.Links{SupportEmail: "help@example.com"}},
			Policy: domain.ExpiryPolicy{Grace: 7 * day, Retention: 30 * day, Warning: 3 * day}, Now: func() time.Time { return now }}
	}
	check := func(x *app.Lifecycle, at time.Time, want int) {
		t.Helper()
		now = at
		if acted, err := x.Check(ctx); err != nil || acted != want {
			t.Fatalf("at end%+v: acted on %d tenants (%v), want %d", at.Sub(end), acted, err, want)
		}
	}
	status := func(want domain.Status) {
		t.Helper()
		tn, err := tenants.Get(ctx, id)
		if err != nil || tn.Status() != want {
			t.Fatalf("status %v (%v), want %s", tn.Status(), err, want)
		}
	}

	x := watcher()
	check(x, end.Add(3*day), 0)
	check(x, end.Add(4*day), 1)
	mail := mailtest.WaitForSubject(t, email, "suspension on 2026-02-07", 10*time.Second)
	if !strings.Contains(mail.Body, "ended on 2026-01-31") || !strings.Contains(mail.Body, "nobody will") {
		t.Fatalf("the suspension warning:\n%s", mail.Body)
	}
	check(x, end.Add(5*day), 0)
	check(watcher(), end.Add(6*day), 0) // restarted: the warning is in the log
	if n := mailtest.Count(t, email); n != 1 {
		t.Fatalf("%d warnings, want 1", n)
	}

	check(watcher(), end.Add(7*day), 1)
	tn, _ := tenants.Get(ctx, id)
	if c, _ := tn.LastChange(); c.Change != domain.ChangeSuspend || c.Source != domain.SourceExpiry || c.State != "running" {
		t.Fatalf("the suspension: %+v", c)
	}
	check(x, end.Add(7*day+time.Hour), 0)   // it runs: nothing more is asked
	tenanttest.FinishChange(t, tenants, id) // the suspension's steps (their own tests check Keycloak)
	status(domain.StatusSuspended)

	suspended := end.Add(7 * day)
	check(x, suspended.Add(26*day), 0)
	check(x, suspended.Add(27*day), 1)
	mail = mailtest.WaitForSubject(t, email, "removal on 2026-03-09", 10*time.Second)
	if !strings.Contains(mail.Body, "removed for good") {
		t.Fatalf("the offboarding warning:\n%s", mail.Body)
	}
	check(watcher(), suspended.Add(30*day), 1)
	status(domain.StatusDeprovisioning)
	check(x, suspended.Add(90*day), 0) // offboarded: no longer a candidate
	if n := mailtest.Count(t, email); n != 2 {
		t.Fatalf("%d warnings, want 2", n)
	}
	if tn, _ := tenants.Get(ctx, renewed); tn.Status() != domain.StatusActive {
		t.Fatalf("a tenant whose subscription runs on: %s", tn.Status())
	}
}

// Run holds the lease and checks on its own, every tick, until stopped.
func TestExpiryRuns(t *testing.T) {
	store, tenants, mailer, logger := lifecycleEnv(t)
	email := testenv.UniqueKey("e") + "@example.com"
	id := activeUntil(t, tenants, email, time.Now().Add(-8*24*time.Hour))
	x := &app.Lifecycle{Tenants: tenants, Log: store, Lease: store, Logger: logger, Every: 50 * time.Millisecond,
		Warner: notify.MailNotifier{Mailer: mailer}, Policy: domain.ExpiryPolicy{Grace: 7 * 24 * time.Hour, Retention: time.Hour, Warning: time.Hour}}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- x.Run(ctx) }()
	wait.For(t, 30*time.Second, func() error {
		tn, err := tenants.Get(context.Background(), id)
		if err != nil {
			return err
		}
		if c, ok := tn.LastChange(); !ok || c.Source != domain.SourceExpiry {
			return io.EOF
		}
		return nil
	})
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// A DELETE kept for its retention period is purged when the period ends,
// not before; a restored one is not purged at all.
func TestOffboardingPurgedAfterRetention(t *testing.T) {
	ctx := context.Background()
	store, tenants, _, logger := lifecycleEnv(t)
	far := time.Now().AddDate(10, 0, 0) // no expiry meanwhile
	gone := activeUntil(t, tenants, testenv.UniqueKey("g")+"@example.com", far)
	back := activeUntil(t, tenants, testenv.UniqueKey("b")+"@example.com", far)
	md := app.Metadata{Actor: "test"}
	finish := func(id string) { tenanttest.FinishChange(t, tenants, id) }
	month := 30 * 24 * time.Hour
	for _, id := range []string{gone, back} {
		if _, err := app.Offboard(ctx, tenants, id, "customer left", month, md); err != nil {
			t.Fatal(err)
		}
		finish(id)
	}
	if _, err := app.Restore(ctx, tenants, back, "came back", md); err != nil {
		t.Fatal(err)
	}
	finish(back)

	var now time.Time
	x := &app.Lifecycle{Tenants: tenants, Log: store, Lease: store, Logger: logger, Now: func() time.Time { return now },
		Policy: domain.ExpiryPolicy{Grace: 7 * 24 * time.Hour, Retention: month, Warning: 24 * time.Hour}}
	for _, step := range []struct {
		at   time.Time
		want int
	}{{time.Now().Add(month - time.Hour), 0}, {time.Now().Add(month + time.Minute), 1}, {time.Now().Add(2 * month), 0}} {
		now = step.at
		if acted, err := x.Check(ctx); err != nil || acted != step.want {
			t.Fatalf("at %s: acted on %d (%v), want %d", step.at, acted, err, step.want)
		}
	}
	for id, want := range map[string]domain.Status{gone: domain.StatusDeprovisioning, back: domain.StatusActive} {
		if tn, err := tenants.Get(ctx, id); err != nil || tn.Status() != want {
			t.Fatalf("status %v (%v), want %s", tn.Status(), err, want)
		}
	}
}
