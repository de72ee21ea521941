package app

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/tenantflow/tenantflow/domain"
)

// PlanExistsError refuses a new plan whose id the catalogue has.
type PlanExistsError struct{ ID string }

func (e *PlanExistsError) Error() string {
	return "the catalogue has a plan with id " + e.ID + " already: change it with PATCH /plans/" + e.ID
}

// CreatePlan adds p to the catalogue; without an id it gets a UUID.
func (s *Service) CreatePlan(ctx context.Context, p domain.Plan, tiers domain.Tiers, md Metadata) (*domain.CatalogPlan, error) {
	if p.ID == "" {
		p.ID = uuid.NewString()
	}
	c, events, err := domain.NewCatalogPlan(p, tiers, time.Now())
	if err != nil {
		return nil, err
	}
	var conflict *ConcurrencyError
	if err := s.Plans.Create(ctx, c.Plan().ID, md, events); errors.As(err, &conflict) {
		return nil, &PlanExistsError{ID: c.Plan().ID}
	} else if err != nil {
		return nil, err
	}
	return c, nil
}

// UpdatePlan changes a plan of the catalogue (its terms, or whether it is
// offered).
func (s *Service) UpdatePlan(ctx context.Context, id string, u domain.PlanUpdate, tiers domain.Tiers, md Metadata) (*domain.CatalogPlan, error) {
	return s.Plans.Update(ctx, id, md, func(c *domain.CatalogPlan) ([]domain.Event, error) { return c.Update(u, tiers, time.Now()) })
}

// SubscriptionPlan completes a subscription that names its plan only by
// planId (no plan object) with the catalogue's plan of that id; one with
// its own plan, as the replaced system and ARC send it, is recorded as
// sent. An unknown plan is a validation error of planId; an archived one
// is domain.ErrPlanArchived.
func (s *Service) SubscriptionPlan(ctx context.Context, sub domain.Subscription) (domain.Subscription, error) {
	if sub.Plan.ID != "" || sub.PlanID == "" {
		return sub, nil
	}
	c, err := s.Plans.Get(ctx, sub.PlanID)
	if errors.Is(err, domain.ErrNotFound) {
		return sub, &domain.ValidationError{Fields: map[string]string{"planId": "names no plan of the catalogue (GET /plans); send the plan with the subscription, or add it with POST /plans"}}
	}
	if err != nil {
		return sub, err
	}
	sub.Plan, err = c.Offer()
	return sub, err
}
