package domain

import (
	"encoding/json"
	"errors"
	"testing"
)

func catalogPlan(t *testing.T) *CatalogPlan {
	t.Helper()
	c, evs, err := NewCatalogPlan(Plan{ID: "plan-premium", Name: " Premium ", Price: 100, CurrencyID: "USD", Tier: TierPremium,
		BillingCycleID: "monthly", Size: "LARGE", SizeConfig: json.RawMessage(`{"maxUsers":100}`)}, DefaultTiers, now)
	if err != nil || len(evs) != 1 {
		t.Fatalf("new plan: %v %v", evs, err)
	}
	return c
}

func TestNewCatalogPlan(t *testing.T) {
	c := catalogPlan(t)
	if c.Plan().Name != "Premium" || c.Archived() || c.Version() != 1 {
		t.Errorf("plan %+v archived %v version %d", c.Plan(), c.Archived(), c.Version())
	}
	for name, p := range map[string]Plan{
		"no id":          {Name: "P", Tier: "silo"},
		"id with spaces": {ID: "plan one", Name: "P", Tier: "silo"},
		"unknown tier":   {ID: "p", Name: "P", Tier: "platinum"},
		"negative price": {ID: "p", Name: "P", Tier: "silo", Price: -1},
		"items not list": {ID: "p", Name: "P", Tier: "silo", PlanItems: json.RawMessage(`{}`)},
	} {
		var ve *ValidationError
		if _, evs, err := NewCatalogPlan(p, DefaultTiers, now); !errors.As(err, &ve) || evs != nil {
			t.Errorf("%s: %v %v, want a validation error and no event", name, evs, err)
		}
	}
}

// A plan's terms change, its tier does not; archived, it is offered no more
// and its terms stay until it is offered again; an update that changes
// nothing records nothing.
func TestCatalogPlanUpdates(t *testing.T) {
	c := catalogPlan(t)
	if evs, err := c.Update(PlanUpdate{Tier: new(TierBasic)}, DefaultTiers, now); !errors.Is(err, ErrPlanTierChange) || evs != nil {
		t.Fatalf("tier change: %v %v", evs, err)
	}
	if evs, err := c.Update(PlanUpdate{Price: new(100.0), Tier: new(TierPremium)}, DefaultTiers, now); err != nil || len(evs) != 0 {
		t.Fatalf("an update that changes nothing: %v %v", evs, err)
	}
	evs, err := c.Update(PlanUpdate{Price: new(120.0), Archived: new(true)}, DefaultTiers, now)
	if err != nil || len(evs) != 2 || evs[0].EventType() != TypePlanUpdated || evs[1].EventType() != TypePlanArchived {
		t.Fatalf("change and archive: %v %v", evs, err)
	}
	if _, err := c.Offer(); !errors.Is(err, ErrPlanArchived) {
		t.Errorf("an archived plan was offered: %v", err)
	}
	if evs, err := c.Update(PlanUpdate{Price: new(130.0)}, DefaultTiers, now); !errors.Is(err, ErrPlanArchived) || evs != nil {
		t.Errorf("terms of an archived plan changed: %v %v", evs, err)
	}
	evs, err = c.Update(PlanUpdate{Archived: new(false), Price: new(130.0)}, DefaultTiers, now)
	if err != nil || len(evs) != 2 || evs[0].EventType() != TypePlanArchived || evs[1].EventType() != TypePlanUpdated {
		t.Fatalf("offered again and changed: %v %v", evs, err)
	}
	if p, err := c.Offer(); err != nil || p.Price != 130 || p.Tier != TierPremium {
		t.Errorf("offer %+v %v", p, err)
	}
	var all []Event
	all = append(all, PlanCreated{Plan: catalogPlan(t).Plan(), At: now})
	all = append(all, evs...)
	if r, err := RehydrateCatalogPlan(all); err != nil || r.Version() != 3 || r.Plan().Price != 130 || r.Archived() {
		t.Errorf("rehydrated %+v %v", r, err)
	}
}
