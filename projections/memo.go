package projections

import "slices"

// rememberedDetail is a tenant's detail as Detail read it last, kept in
// Engine.details by tenant id. The projectors write a tenant's rows only
// when they apply an event of its stream, so while the projections'
// generations and applied versions of the stream (d.Revision) are the same
// the rows are too: a GET /tenants/{id} of a tenant that did not change
// reads the versions, the log's head and the personal-data keys (a few
// index lookups) instead of the rows, their steps and resources, and
// decodes nothing. The keys are read every time, so an erasure holds at the
// next read as before.
//
// Decision (issue 33): GET /tenants/{id} must reach 5,000 requests/s; the
// one statement reading everything cost PostgreSQL 0.3–0.4 ms a request
// and tenantd a quarter of its CPU decoding it.
type rememberedDetail struct {
	keyIDs []string // the keys its personal fields are sealed with (those that existed)
	d      TenantDetail
}

// keySlots is how many personal-data keys a remembered detail may be sealed
// with (a tenant's contacts are usually one person). The statement that
// reads them names each key in a parameter of its own, unused ones NULL:
// with an array parameter PostgreSQL planned the statement again at every
// execution (a custom plan looked cheaper for the array's actual length),
// which was half of its CPU a GET. A detail with more keys is not
// remembered.
const keySlots = 4

// clone is d with nothing shared with the remembered one: callers open
// personal fields in place (pii.Vault.OpenFieldsWith), and an opened value
// must never reach memory.
func (d TenantDetail) clone() TenantDetail {
	d.Contacts = slices.Clone(d.Contacts)
	if d.Address != nil {
		a := *d.Address
		d.Address = &a
	}
	if d.Plan != nil {
		p := *d.Plan
		d.Plan = &p
	}
	d.Domains = slices.Clone(d.Domains)
	d.Steps = slices.Clone(d.Steps)
	d.Resources = slices.Clone(d.Resources)
	d.Orphans = slices.Clone(d.Orphans)
	d.CustomDomains = slices.Clone(d.CustomDomains)
	d.Keys = nil
	return d
}
