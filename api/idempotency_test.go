package api

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/tenantflow/tenantflow/internal/auth"
	"github.com/tenantflow/tenantflow/internal/testkit/mailtest"
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
