package api

import (
	"context"
	"net/http"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/tenantflow/tenantflow/internal/testkit/mailtest"
	"github.com/tenantflow/tenantflow/platform/auth"
)

func (e *apiEnv) doWithKey(t *testing.T, path, token, key string, body []byte) response {
	t.Helper()
	return e.doHeader(t, "POST", path, token, js, body, map[string]string{"Idempotency-Key": key})
}

func TestIdempotencyKey(t *testing.T) {
	e := newAPI(t)
	admin := e.token(t, auth.CreateTenant, auth.ProvisionTenant)
	key := uuid.NewString()

	first := e.doWithKey(t, "/tenants", admin, key, tenantBody("idem"))
	if first.status != http.StatusCreated {
		t.Fatalf("first: %d %v", first.status, first.body)
	}
	events := e.eventCount(t)
	again := e.doWithKey(t, "/tenants", admin, key, tenantBody("idem"))
	if again.status != http.StatusCreated || again.body["id"] != first.body["id"] ||
		again.header.Get("Location") != first.header.Get("Location") || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry: %d %v %v, want the first response replayed", again.status, again.body, again.header)
	}
	if n := e.eventCount(t); n != events {
		t.Fatalf("the retry wrote %d events", n-events)
	}
	if r := e.doWithKey(t, "/tenants", admin, key, tenantBody("other")); r.status != http.StatusUnprocessableEntity {
		t.Fatalf("same key, other body: %d, want 422", r.status)
	}
	// Keys belong to their caller: another subject's same key is a new request.
	other, _ := e.signer.Mint("someone-else", []string{auth.CreateTenant}, "", time.Hour, time.Now())
	if r := e.doWithKey(t, "/tenants", other, key, tenantBody("idem")); r.status != http.StatusConflict || r.body["tenantId"] != first.body["id"] {
		t.Fatalf("other caller, same key: %d %v, want a fresh request (409 key taken)", r.status, r.body)
	}
	// A client error is recorded too: the retry gets the same 409.
	id, _ := first.body["id"].(string)
	k2 := uuid.NewString()
	if r := e.doWithKey(t, "/tenants/"+id+"/provision", admin, k2, subscriptionBody()); r.status != http.StatusAccepted {
		t.Fatalf("provision: %d", r.status)
	}
	if r := e.doWithKey(t, "/tenants/"+id+"/provision", admin, k2, subscriptionBody()); r.status != http.StatusAccepted || r.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("provision retry: %d, want the recorded 202", r.status)
	}
}

// Concurrent retries of one request run it once.
func TestIdempotencyKeyUnderConcurrency(t *testing.T) {
	e := newAPI(t)
	admin := e.token(t, auth.CreateTenant)
	key := uuid.NewString()
	codes := make([]int, 8)
	var wg sync.WaitGroup
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = e.doWithKey(t, "/tenants", admin, key, tenantBody("conc")).status
		}()
	}
	wg.Wait()
	for _, c := range codes {
		if c != http.StatusCreated && c != http.StatusConflict {
			t.Errorf("status %d, want 201 (first or replay) or 409 (in progress)", c)
		}
	}
	var streams int
	_ = e.pool.QueryRow(context.Background(), `select count(distinct stream_id) from events where stream_id like 'tenant-%'`).Scan(&streams)
	if streams != 1 {
		t.Fatalf("%d tenants created", streams)
	}
}

// A replayed sign-up sends no second mail.
func TestIdempotentSignUpSendsOneMail(t *testing.T) {
	e := newAPI(t)
	email := "idem-" + uuid.NewString()[:8] + "@example.com"
	key := uuid.NewString()
	first := e.doWithKey(t, "/leads", "", key, leadBody(email))
	second := e.doWithKey(t, "/leads", "", key, leadBody(email))
	if first.status != http.StatusCreated || second.body["id"] != first.body["id"] {
		t.Fatalf("%d %v / %d %v", first.status, first.body, second.status, second.body)
	}
	mailtest.WaitFor(t, email, 10*time.Second)
	if n := mailtest.Count(t, email); n != 1 {
		t.Fatalf("%d mails sent", n)
	}
}

// The public routes' keys belong to the client's address, and an answer
// that hands out a bearer token is never recorded: another client sending
// the same key and body runs its own request (here: a second sign-up, not
// the first one's answer), and nobody — the lead itself included — can
// replay POST /leads/{id}/verify to obtain its token again.
func TestPublicIdempotencyIsPerClientAndStoresNoToken(t *testing.T) {
	proxy := netip.MustParsePrefix("127.0.0.1/32")
	e := newAPI(t, func(d *Deps) { d.TrustedProxies = []netip.Prefix{proxy} })
	from := func(addr string) map[string]string {
		return map[string]string{"Idempotency-Key": "shared-key", "X-Forwarded-For": addr}
	}
	email := "idem-" + uuid.NewString()[:8] + "@example.com"
	a := e.doHeader(t, "POST", "/leads", "", js, leadBody(email), from("203.0.113.7"))
	b := e.doHeader(t, "POST", "/leads", "", js, leadBody(email), from("198.51.100.9"))
	if a.status != http.StatusCreated || b.status != http.StatusCreated || a.body["id"] == b.body["id"] || b.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("two clients, one key: %d %v / %d %v (replayed %q), want two sign-ups", a.status, a.body, b.status, b.body, b.header.Get("Idempotent-Replayed"))
	}
	if again := e.doHeader(t, "POST", "/leads", "", js, leadBody(email), from("203.0.113.7")); again.body["id"] != a.body["id"] || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("the same client's retry: %v (replayed %q), want its first answer", again.body, again.header.Get("Idempotent-Replayed"))
	}

	leadID, token, _ := e.signUp(t)
	verify := func() response {
		return e.doHeader(t, "POST", "/leads/"+leadID+"/verify", "", js, []byte(`{"token":"`+token+`"}`),
			map[string]string{"Idempotency-Key": "verify-key", "X-Forwarded-For": "203.0.113.7"})
	}
	first := verify()
	bearer, _ := first.body["token"].(string)
	if first.status != http.StatusOK || bearer == "" {
		t.Fatalf("verify: %d %v", first.status, first.body)
	}
	if again := verify(); again.status == http.StatusOK || again.body["token"] != nil {
		t.Fatalf("a replay of verify: %d %v: the bearer token came back", again.status, again.body)
	}
	var stored int
	if err := e.pool.QueryRow(context.Background(), `select count(*) from idempotency_keys where position($1 in convert_from(body, 'UTF8')) > 0`, bearer).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != 0 {
		t.Fatalf("the bearer token is stored in %d idempotency records", stored)
	}
}
