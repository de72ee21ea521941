package domain

import (
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"time"
)

// The plan catalogue (ARC's subscription service's plans, permissions
// 7005–7008): each plan is an aggregate of its own, in stream plan-<id>.
// A plan is archived, never deleted: subscriptions name it for good.
const (
	TypePlanCreated  = "plan.created"
	TypePlanUpdated  = "plan.updated"
	TypePlanArchived = "plan.archived"
)

// PlanCreated records a plan of the catalogue as it was offered first.
type PlanCreated struct {
	Plan Plan      `json:"plan"`
	At   time.Time `json:"at"`
}

// PlanUpdated records a plan's new terms: the whole plan after the change
// (a catalogue entry is small, and a reader needs no earlier event).
type PlanUpdated struct {
	Plan Plan      `json:"plan"`
	At   time.Time `json:"at"`
}

// PlanArchived records that a plan is offered no more (Archived false: it
// is offered again). Tenants subscribed to it keep it.
type PlanArchived struct {
	Archived bool      `json:"archived"`
	At       time.Time `json:"at"`
}

func (PlanCreated) EventType() string  { return TypePlanCreated }
func (PlanUpdated) EventType() string  { return TypePlanUpdated }
func (PlanArchived) EventType() string { return TypePlanArchived }

// ErrPlanArchived refuses a new subscription to an archived plan.
var ErrPlanArchived = errors.New("the plan is archived: it is offered no more")

// ErrPlanTierChange refuses to move a plan of the catalogue to another
// tier: tenants on it were provisioned for its tier.
var ErrPlanTierChange = errors.New("a plan's tier cannot change (its tenants were provisioned for it): offer a new plan instead")

var planIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)

// CatalogPlan is a plan of the catalogue, folded from its stream.
type CatalogPlan struct {
	plan      Plan
	archived  bool
	createdAt time.Time
	updatedAt time.Time
	version   int64
}

// NewCatalogPlan validates p (its id included: 1–100 letters, digits,
// '.', '_', '-', starting with a letter or digit) as a plan of one of
// tiers and returns it with its first event.
func NewCatalogPlan(p Plan, tiers Tiers, now time.Time) (*CatalogPlan, []Event, error) {
	pr := problems{}
	if !planIDPattern.MatchString(p.ID) {
		pr.add("id", "must be 1 to 100 letters, digits, '.', '_' or '-', starting with a letter or digit")
	}
	p = checkPlan(pr, "", p, tiers)
	if err := pr.err(); err != nil {
		return nil, nil, err
	}
	e := PlanCreated{Plan: p, At: now.UTC()}
	c := &CatalogPlan{}
	c.apply(e)
	return c, []Event{e}, nil
}

// RehydrateCatalogPlan folds a plan's history; ErrNotFound when there is none.
func RehydrateCatalogPlan(history []Event) (*CatalogPlan, error) {
	if len(history) == 0 {
		return nil, ErrNotFound
	}
	c := &CatalogPlan{}
	for _, e := range history {
		c.apply(e)
	}
	return c, nil
}

func (c *CatalogPlan) apply(e Event) {
	switch e := deref(e).(type) {
	case PlanCreated:
		c.plan, c.createdAt, c.updatedAt = e.Plan, e.At, e.At
	case PlanUpdated:
		c.plan, c.updatedAt = e.Plan, e.At
	case PlanArchived:
		c.archived, c.updatedAt = e.Archived, e.At
	}
	c.version++
}

// PlanUpdate is a PATCH of a plan: nil fields stay as they are. The id and
// the tier do not change.
type PlanUpdate struct {
	Name           *string          `json:"name,omitempty"`
	Description    *string          `json:"description,omitempty"`
	Price          *float64         `json:"price,omitempty"`
	CurrencyID     *string          `json:"currencyId,omitempty"`
	Tier           *string          `json:"tier,omitempty"`
	Size           *string          `json:"size,omitempty"`
	SizeConfig     *json.RawMessage `json:"sizeConfig,omitempty"`
	BillingCycleID *string          `json:"billingCycleId,omitempty"`
	MetaData       *json.RawMessage `json:"metaData,omitempty"`
	PlanItems      *json.RawMessage `json:"planItems,omitempty"`
	BillingCycle   *json.RawMessage `json:"billingCycle,omitempty"`
	Currency       *json.RawMessage `json:"currency,omitempty"`
	// Archived true takes the plan off the catalogue; false offers it again.
	Archived *bool `json:"archived,omitempty"`
}

// Update applies u: the changed terms (plan.updated, validated like a new
// plan) and the archive flag (plan.archived), each only when it changes.
// An archived plan's terms stay as they are until it is offered again.
func (c *CatalogPlan) Update(u PlanUpdate, tiers Tiers, now time.Time) ([]Event, error) {
	if u.Tier != nil && *u.Tier != c.plan.Tier {
		return nil, ErrPlanTierChange
	}
	p := c.plan
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	setJSON := func(dst *json.RawMessage, v *json.RawMessage) {
		if v != nil {
			*dst = *v
		}
	}
	set(&p.Name, u.Name)
	set(&p.Description, u.Description)
	set(&p.CurrencyID, u.CurrencyID)
	set(&p.Size, u.Size)
	set(&p.BillingCycleID, u.BillingCycleID)
	if u.Price != nil {
		p.Price = *u.Price
	}
	setJSON(&p.SizeConfig, u.SizeConfig)
	setJSON(&p.MetaData, u.MetaData)
	setJSON(&p.PlanItems, u.PlanItems)
	setJSON(&p.BillingCycle, u.BillingCycle)
	setJSON(&p.Currency, u.Currency)
	pr := problems{}
	p = checkPlan(pr, "", p, tiers)
	if err := pr.err(); err != nil {
		return nil, err
	}
	archived := c.archived
	if u.Archived != nil {
		archived = *u.Archived
	}
	termsChanged := !samePlan(p, c.plan)
	if termsChanged && c.archived && archived {
		return nil, ErrPlanArchived
	}
	var events []Event
	if archived != c.archived && !archived { // offered again, then changed
		events = append(events, PlanArchived{Archived: false, At: now.UTC()})
	}
	if termsChanged {
		events = append(events, PlanUpdated{Plan: p, At: now.UTC()})
	}
	if archived != c.archived && archived { // changed, then taken off
		events = append(events, PlanArchived{Archived: true, At: now.UTC()})
	}
	for _, e := range events {
		c.apply(e)
	}
	return events, nil
}

// samePlan compares two plans, their JSON members by their compact form.
func samePlan(a, b Plan) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// Offer is the plan for a new subscription: ErrPlanArchived when it is
// offered no more.
func (c *CatalogPlan) Offer() (Plan, error) {
	if c.archived {
		return Plan{}, ErrPlanArchived
	}
	return c.plan, nil
}

func (c *CatalogPlan) Plan() Plan           { return c.plan }
func (c *CatalogPlan) Archived() bool       { return c.archived }
func (c *CatalogPlan) CreatedAt() time.Time { return c.createdAt }
func (c *CatalogPlan) UpdatedAt() time.Time { return c.updatedAt }
func (c *CatalogPlan) Version() int64       { return c.version }

// checkPlan validates a plan's fields, each reported under prefix+its JSON
// name ("plan." inside a subscription), and returns it with its free-form
// JSON normalised (null is absent) and its text trimmed.
func checkPlan(p problems, prefix string, pl Plan, tiers Tiers) Plan {
	pl.ID = checkText(p, prefix+"id", pl.ID, maxName, false)
	pl.Name = checkText(p, prefix+"name", pl.Name, maxName, false)
	if pl.Price < 0 {
		p.add(prefix+"price", "must not be negative")
	}
	if _, ok := tiers[pl.Tier]; !ok {
		p.add(prefix+"tier", "must be one of the configured tiers: %s", strings.Join(tiers.Names(), ", "))
	}
	pl.Description = checkParagraph(p, prefix+"description", pl.Description, maxDescription)
	pl.CurrencyID = checkText(p, prefix+"currencyId", pl.CurrencyID, maxName, true)
	pl.BillingCycleID = checkText(p, prefix+"billingCycleId", pl.BillingCycleID, maxName, true)
	pl.Size = checkText(p, prefix+"size", pl.Size, maxName, true)
	checkObject(p, prefix+"metaData", pl.MetaData, maxPlanJSON)
	checkObject(p, prefix+"sizeConfig", pl.SizeConfig, maxPlanJSON)
	checkArray(p, prefix+"planItems", pl.PlanItems, maxPlanJSON)
	checkObject(p, prefix+"billingCycle", pl.BillingCycle, maxPlanJSON)
	checkObject(p, prefix+"currency", pl.Currency, maxPlanJSON)
	if _, ok := p[prefix+"metaData"]; !ok {
		checkPipelineName(p, prefix, pl.MetaData)
	}
	for _, raw := range []*json.RawMessage{&pl.MetaData, &pl.SizeConfig, &pl.PlanItems, &pl.BillingCycle, &pl.Currency} {
		*raw = nullToNil(*raw)
	}
	return pl
}
