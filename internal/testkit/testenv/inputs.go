package testenv

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/tenantflow/tenantflow/domain"
)

// DevTiers is the dev stack's plan tier catalogue (devstack.sh env sets
// TENANTFLOW_TIERS to the same).
var DevTiers = domain.Tiers{
	"silo": {Isolation: "silo", Identity: "realm"}, "bridge": {Isolation: "bridge", Identity: "realm"}, "pooled": {Isolation: "pooled", Identity: "realm"},
	"enterprise": {Isolation: "silo", Identity: "realm"},
	"standard":   {Isolation: "bridge", Identity: "organization"},
	"basic":      {Isolation: "pooled", Identity: "organization"},
	// ARC's own tier names, mapped as their lower-case namesakes.
	"PREMIUM":  {Isolation: "silo", Identity: "realm"},
	"STANDARD": {Isolation: "bridge", Identity: "organization"},
	"BASIC":    {Isolation: "pooled", Identity: "organization"},
}

// ReplacedSystemRequest is the provisioning request of the system tenantflow
// replaces, verbatim from its own test script
// (docs/real-inputs.md), with subscriberId the tenant — and one value
// moved: its endDate, 2026-01-01, has passed, and a tenant whose
// subscription ended that long ago is suspended by expiry moments after
// it is ACTIVE (docs/choreography.md#expiry). The shape is what is
// verbatim; the end is ten years on.
func ReplacedSystemRequest(tenantID, key string) string {
	return strings.NewReplacer("<id>", tenantID, "<key>", key).Replace(`{
    "id": "sub-<key>-001",
    "subscriberId": "<id>",
    "planId": "plan-enterprise",
    "startDate": "2025-01-01T00:00:00Z",
    "endDate": "2036-01-01T00:00:00Z",
    "status": 1,
    "plan": {
      "id": "plan-enterprise",
      "name": "Enterprise Plan",
      "description": "Enterprise tier",
      "price": 999.00,
      "currencyId": "usd",
      "tier": "enterprise",
      "billingCycleId": "annual",
      "metaData": {
        "pipelineName": "enterprise-pipeline"
      }
    }
  }`)
}

// UniqueKey is a tenant key (at most 10 characters) starting with prefix and
// unique across test runs: realms, schemas and buckets outlive a test's
// database, so two runs must never pick the same key.
func UniqueKey(prefix string) string {
	return prefix + strings.ReplaceAll(uuid.NewString(), "-", "")[:10-len(prefix)]
}

// NewTenant is a new tenant (not yet stored) with key and a fresh id, for
// tests of one step's back end (UniqueKey makes a key).
func NewTenant(t testing.TB, key string) *domain.Tenant {
	t.Helper()
	tn, _, err := domain.NewTenant(uuid.NewString(), "", domain.TenantInput{Key: key, Name: "S",
		Contact: domain.Contact{Email: "s@example.com", FirstName: "S", LastName: "S"}})
	if err != nil {
		t.Fatal(err)
	}
	return tn
}

// NewTenantOnTier is NewTenant with its own admin address (<key>@example.com)
// and provisioning requested on the dev stack's plan tier tier, so the
// steps see its isolation and identity models.
func NewTenantOnTier(t testing.TB, key, tier string) *domain.Tenant {
	t.Helper()
	return NewTenantWithAdmin(t, key, tier, key+"@example.com")
}

// NewTenantWithAdmin is NewTenantOnTier with the admin's address email.
func NewTenantWithAdmin(t testing.TB, key, tier, email string) *domain.Tenant {
	t.Helper()
	tn, _, err := domain.NewTenant(uuid.NewString(), "", domain.TenantInput{Key: key, Name: "S " + key,
		Contact: domain.Contact{Email: email, FirstName: "S", LastName: "S"}})
	if err != nil {
		t.Fatal(err)
	}
	sub := domain.Subscription{ID: "sub", SubscriberID: "cust", PlanID: tier, StartDate: time.Now(),
		Plan: domain.Plan{ID: tier, Name: tier, Tier: tier, CurrencyID: "EUR", BillingCycleID: "monthly"}}
	if _, err := tn.RequestProvisioning(sub, DevTiers); err != nil {
		t.Fatal(err)
	}
	return tn
}

// Activate records on tn, as the handlers would, every step of its attempt
// — skipped, unless done holds the step's outcome — then its activation,
// then billing (skipped unless done holds it), and returns the events.
func Activate(t testing.TB, tn *domain.Tenant, done map[string]domain.StepOutcome) []domain.Event {
	t.Helper()
	var all []domain.Event
	keep := func(evs []domain.Event, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, evs...)
	}
	outcome := func(step string) domain.StepOutcome {
		if o, ok := done[step]; ok {
			o.Step = step
			return o
		}
		return domain.StepOutcome{Step: step, Outcome: domain.OutcomeSkipped}
	}
	for _, s := range domain.Steps[:len(domain.Steps)-1] {
		keep(tn.RecordStep(outcome(s)))
	}
	keep(tn.Activate())
	keep(tn.RecordStep(outcome(domain.StepBilling)))
	return all
}
