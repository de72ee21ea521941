package idempotency_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
	"github.com/tenantflow/tenantflow/platform/idempotency"
)

func TestRecordReplayExpire(t *testing.T) {
	pool := testenv.NewMigratedPool(t)
	s := idempotency.New(pool, 24*time.Hour)
	ctx := context.Background()
	fp, other := []byte("request-1"), []byte("request-2")

	if r, err := s.Begin(ctx, "alice", "k", fp); r != nil || err != nil {
		t.Fatalf("fresh key: %v %v, want it claimed", r, err)
	}
	if _, err := s.Begin(ctx, "alice", "k", fp); !errors.Is(err, idempotency.ErrInProgress) {
		t.Fatalf("while running: %v, want ErrInProgress", err)
	}
	if r, err := s.Begin(ctx, "bob", "k", other); r != nil || err != nil {
		t.Fatalf("another caller's same key: %v %v, want its own claim", r, err)
	}
	want := idempotency.Response{Status: 201, Header: http.Header{"Location": {"/tenants/1"}}, Body: []byte(`{"id":"1"}`)}
	if err := s.Finish(ctx, "alice", "k", want); err != nil {
		t.Fatal(err)
	}
	got, err := s.Begin(ctx, "alice", "k", fp)
	if err != nil || got == nil || got.Status != 201 || got.Header.Get("Location") != "/tenants/1" || string(got.Body) != `{"id":"1"}` {
		t.Fatalf("replay: %+v %v", got, err)
	}
	if _, err := s.Begin(ctx, "alice", "k", other); !errors.Is(err, idempotency.ErrKeyReused) {
		t.Fatalf("other request: %v, want ErrKeyReused", err)
	}

	// After the TTL the key is free again, and Purge removes what expired.
	if _, err := pool.Exec(ctx, `update idempotency_keys set created_at = now() - interval '25 hours' where scope = 'alice'`); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Begin(ctx, "alice", "k", other); r != nil || err != nil {
		t.Fatalf("expired key: %v %v, want a new claim", r, err)
	}
	if _, err := pool.Exec(ctx, `update idempotency_keys set created_at = now() - interval '25 hours'`); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Purge(ctx); err != nil || n != 2 {
		t.Fatalf("purge: %d %v, want 2", n, err)
	}
}

func TestAbandonedClaims(t *testing.T) {
	pool := testenv.NewMigratedPool(t)
	s := idempotency.New(pool, 24*time.Hour)
	ctx := context.Background()
	fp := []byte("r")
	if _, err := s.Begin(ctx, "", "k", fp); err != nil {
		t.Fatal(err)
	}
	// A server error releases the key: the retry runs.
	if err := s.Abandon(ctx, "", "k"); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Begin(ctx, "", "k", fp); r != nil || err != nil {
		t.Fatalf("after Abandon: %v %v", r, err)
	}
	// A claim left unfinished (its process died) is taken over after a minute, by the same request only.
	if _, err := pool.Exec(ctx, `update idempotency_keys set created_at = now() - interval '2 minutes'`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Begin(ctx, "", "k", []byte("other")); !errors.Is(err, idempotency.ErrKeyReused) {
		t.Fatalf("other request on a stale claim: %v", err)
	}
	if r, err := s.Begin(ctx, "", "k", fp); r != nil || err != nil {
		t.Fatalf("stale claim not taken over: %v %v", r, err)
	}
}
