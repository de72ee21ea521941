package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/tenantflow/tenantflow/internal/testkit/mailtest"
	"github.com/tenantflow/tenantflow/platform/auth"
)

const js = "application/json"

func leadBody(email string) []byte {
	b, _ := json.Marshal(map[string]string{"firstName": "Grace", "lastName": "Hopper", "email": email, "companyName": "Cobol Inc"})
	return b
}

var mailedToken = regexp.MustCompile(`token: (\S+)`)

// signUp posts a lead and reads its one-time token from the mail the dev
// stack's SMTP server received.
func (e *apiEnv) signUp(t *testing.T) (leadID, token, email string) {
	t.Helper()
	email = "lead-" + uuid.NewString()[:8] + "@example.com"
	r := e.do(t, "POST", "/leads", "", js, leadBody(email))
	if r.status != http.StatusCreated {
		t.Fatalf("sign-up: %d %v", r.status, r.body)
	}
	leadID, _ = r.body["id"].(string)
	if r.header.Get("Location") != "/leads/"+leadID {
		t.Errorf("Location %q", r.header.Get("Location"))
	}
	mail := mailtest.WaitFor(t, email, 10*time.Second)
	m := mailedToken.FindStringSubmatch(mail.Body)
	if m == nil || !strings.Contains(mail.Body, leadID) {
		t.Fatalf("mail without lead id and token:\n%s", mail.Body)
	}
	return leadID, m[1], email
}

func (e *apiEnv) verify(t *testing.T, leadID, token string) response {
	t.Helper()
	return e.do(t, "POST", "/leads/"+leadID+"/verify", "", js, []byte(`{"token":"`+token+`"}`))
}

// The whole sign-up path: lead → mail → verify → tenant → provision, with
// every refusal on the way.
func TestSignUpPath(t *testing.T) {
	e := newAPI(t)
	operator := e.token(t, auth.CreateTenant, auth.ViewTenant, auth.ProvisionTenant, auth.ViewLead)
	leadID, token, email := e.signUp(t)

	if r := e.do(t, "GET", "/leads/"+leadID, operator, "", nil); r.status != 200 || r.body["verified"] != false {
		t.Fatalf("lead: %d %v", r.status, r.body)
	}
	if r := e.do(t, "POST", "/leads/"+leadID+"/tenants", operator, js, []byte(`{"key":"cobol"}`)); r.status != http.StatusConflict {
		t.Fatalf("tenant for an unverified lead: %d %v, want 409", r.status, r.body)
	}
	if r := e.verify(t, leadID, "not-the-token"); r.status != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d, want 401", r.status)
	}
	if r := e.verify(t, uuid.NewString(), token); r.status != http.StatusNotFound {
		t.Fatalf("unknown lead: %d, want 404", r.status)
	}
	v := e.verify(t, leadID, token)
	if v.status != http.StatusOK {
		t.Fatalf("verify: %d %v", v.status, v.body)
	}
	if r := e.verify(t, leadID, token); r.status != http.StatusUnauthorized {
		t.Fatalf("token used twice: %d, want 401", r.status)
	}
	leadToken, _ := v.body["token"].(string)
	claims, err := e.signer.Verify(leadToken)
	if err != nil || claims.LeadID != leadID || len(claims.Permissions) != 0 || time.Until(claims.ExpiresAt.Time) > 15*time.Minute {
		t.Fatalf("lead token claims %+v, %v", claims, err)
	}

	// The lead token creates this lead's tenant and nothing else.
	if r := e.do(t, "POST", "/tenants", leadToken, js, tenantBody("sneaky")); r.status != http.StatusForbidden {
		t.Fatalf("lead token on POST /tenants: %d, want 403", r.status)
	}
	otherLead, _, _ := e.signUp(t)
	if r := e.do(t, "POST", "/leads/"+otherLead+"/tenants", leadToken, js, []byte(`{"key":"other"}`)); r.status != http.StatusForbidden {
		t.Fatalf("lead token for another lead: %d, want 403", r.status)
	}
	if r := e.do(t, "POST", "/leads/"+leadID+"/tenants", leadToken, js, []byte(`{"key":"Not Valid"}`)); r.status != http.StatusBadRequest {
		t.Fatalf("invalid key: %d, want 400", r.status)
	}
	created := e.do(t, "POST", "/leads/"+leadID+"/tenants", leadToken, js, []byte(`{"key":"cobol","domains":["cobol.example.com"]}`))
	if created.status != http.StatusCreated {
		t.Fatalf("lead's tenant: %d %v", created.status, created.body)
	}
	tenantID, _ := created.body["id"].(string)
	contact, _ := created.body["contact"].(map[string]any)
	if created.body["status"] != "PENDING_PROVISION" || created.body["name"] != "Cobol Inc" || contact["email"] != email {
		t.Fatalf("tenant does not carry the lead's contact and company: %v", created.body)
	}
	again := e.do(t, "POST", "/leads/"+leadID+"/tenants", operator, js, []byte(`{"key":"cobol2"}`))
	if again.status != http.StatusConflict || again.body["tenantId"] != tenantID {
		t.Fatalf("second tenant for the lead: %d %v, want 409 naming %s", again.status, again.body, tenantID)
	}
	if r := e.do(t, "GET", "/leads/"+leadID, operator, "", nil); r.body["tenantId"] != tenantID || r.body["verified"] != true {
		t.Fatalf("lead after: %v", r.body)
	}
	if r := e.do(t, "POST", "/tenants/"+tenantID+"/provision", operator, js, subscriptionBody()); r.status != http.StatusAccepted {
		t.Fatalf("provision: %d %v", r.status, r.body)
	}
	if r := e.do(t, "GET", "/tenants/"+tenantID, operator, "", nil); r.body["status"] != "PROVISIONING" {
		t.Fatalf("after provision: %v", r.body)
	}

	// The token was in the mail and nowhere else: not in a response, an event or a log line.
	var inEvents int
	if err := e.pool.QueryRow(context.Background(),
		`select count(*) from events where data::text like '%' || $1 || '%' or metadata::text like '%' || $1 || '%'`, token).Scan(&inEvents); err != nil {
		t.Fatal(err)
	}
	if inEvents != 0 || strings.Contains(e.logs.String(), token) {
		t.Fatalf("the verification token leaked: %d events, logs contain it: %v", inEvents, strings.Contains(e.logs.String(), token))
	}
}

// Two concurrent requests for one lead's tenant: exactly one 201; the others
// 409 naming the tenant that won (or naming its key, if they raced on it).
func TestConcurrentLeadTenants(t *testing.T) {
	e := newAPI(t)
	leadID, token, _ := e.signUp(t)
	leadToken, _ := e.verify(t, leadID, token).body["token"].(string)
	results := make([]response, 8)
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := []byte(`{"key":"race` + string(rune('a'+i)) + `"}`)
			results[i] = e.do(t, "POST", "/leads/"+leadID+"/tenants", leadToken, js, body)
		}()
	}
	wg.Wait()
	winner := ""
	for _, r := range results {
		if r.status == http.StatusCreated {
			if winner != "" {
				t.Fatal("two tenants created for one lead")
			}
			winner, _ = r.body["id"].(string)
		}
	}
	if winner == "" {
		t.Fatalf("no tenant created: %v", results)
	}
	for _, r := range results {
		if r.status != http.StatusCreated && (r.status != http.StatusConflict || r.body["tenantId"] != winner) {
			t.Errorf("loser got %d %v, want 409 naming %s", r.status, r.body, winner)
		}
	}
	var tenants int
	_ = e.pool.QueryRow(context.Background(), `select count(distinct stream_id) from events where stream_id like 'tenant-%'`).Scan(&tenants)
	if tenants != 1 {
		t.Fatalf("%d tenant streams written, want 1", tenants)
	}
}

func TestSignUpRefusals(t *testing.T) {
	e := newAPI(t)
	before := e.eventCount(t)
	email := "invalid-" + uuid.NewString()[:8] + "@example.com"
	r := e.do(t, "POST", "/leads", "", js, []byte(`{"firstName":"","lastName":"x","email":"`+email+`x@","companyName":"c"}`))
	errs, _ := r.body["errors"].(map[string]any)
	if r.status != http.StatusBadRequest || errs["firstName"] == nil || errs["email"] == nil {
		t.Fatalf("invalid sign-up: %d %v", r.status, r.body)
	}
	if r := e.do(t, "POST", "/leads", "", js, []byte(`{"firstName":"a","lastName":"b","email":"a@example.com","companyName":"c","extra":1}`)); r.status != http.StatusBadRequest {
		t.Fatalf("unknown field: %d", r.status)
	}
	if r := e.do(t, "POST", "/leads/"+uuid.NewString()+"/verify", "", js, []byte(`{}`)); r.status != http.StatusBadRequest {
		t.Fatalf("verify without token: %d", r.status)
	}
	if n := e.eventCount(t); n != before {
		t.Fatalf("refused requests wrote %d events", n-before)
	}
}

type failingMailer struct{}

func (failingMailer) Send(context.Context, string, string, string) error {
	return errors.New("connection refused") // test double: the real server's failure is tested in adapters/smtp
}

func TestSignUpWhenMailFailsStoresNothing(t *testing.T) {
	e := newAPI(t, withMailer(failingMailer{}))
	r := e.do(t, "POST", "/leads", "", js, leadBody("nomail@example.com"))
	if r.status != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", r.status)
	}
	if n := e.eventCount(t); n != 0 {
		t.Fatalf("%d events stored for a lead whose mail was not sent", n)
	}
}

func TestSignUpIsRateLimitedPerAddress(t *testing.T) {
	e := newAPI(t, withLeadRate(3))
	for i := range 3 {
		if r := e.do(t, "POST", "/leads", "", js, []byte(`{}`)); r.status != http.StatusBadRequest {
			t.Fatalf("request %d: %d, want 400 (within the limit)", i+1, r.status)
		}
	}
	r := e.do(t, "POST", "/leads", "", js, leadBody("limited@example.com"))
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Fatalf("4th sign-up in a minute: %d (Retry-After %q), want 429", r.status, r.header.Get("Retry-After"))
	}
	if mailtest.Count(t, "limited@example.com") != 0 {
		t.Fatal("a limited sign-up sent mail")
	}
}

// The verification mails are bounded per recipient address and per
// recipient domain besides the per-client limit, and for everyone: a
// client cannot mail a victim, or a victim's company, over and over. A
// refused sign-up sends no mail and stores nothing.
func TestSignUpIsLimitedPerRecipientAndDomain(t *testing.T) {
	e := newAPI(t, func(d *Deps) { d.SignUpLimits = SignUpLimits{PerRecipient: 2, PerDomain: 3, Global: 100} })
	domainName := "victim-" + uuid.NewString()[:8] + ".example.com"
	victim := "ceo@" + domainName
	for i := range 2 {
		if r := e.do(t, "POST", "/leads", "", js, leadBody(victim)); r.status != http.StatusCreated {
			t.Fatalf("sign-up %d for one address: %d", i+1, r.status)
		}
	}
	if r := e.do(t, "POST", "/leads", "", js, leadBody(strings.ToUpper(victim))); r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Fatalf("3rd sign-up for one address (other case): %d", r.status)
	}
	if r := e.do(t, "POST", "/leads", "", js, leadBody("cfo@"+domainName)); r.status != http.StatusCreated {
		t.Fatalf("another address of the domain: %d", r.status)
	}
	if r := e.do(t, "POST", "/leads", "", js, leadBody("cto@"+domainName)); r.status != http.StatusTooManyRequests {
		t.Fatalf("4th sign-up for one domain: %d", r.status)
	}
	if n := mailtest.Count(t, "cto@"+domainName); n != 0 {
		t.Fatalf("a refused sign-up sent %d mails", n)
	}
	if n := mailtest.Count(t, victim); n != 2 {
		t.Fatalf("%d mails to the address, want 2", n)
	}
}

// X-Forwarded-For names the client only when the peer is a trusted proxy,
// and then the nearest address that is not one.
func TestClientAddress(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32")}
	for _, c := range []struct{ peer, xff, want string }{
		{"203.0.113.5:1234", "198.51.100.1", "203.0.113.5"},                   // not a proxy: the header is anyone's
		{"10.1.2.3:1234", "198.51.100.1", "198.51.100.1"},                     // our proxy
		{"10.1.2.3:1234", "1.2.3.4, 198.51.100.1, 192.0.2.7", "198.51.100.1"}, // through two proxies; the left is the client's own claim
		{"10.1.2.3:1234", "", "10.1.2.3"},
		{"10.1.2.3:1234", "not-an-ip", "10.1.2.3"},
	} {
		r := httptest.NewRequest(http.MethodPost, "/leads", nil)
		r.RemoteAddr = c.peer
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		if got := clientAddr(r, trusted); got != c.want {
			t.Errorf("peer %s, X-Forwarded-For %q: %s, want %s", c.peer, c.xff, got, c.want)
		}
	}
}
