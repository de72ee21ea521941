package api

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/tenantflow/tenantflow/domain"
)

// The request bodies of ARC SaaS (the replaced system's base), accepted
// exactly as ARC's own clients send them: every field either used or
// recorded. ARC's bookkeeping fields of a record (recordAudit) are
// accepted and not recorded: they describe ARC's rows, not this request.
// Any other unknown field is still a 400.

// recordAudit are ARC's bookkeeping fields of a record.
type recordAudit struct {
	CreatedOn  json.RawMessage `json:"createdOn"`
	CreatedBy  json.RawMessage `json:"createdBy"`
	ModifiedOn json.RawMessage `json:"modifiedOn"`
	ModifiedBy json.RawMessage `json:"modifiedBy"`
	Deleted    json.RawMessage `json:"deleted"`
	DeletedOn  json.RawMessage `json:"deletedOn"`
	DeletedBy  json.RawMessage `json:"deletedBy"`
}

// createTenantRequest is the body of POST /tenants: ARC's tenant
// onboarding, whose contact says isPrimary.
type createTenantRequest struct {
	domain.TenantInput
	Contact contactRequest `json:"contact"` // shadows TenantInput.Contact
}

type contactRequest struct {
	domain.Contact
	recordAudit
	// IsPrimary is ARC's required flag. The contact a tenant is created
	// with is its primary contact (the admin user, the welcome mail), so
	// true or absent is accepted and false is refused: more contacts come
	// with PATCH /tenants/{id}.
	IsPrimary *bool `json:"isPrimary"`
}

func (r createTenantRequest) input() (domain.TenantInput, error) {
	if r.Contact.IsPrimary != nil && !*r.Contact.IsPrimary {
		return domain.TenantInput{}, &domain.ValidationError{Fields: map[string]string{"contact.isPrimary": "the contact a tenant is created with is " +
			"its primary contact: send true (or leave it out), and add other contacts with PATCH /tenants/{id}"}}
	}
	in := r.TenantInput
	in.Contact = r.Contact.Contact
	return in, nil
}

// leadRequest is the body of POST /leads: ARC's lead. isValidated is ARC's
// flag with its default, false; a lead is validated only through its
// verification link, so true is refused.
type leadRequest struct {
	domain.LeadInput
	IsValidated *bool `json:"isValidated"`
}

func (r leadRequest) input() (domain.LeadInput, error) {
	if r.IsValidated != nil && *r.IsValidated {
		return domain.LeadInput{}, &domain.ValidationError{Fields: map[string]string{"isValidated": "a lead proves its email address " +
			"through the link mailed to it: send false (or leave it out)"}}
	}
	return r.LeadInput, nil
}

// provisionRequest is the body of POST /tenants/{id}/provision: ARC's
// subscription, with its invoiceId and its plan (whose planItems,
// billingCycle and currency records are kept as sent), and dates that
// may be date-only.
type provisionRequest struct {
	domain.Subscription
	recordAudit
	StartDate date        `json:"startDate"` // shadows Subscription.StartDate
	EndDate   date        `json:"endDate"`
	Plan      planRequest `json:"plan"` // shadows Subscription.Plan
}

type planRequest struct {
	domain.Plan
	recordAudit
}

func (r provisionRequest) subscription() domain.Subscription {
	sub := r.Subscription
	sub.StartDate, sub.EndDate, sub.Plan = time.Time(r.StartDate), time.Time(r.EndDate), r.Plan.Plan
	return sub
}

// date is a point in time as ARC's clients send it: RFC 3339, or a date
// alone (2025-01-01), which is that day's start in UTC — as the replaced
// system's own bodies spell a subscription's bounds (a year from
// 2025-01-01T00:00:00Z to 2026-01-01T00:00:00Z).
type date time.Time

func (d *date) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil // as absent: the domain says whether it is required
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("startDate and endDate must be strings such as 2025-01-01 or 2025-01-01T00:00:00Z")
	}
	for _, layout := range []string{time.RFC3339Nano, time.DateOnly} {
		if t, err := time.Parse(layout, s); err == nil {
			*d = date(t)
			return nil
		}
	}
	return fmt.Errorf("%q is not a date such as 2025-01-01 or 2025-01-01T00:00:00Z (startDate, endDate)", s)
}
