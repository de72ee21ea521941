package schemas

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/tenantflow/tenantflow/domain"
)

// emitted builds one event of every type the code can write, through the
// domain's own commands where they exist.
func emitted(t *testing.T) []domain.Event {
	t.Helper()
	var out []domain.Event
	keep := func(evs []domain.Event, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, evs...)
	}
	now := time.Now()
	lead, evs, err := domain.NewLead("5e0c2f8a-9d7e-4c1b-8a6f-3b2d1e0f9a8b", domain.LeadInput{FirstName: "Ada", LastName: "L",
		Email: "ada@example.com", CommunicationEmail: "ada.l@example.com", CompanyName: "Acme",
		Address: domain.AddressInput{Address: "1 Main St", City: "London", Zip: "N1 9GU", Country: "GB"}}, strings.Repeat("ab", 32), now)
	keep(evs, err)
	keep(lead.Verify(strings.Repeat("ab", 32), now))
	tn, tenantEvents, leadEvents, err := lead.CreateTenant("7f1c0e9a-1111-4222-8333-944455556666", domain.LeadTenantInput{Key: "acme", Domains: []string{"app.acme.io"}, Source: "Registration Page"})
	keep(append(tenantEvents, leadEvents...), err)
	out = append(out, domain.KeyReserved{Key: "acme", TenantID: tn.ID()})
	sub := domain.Subscription{ID: "s", SubscriberID: "c", PlanID: "p", StartDate: now, EndDate: now.Add(time.Hour), Status: 1,
		InvoiceID: "inv-1",
		Plan: domain.Plan{ID: "p", Name: "Basic", Price: 9.5, CurrencyID: "EUR", Tier: "pooled", BillingCycleID: "monthly", MetaData: json.RawMessage(`{"seats":5}`),
			Size: "M", SizeConfig: json.RawMessage(`{"cpu":2}`),
			PlanItems: json.RawMessage(`[{"name":"users","value":{"name":"users","value":5}}]`), BillingCycle: json.RawMessage(`{"cycleName":"MONTHLY","duration":1}`),
			Currency: json.RawMessage(`{"currencyCode":"EUR"}`)}}
	keep(tn.RequestProvisioning(sub, domain.DefaultTiers))
	keep(tn.RequestCancel())
	keep(tn.RecordStep(domain.StepOutcome{Step: domain.StepIdentity, Outcome: domain.OutcomeFailed, Error: "cancelled", StartedAt: now, At: now}))
	keep(tn.FailProvisioning())
	keep(tn.RecordUndo(domain.StepOutcome{Step: domain.StepIdentity, Outcome: domain.OutcomeCompensated, StartedAt: now, At: now}))
	keep(tn.FinishUndo())
	keep(tn.RequestProvisioning(sub, domain.DefaultTiers))
	for _, s := range domain.Steps[:len(domain.Steps)-1] {
		if s == domain.StepDeploy { // the choreographed way: request, then the agent's report
			keep(tn.RequestDeployment(domain.DeploymentRequested{Tier: "pooled", Domains: tn.Domains(), RequestedAt: now, Deadline: now, SealedSecret: "c2VhbGVk"}))
			keep(tn.ReportDeployment(tn.Attempt(), domain.StepOutcome{Outcome: domain.OutcomeCompleted, Tries: 1, StartedAt: now, At: now,
				Outputs: map[string]string{"endpoint": "https://app.acme.io"}}))
			continue
		}
		keep(tn.RecordStep(domain.StepOutcome{Step: s, Outcome: domain.OutcomeCompleted, Tries: 1, StartedAt: now, At: now,
			Resources: []domain.Resource{{Step: s, Kind: "k", ID: "id"}}}))
	}
	keep(tn.Activate())
	keep(tn.RequestDeprovisioning("bye"))
	for s, ok := tn.NextUndo(); ok; s, ok = tn.NextUndo() {
		if s == domain.StepDeploy {
			keep(tn.RequestDeploymentUndo(domain.DeploymentUndoRequested{RequestedAt: now, Deadline: now, SealedSecret: "c2VhbGVk"}))
			keep(tn.ReportDeploymentUndo(tn.Attempt(), tn.UndoRound(), domain.StepOutcome{Outcome: domain.OutcomeCompensated, StartedAt: now, At: now}))
			continue
		}
		outcome := domain.OutcomeCompensated
		if s == domain.StepDNS { // left over: an operator forgets it below
			outcome = domain.OutcomeCompensationFailed
		}
		keep(tn.RecordUndo(domain.StepOutcome{Step: s, Outcome: outcome, StartedAt: now, At: now}))
	}
	keep(tn.FinishUndo())
	keep(tn.ForgetOrphan(domain.StepDNS, "k", "id", "removed by hand", now))
	keep(tn.RetryUndos(now)) // the dns undo once more, and it works this time
	keep(tn.RecordUndo(domain.StepOutcome{Step: domain.StepDNS, Outcome: domain.OutcomeCompensated, StartedAt: now, At: now}))
	keep(tn.FinishUndo())
	// Management after creation: update, a domain change followed, configuration.
	active, created, _ := domain.NewTenant("8a2d1f3b-2222-4333-8444-955566667777", "", domain.TenantInput{Key: "2beta", Name: "Beta",
		Contact: domain.Contact{Email: "b@example.com", FirstName: "B", LastName: "C", CommunicationEmail: "b.c@example.com", Type: "billing"},
		Address: domain.Address{Address: "1 Main St", City: "Springfield", State: "IL", Zip: "62701", Country: "US"}, Source: "AWS Marketplace"})
	keep(created, nil)
	keep(active.RequestProvisioning(sub, domain.DefaultTiers))
	for _, s := range domain.Steps[:len(domain.Steps)-1] {
		keep(active.RecordStep(domain.StepOutcome{Step: s, Outcome: domain.OutcomeSkipped, StartedAt: now, At: now}))
	}
	keep(active.Activate())
	keep(active.Update(domain.TenantUpdate{Name: new("Beta Two"), Domains: &[]string{"beta.example.com"},
		Contacts: &[]domain.TenantContact{{Contact: domain.Contact{Email: "b@example.com", FirstName: "B", LastName: "C"}},
			{Contact: domain.Contact{Email: "ops@example.com", FirstName: "O", LastName: "P", CommunicationEmail: "o@example.com", Type: "technical"}, Primary: true}}}, now))
	update, _, _ := active.DomainsReconcileDue()
	keep(active.RecordReconciled(update, []domain.Reconciled{{Step: domain.StepIdentity},
		{Step: domain.StepDNS, Resources: []domain.Resource{{Step: domain.StepDNS, Kind: "dns-cname", ID: "beta.example.com -> lb"}}, PlatformHost: "beta.tenants.test",
			CustomDomains: []domain.CustomDomain{{Domain: "x.example.org", CNAME: "beta.tenants.test", TXTName: "_tenantflow.x.example.org", TXTValue: "tenant=t"}}}}, now))
	// Billed once ACTIVE, then invoiced.
	keep(active.RecordStep(domain.StepOutcome{Step: domain.StepBilling, Outcome: domain.OutcomeCompleted, StartedAt: now, At: now,
		Resources: []domain.Resource{{Kind: domain.ResourceBillingCustomer, ID: "cus_1"}, {Kind: domain.ResourceBillingSubscription, ID: "sub_1"}}}))
	keep(active.RecordInvoice(domain.InvoiceCreated{RequestID: "r-1", ID: "in_1", Description: "December", AmountDue: 950, Currency: "eur",
		Status: "open", URL: "https://pay.example.com/in_1", At: now}))
	// A suspension that fails and rolls back, one that completes, and the reactivation.
	keep(active.RequestChange(domain.ChangeSuspend, "unpaid invoice", "billing", now))
	keep(active.RecordStep(domain.StepOutcome{Step: domain.StepSignInOff, Outcome: domain.OutcomeCompleted, StartedAt: now, At: now}))
	keep(active.RecordStep(domain.StepOutcome{Step: domain.StepAppSuspend, Outcome: domain.OutcomeFailed, Error: "x", StartedAt: now, At: now}))
	keep(active.Fail())
	for s, ok := active.NextUndo(); ok; s, ok = active.NextUndo() {
		keep(active.RecordUndo(domain.StepOutcome{Step: s, Outcome: domain.OutcomeCompensated, StartedAt: now, At: now}))
	}
	keep(active.FinishUndo())
	keep(active.RequestChange(domain.ChangeSuspend, "unpaid invoice", "billing", now))
	for s, ok := active.NextStep(); ok; s, ok = active.NextStep() {
		keep(active.RecordStep(domain.StepOutcome{Step: s, Outcome: domain.OutcomeCompleted, StartedAt: now, At: now}))
	}
	keep(active.RequestChange(domain.ChangeReactivate, "paid", "operator", now))
	for s, ok := active.NextStep(); ok; s, ok = active.NextStep() {
		keep(active.RecordStep(domain.StepOutcome{Step: s, Outcome: domain.OutcomeSkipped, StartedAt: now, At: now}))
	}
	// Expiry's warning (its suspension and offboarding are the events above).
	keep(active.ActOnExpiry(domain.ExpiryAction{Do: domain.ExpiryWarn, Stage: domain.ExpirySuspension, EndDate: now, DueAt: now.Add(time.Hour)}, now))
	// A DELETE kept for its retention period (the tenant is SUSPENDED), then restored.
	keep(active.RequestOffboarding("customer left", time.Hour, now))
	for s, ok := active.NextStep(); ok; s, ok = active.NextStep() {
		keep(active.RecordStep(domain.StepOutcome{Step: s, Outcome: domain.OutcomeSkipped, StartedAt: now, At: now}))
	}
	keep(active.Restore("came back", now))
	for s, ok := active.NextStep(); ok; s, ok = active.NextStep() {
		keep(active.RecordStep(domain.StepOutcome{Step: s, Outcome: domain.OutcomeSkipped, StartedAt: now, At: now}))
	}
	// The application plane told of a change (the app_suspend step's request).
	keep(active.TellAppPlane(domain.AppPlaneRequested{Action: domain.AppPlaneSuspend, Step: domain.StepAppSuspend, Round: 3, Attempt: 1,
		TenantKey: "2beta", Tier: "pooled", Size: "LARGE", SizeConfig: json.RawMessage(`{"maxUsers":100}`), RequestedAt: now, Signature: "ab12"}), nil)
	// A plan change within the tier.
	larger := sub.Plan
	larger.ID, larger.Name, larger.Size, larger.SizeConfig = "plan-larger", "Larger", "LARGE", json.RawMessage(`{"maxUsers":100}`)
	keep(active.RequestPlanChange(larger, domain.DefaultTiers, "", domain.SourceOperator, now))
	for s, ok := active.NextStep(); ok; s, ok = active.NextStep() {
		keep(active.RecordStep(domain.StepOutcome{Step: s, Outcome: domain.OutcomeCompleted, StartedAt: now, At: now}))
	}
	cfg, _ := domain.RehydrateTenantConfig(nil)
	keep(cfg.Set(active.ID(), "feature.flags", json.RawMessage(`{"beta":true}`), true, now))
	keep(cfg.Delete(active.ID(), "feature.flags", now))
	// The plan catalogue: a plan offered, changed, archived.
	plan, planEvents, err := domain.NewCatalogPlan(sub.Plan, domain.DefaultTiers, now)
	keep(planEvents, err)
	keep(plan.Update(domain.PlanUpdate{Price: new(12.5), Archived: new(true)}, domain.DefaultTiers, now))
	// An erasure (tenantctl erase).
	out = append(out, domain.PersonErased{KeyID: "0b6c1a1e-3f7d-4c55-9a0e-5c3d2b1a0f9e", Reason: "GDPR request 4711", At: now})
	// Every outcome type, as handlers write them.
	for _, typ := range domain.EventTypes() {
		rest, _ := strings.CutPrefix(typ, "tenant.")
		step, outcome, _ := strings.Cut(rest, ".")
		if slices.Contains(domain.AllSteps, step) {
			out = append(out, domain.StepOutcome{Step: step, Outcome: outcome, Attempt: 1, Tries: 2, Error: "x", StartedAt: now, At: now})
		}
	}
	return out
}

func TestEveryEmittedEventValidates(t *testing.T) {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	compiled := map[string]*jsonschema.Schema{}
	seen := map[string]bool{}
	for _, e := range emitted(t) {
		typ := e.EventType()
		seen[typ] = true
		file := typ + ".v" + itoa(domain.SchemaVersion(typ)) + ".json"
		sch, ok := compiled[file]
		if !ok {
			abs, _ := filepath.Abs(file)
			var err error
			if sch, err = c.Compile(abs); err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			compiled[file] = sch
		}
		raw, _ := json.Marshal(e)
		inst, err := jsonschema.UnmarshalJSON(strings.NewReader(string(raw)))
		if err != nil {
			t.Fatal(err)
		}
		if err := sch.Validate(inst); err != nil {
			t.Errorf("%s does not validate %s: %v", file, raw, err)
		}
	}
	for _, typ := range domain.EventTypes() {
		if !seen[typ] {
			t.Errorf("no instance of %s was checked", typ)
		}
	}
}

// Every schema file names a type and version the code knows (or an older
// version kept for its upcaster), and the shared step-outcome part.
func TestNoStraySchemas(t *testing.T) {
	files, _ := filepath.Glob("*.json")
	for _, f := range files {
		name := strings.TrimSuffix(f, ".json")
		i := strings.LastIndex(name, ".v")
		typ, version := name[:i], name[i+2:]
		if f == "step-outcome.v1.json" {
			continue
		}
		if !slices.Contains(domain.EventTypes(), typ) || atoi(version) < 1 || atoi(version) > domain.SchemaVersion(typ) {
			t.Errorf("%s: no such event type and version", f)
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
func atoi(s string) int {
	i, _ := strconv.Atoi(s)
	return i
}
