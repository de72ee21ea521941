package notify_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tenantflow/tenantflow/adapters/smtp"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/handlers/notify"
	"github.com/tenantflow/tenantflow/internal/testkit/mailtest"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
)

// failedAtDatabase is tn (a copy) after a failed first attempt: the
// database step failed with a raw back-end error, and every undo went well
// or, with leftovers, the identity step's undo failed.
func failedAtDatabase(t *testing.T, tn *domain.Tenant, leftovers bool) *domain.Tenant {
	t.Helper()
	c, _, err := domain.NewTenant(tn.ID(), "", domain.TenantInput{Key: tn.Key(), Name: tn.Name(), Contact: tn.Contact(), Domains: tn.Domains()})
	if err != nil {
		t.Fatal(err)
	}
	must := func(_ []domain.Event, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	must(c.RequestProvisioning(domain.Subscription{ID: "s", SubscriberID: "c", PlanID: "p", StartDate: now,
		Plan: domain.Plan{ID: "p", Name: "P", Tier: "pooled"}}, domain.DefaultTiers))
	for _, s := range []string{domain.StepIdentity, domain.StepAdminUser} {
		must(c.RecordStep(domain.StepOutcome{Step: s, Outcome: domain.OutcomeCompleted, Tries: 1, StartedAt: now, At: now,
			Resources: []domain.Resource{{Step: s, Kind: "thing", ID: s}}}))
	}
	must(c.RecordStep(domain.StepOutcome{Step: domain.StepDatabase, Outcome: domain.OutcomeFailed, Tries: 1, StartedAt: now, At: now,
		Error: rawBackendError}))
	must(c.FailProvisioning())
	for step, ok := c.NextUndo(); ok; step, ok = c.NextUndo() {
		o := domain.StepOutcome{Step: step, Outcome: domain.OutcomeCompensated, StartedAt: now, At: now}
		if leftovers && step == domain.StepIdentity {
			o.Outcome, o.Error = domain.OutcomeCompensationFailed, "delete realm: 500"
		}
		must(c.RecordUndo(o))
	}
	must(c.FinishUndo())
	if c.Status() != domain.StatusProvisionFailed || (len(c.Orphans()) > 0) != leftovers {
		t.Fatalf("fixture: status %s, orphans %v", c.Status(), c.Orphans())
	}
	return c
}

// rawBackendError is what a back end says; the customer never reads it.
const rawBackendError = `pq: permission denied for schema tenant_acme (SQLSTATE 42501) at /var/lib/tofu/main.tf line 12`

// The failure mail speaks the customer's language: the step in words, no
// back-end error, and whether something is left for the operators.
func TestFailureMailIsTruthful(t *testing.T) {
	addr := mailtest.SMTPAddr(t)
	mailer, err := smtp.New(smtp.Settings{Addr: addr, From: "tenantflow <no-reply@tenantflow.localhost>", TLS: "opportunistic"})
	if err != nil {
		t.Fatal(err)
	}
	n := notify.MailNotifier{Mailer: mailer, Links: notify.Links{SupportEmail: "help@example.com"}}
	for _, leftovers := range []bool{false, true} {
		email := testenv.UniqueKey("m") + "@example.com"
		tn, _, _ := domain.NewTenant(uuid.NewString(), "", domain.TenantInput{Key: testenv.UniqueKey("m"), Name: "Acme",
			Contact: domain.Contact{Email: email, FirstName: "Ada", LastName: "L"}})
		if err := n.Failure(context.Background(), failedAtDatabase(t, tn, leftovers)); err != nil {
			t.Fatal(err)
		}
		mail := mailtest.WaitForSubject(t, email, "did not succeed", 10*time.Second)
		if strings.Contains(mail.Body, "SQLSTATE") || strings.Contains(mail.Body, "main.tf") || strings.Contains(mail.Body, "500") {
			t.Errorf("the customer's mail carries a back-end error:\n%s", mail.Body)
		}
		if !strings.Contains(mail.Body, "Failed step: your database") {
			t.Errorf("the mail does not name the step in words:\n%s", mail.Body)
		}
		removed := strings.Contains(mail.Body, "everything made on the way has been removed again") && strings.Contains(mail.Body, "Clean-up:    complete")
		left := strings.Contains(mail.Body, "could not be removed") && strings.Contains(mail.Body, "left to our operators")
		if removed == leftovers || left != leftovers {
			t.Errorf("leftovers %v, but the mail says:\n%s", leftovers, mail.Body)
		}
	}
}
