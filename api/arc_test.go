package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/internal/testkit/mailtest"
	"github.com/tenantflow/tenantflow/internal/testkit/wait"
	"github.com/tenantflow/tenantflow/platform/auth"
)

// ARC SaaS's request bodies, as its own clients send them (the fields of
// TenantOnboardDTO, CreateLeadDTO and SubscriptionDTO with its IPlan),
// each accepted by tenantflow and either used or recorded.

// arcOnboarding is ARC's tenant onboarding body: the contact with
// isPrimary, the owner's address flat in the body, the source, a key that
// starts with a digit.
func arcOnboarding(key, email string, isPrimary bool) []byte {
	b, _ := json.Marshal(map[string]any{
		"contact": map[string]any{"firstName": "Ada", "lastName": "Lovelace", "email": email,
			"communicationEmail": "billing-" + email, "isPrimary": isPrimary, "type": "billing"},
		"name": "Acme Ltd", "address": "12 Main Street", "city": "Springfield", "state": "IL", "zip": "62701", "country": "US",
		"key": key, "source": "Super Admin Portal", "domains": []string{key + ".acme.example"},
	})
	return b
}

// arcSubscription is ARC's SubscriptionDTO with its plan as ARC's
// subscription service returns it: date-only bounds, invoiceId, ARC's tier
// name, the plan's items, billing cycle and currency, bookkeeping fields.
func arcSubscription(tenantID string) []byte {
	return []byte(`{
  "id": "sub-001", "subscriberId": "` + tenantID + `", "planId": "plan-premium", "invoiceId": "inv-0001",
  "startDate": "2025-01-01", "endDate": "2026-01-01", "status": 1,
  "createdOn": "2024-12-01T10:00:00.000Z", "createdBy": "a1b2", "modifiedOn": "2024-12-01T10:00:00.000Z", "modifiedBy": "a1b2",
  "deleted": false, "deletedOn": null, "deletedBy": null,
  "plan": {
    "id": "plan-premium", "name": "Premium", "description": "Premium plan", "price": 100, "currencyId": "cur-usd",
    "metaData": {"pipelineName": "premium-pipeline"}, "tier": "PREMIUM", "billingCycleId": "bc-monthly",
    "size": "LARGE", "sizeConfig": {"maxUsers": 100},
    "planItems": [{"id": "pi-1", "name": "Users", "planItemType": "users", "value": {"name": "users", "value": 100}, "planId": "plan-premium",
      "deleted": false, "createdOn": "2024-12-01T10:00:00.000Z"}],
    "billingCycle": {"id": "bc-monthly", "cycleName": "MONTHLY", "duration": 1, "durationUnit": "month", "description": "Monthly",
      "deleted": false, "createdOn": "2024-12-01T10:00:00.000Z", "createdBy": "a1b2"},
    "currency": {"id": "cur-usd", "currencyCode": "USD", "currencyName": "US Dollar", "symbol": "$", "country": "USA"},
    "createdOn": "2024-12-01T10:00:00.000Z", "deleted": false
  }
}`)
}

// eventData is the data of the one event of type typ in stream, as stored
// (written back compactly: "k":"v").
func (e *apiEnv) eventData(t *testing.T, stream, typ string) string {
	t.Helper()
	var data []byte
	if err := e.pool.QueryRow(context.Background(), `select data from events where stream_id = $1 and event_type = $2`,
		stream, typ).Scan(&data); err != nil {
		t.Fatalf("%s of %s: %v", typ, stream, err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, data); err != nil {
		t.Fatal(err)
	}
	return compact.String()
}

func TestARCTenantOnboardingBody(t *testing.T) {
	e := newAPI(t, withSealer())
	admin := e.token(t, auth.CreateTenant, auth.ViewTenant, auth.ProvisionTenant)

	for _, tt := range []struct {
		name, field string
		body        []byte
	}{
		{"isPrimary false", "contact.isPrimary", arcOnboarding("2acme", "ada@acme.example", false)},
		{"key over ARC's 10", "key", arcOnboarding("12345678901", "ada@acme.example", true)},
		{"key in upper case", "key", arcOnboarding("ACME", "ada@acme.example", true)},
		{"zip over its limit", "zip", []byte(strings.Replace(string(arcOnboarding("3acme", "ada@acme.example", true)), `"62701"`, `"`+strings.Repeat("9", 21)+`"`, 1))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := e.eventCount(t)
			r := e.do(t, "POST", "/tenants", admin, js, tt.body)
			if errs, _ := r.body["errors"].(map[string]any); r.status != http.StatusBadRequest || errs[tt.field] == nil {
				t.Fatalf("%d %v, want 400 naming %s", r.status, r.body, tt.field)
			}
			if after := e.eventCount(t); after != before {
				t.Errorf("a refused body stored %d events", after-before)
			}
		})
	}

	r := e.do(t, "POST", "/tenants", admin, js, arcOnboarding("1acme", "ada@acme.example", true))
	if r.status != http.StatusCreated {
		t.Fatalf("ARC's onboarding body: %d %v", r.status, r.body)
	}
	id, _ := r.body["id"].(string)
	wantAddress := map[string]any{"address": "12 Main Street", "city": "Springfield", "state": "IL", "zip": "62701", "country": "US"}
	check := func(what string, body map[string]any) {
		t.Helper()
		contact, _ := body["contact"].(map[string]any)
		contacts, _ := body["contacts"].([]any)
		first, _ := contacts[0].(map[string]any)
		address, _ := body["address"].(map[string]any)
		if body["key"] != "1acme" || body["source"] != "Super Admin Portal" || contact["communicationEmail"] != "billing-ada@acme.example" ||
			contact["type"] != "billing" || first["primary"] != true || len(contacts) != 1 {
			t.Errorf("%s: %v", what, body)
		}
		for k, v := range wantAddress {
			if address[k] != v {
				t.Errorf("%s: address.%s = %v, want %v", what, k, address[k], v)
			}
		}
	}
	check("the created tenant", r.body)
	// Once the list shows it, the projections hold the tenant's whole
	// stream, and GET /tenants/{id} answers from them.
	wait.For(t, 10*time.Second, func() error {
		if l := e.do(t, "GET", "/tenants?keyPrefix=1acme", admin, "", nil); !strings.Contains(fmt.Sprint(l.body["tenants"]), id) {
			return fmt.Errorf("the tenant list does not show %s yet: %v", id, l.body)
		}
		return nil
	})
	check("GET /tenants/{id}", e.do(t, "GET", "/tenants/"+id, admin, "", nil).body)

	// The log keeps the person's fields sealed; the country stays readable.
	data := e.eventData(t, "tenant-"+id, domain.TypeTenantCreated)
	for _, plain := range []string{"12 Main Street", "Springfield", "62701", "billing-ada@acme.example", "Lovelace"} {
		if strings.Contains(data, plain) {
			t.Errorf("%q is stored in the clear: %s", plain, data)
		}
	}
	if !strings.Contains(data, `"country":"US"`) || !strings.Contains(data, `"source":"Super Admin Portal"`) {
		t.Errorf("the country or the source is not recorded: %s", data)
	}
}

func TestARCSubscriptionBody(t *testing.T) {
	e := newAPI(t) // the default tier catalogue: ARC's PREMIUM is in it
	admin := e.token(t, auth.CreateTenant, auth.ViewTenant, auth.ProvisionTenant)
	r := e.do(t, "POST", "/tenants", admin, js, arcOnboarding("4acme", "ada@acme.example", true))
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %v", r.status, r.body)
	}
	id, _ := r.body["id"].(string)

	for _, bad := range []struct{ name, from, to string }{
		{"a date ARC would not send", `"startDate": "2025-01-01"`, `"startDate": "01/01/2025"`},
		{"an unknown field", `"invoiceId": "inv-0001",`, `"invoiceId": "inv-0001", "colour": "red",`},
		{"planItems not a list", `"planItems": [`, `"planItems": {"x": 1}, "y": [`},
	} {
		before := e.eventCount(t)
		body := strings.Replace(string(arcSubscription(id)), bad.from, bad.to, 1)
		if r := e.do(t, "POST", "/tenants/"+id+"/provision", admin, js, []byte(body)); r.status != http.StatusBadRequest {
			t.Errorf("%s: %d %v, want 400", bad.name, r.status, r.body)
		}
		if after := e.eventCount(t); after != before {
			t.Errorf("%s: stored %d events", bad.name, after-before)
		}
	}

	if r := e.do(t, "POST", "/tenants/"+id+"/provision", admin, js, arcSubscription(id)); r.status != http.StatusAccepted {
		t.Fatalf("ARC's subscription body: %d %v", r.status, r.body)
	}
	var got domain.ProvisioningRequested
	if err := json.Unmarshal([]byte(e.eventData(t, "tenant-"+id, domain.TypeProvisioningRequested)), &got); err != nil {
		t.Fatal(err)
	}
	s, p := got.Subscription, got.Subscription.Plan
	if !s.StartDate.Equal(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)) || !s.EndDate.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("date-only bounds recorded as %s .. %s, want the days' starts in UTC", s.StartDate, s.EndDate)
	}
	if s.InvoiceID != "inv-0001" || p.Tier != "PREMIUM" || got.Isolation != domain.IsolationSilo || p.Size != "LARGE" {
		t.Errorf("recorded %+v", got)
	}
	var items []map[string]any
	var cycle, currency map[string]any
	if json.Unmarshal(p.PlanItems, &items) != nil || json.Unmarshal(p.BillingCycle, &cycle) != nil || json.Unmarshal(p.Currency, &currency) != nil ||
		len(items) != 1 || items[0]["planItemType"] != "users" || cycle["durationUnit"] != "month" || currency["currencyCode"] != "USD" {
		t.Errorf("the plan's records: items %s, cycle %s, currency %s", p.PlanItems, p.BillingCycle, p.Currency)
	}
}

func TestARCLeadBodies(t *testing.T) {
	e := newAPI(t, withSealer())
	operator := e.token(t, auth.ViewTenant)
	email := "lead-" + uuid.NewString()[:8] + "@cobol.example"
	arcLead := func(email, validated string) []byte {
		return []byte(`{"firstName": "Grace", "lastName": "Hopper", "companyName": "Cobol Inc", "email": "` + email + `",
			"communicationEmail": "office-` + email + `", "isValidated": ` + validated + `,
			"address": {"address": "1 Navy Way", "city": "Arlington", "state": "VA", "zip": "22202", "country": "US"}}`)
	}
	before := e.eventCount(t)
	if r := e.do(t, "POST", "/leads", "", js, arcLead(email, "true")); r.status != http.StatusBadRequest {
		t.Fatalf("a lead that says it is validated: %d %v, want 400", r.status, r.body)
	}
	if r := e.do(t, "POST", "/leads", "", js, []byte(strings.Replace(string(arcLead(email, "false")), `"country"`, `"planet": "Earth", "country"`, 1))); r.status != http.StatusBadRequest {
		t.Fatalf("an address with an unknown field: %d %v, want 400", r.status, r.body)
	}
	if after := e.eventCount(t); after != before {
		t.Fatalf("refused leads stored %d events", after-before)
	}
	// tenantflow's first form, the address as one string, still holds.
	if r := e.do(t, "POST", "/leads", "", js, []byte(`{"firstName":"G","lastName":"H","companyName":"C","email":"x-`+email+`","address":"1 Navy Way"}`)); r.status != http.StatusCreated {
		t.Fatalf("a lead with a string address: %d %v", r.status, r.body)
	}

	r := e.do(t, "POST", "/leads", "", js, arcLead(email, "false"))
	if r.status != http.StatusCreated {
		t.Fatalf("ARC's lead body: %d %v", r.status, r.body)
	}
	leadID, _ := r.body["id"].(string)
	lead := e.eventData(t, "lead-"+leadID, domain.TypeLeadCreated)
	if strings.Contains(lead, "Navy") || strings.Contains(lead, "office-") || !strings.Contains(lead, `"country":"US"`) {
		t.Errorf("the lead's address and communication email are not sealed (or the country is): %s", lead)
	}
	m := mailedToken.FindStringSubmatch(mailtest.WaitFor(t, email, 10*time.Second).Body)
	if m == nil {
		t.Fatal("no token in the verification mail")
	}
	v := e.verify(t, leadID, m[1])
	leadToken, _ := v.body["token"].(string)

	// ARC's body for the lead's own tenant: no contact, no address (the lead's is used).
	created := e.do(t, "POST", "/leads/"+leadID+"/tenants", leadToken, js, []byte(`{"key":"5cobol","source":"Registration Page","domains":["cobol.example.com"]}`))
	if created.status != http.StatusCreated {
		t.Fatalf("the lead's tenant: %d %v", created.status, created.body)
	}
	address, _ := created.body["address"].(map[string]any)
	contact, _ := created.body["contact"].(map[string]any)
	if address["address"] != "1 Navy Way" || address["city"] != "Arlington" || address["country"] != "US" || created.body["source"] != "Registration Page" ||
		contact["communicationEmail"] != "office-"+email {
		t.Errorf("the tenant does not carry the lead's address, communication email and the source: %v", created.body)
	}
	tenantID, _ := created.body["id"].(string)
	if g := e.do(t, "GET", "/tenants/"+tenantID, operator, "", nil); g.status != http.StatusOK {
		t.Errorf("GET the lead's tenant: %d %v", g.status, g.body)
	}
}
