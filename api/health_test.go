package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/internal/testkit/wait"
)

func ok(context.Context) error { return nil }

func TestHealthzAnswersWithoutCheckingDependencies(t *testing.T) {
	r := NewRouter([]Check{{"postgres", func(context.Context) error { return errors.New("down") }}}, time.Second)
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
}

// The public /readyz says ready or not; the admin listener's names every
// dependency and the error of each failing one.
func TestReadyz(t *testing.T) {
	slow := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	tests := []struct {
		name       string
		checks     []Check
		wantStatus int
		wantFailed []string
	}{
		{"all pass", []Check{{"postgres", ok}, {"kafka", ok}}, 200, nil},
		{"one fails", []Check{{"postgres", ok}, {"kafka", func(context.Context) error { return errors.New("no broker") }}}, 503, []string{"kafka"}},
		{"two fail, both named", []Check{
			{"postgres", func(context.Context) error { return errors.New("refused") }},
			{"keycloak", func(context.Context) error { return errors.New("404") }},
			{"kafka", ok},
		}, 503, []string{"keycloak", "postgres"}},
		{"a hung dependency times out", []Check{{"keycloak", slow}, {"postgres", ok}}, 503, []string{"keycloak"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRouter(tt.checks, 100*time.Millisecond)
			public := httptest.NewRecorder()
			r.ServeHTTP(public, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			if public.Code != tt.wantStatus || strings.Contains(public.Body.String(), "checks") || strings.Contains(public.Body.String(), "postgres") {
				t.Fatalf("public /readyz: %d %s, want %d naming no dependency", public.Code, public.Body, tt.wantStatus)
			}
			rec := httptest.NewRecorder()
			r.Admin().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.wantStatus, rec.Body)
			}
			var body readyResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			if len(body.Failed) != len(tt.wantFailed) {
				t.Fatalf("failed = %v, want %v", body.Failed, tt.wantFailed)
			}
			for i := range tt.wantFailed {
				if body.Failed[i] != tt.wantFailed[i] {
					t.Fatalf("failed = %v, want %v", body.Failed, tt.wantFailed)
				}
			}
			if len(body.Checks) != len(tt.checks) {
				t.Errorf("checks = %v: every dependency must be reported", body.Checks)
			}
		})
	}
}

func TestUnknownRouteIs404(t *testing.T) {
	rec := httptest.NewRecorder()
	NewRouter(nil, time.Second).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/nope", nil))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("status %d", rec.Code)
	}
}

// /metrics is served on the admin listener only.
func TestMetricsOnTheAdminListenerOnly(t *testing.T) {
	r := NewRouter(nil, time.Second)
	public, admin := httptest.NewRecorder(), httptest.NewRecorder()
	r.ServeHTTP(public, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	r.Admin().ServeHTTP(admin, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if public.Code != http.StatusNotFound || admin.Code != http.StatusOK || !strings.Contains(admin.Body.String(), "go_goroutines") {
		t.Fatalf("public /metrics %d, admin %d", public.Code, admin.Code)
	}
}

// The public /readyz is no amplifier: however many requests arrive, the
// dependencies are checked at most once at a time and once a second; a
// stale answer comes at once and the change shows after the refresh.
func TestPublicReadyzAnswersFromACache(t *testing.T) {
	var mu sync.Mutex
	calls, failing := 0, false
	r := NewRouter([]Check{{"kafka", func(context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if failing {
			return errors.New("no broker")
		}
		return nil
	}}}, time.Second)
	get := func() int {
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		return rec.Code
	}
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(func() {
			if code := get(); code != http.StatusOK {
				t.Errorf("public /readyz: %d", code)
			}
		})
	}
	wg.Wait()
	mu.Lock()
	if calls != 1 {
		t.Errorf("200 requests checked the dependencies %d times, want once", calls)
	}
	failing = true
	mu.Unlock()
	// Stale after a second: answered from the cache while one refresh runs,
	// then the failure shows.
	wait.For(t, 5*time.Second, func() error {
		if code := get(); code != http.StatusServiceUnavailable {
			return fmt.Errorf("the public /readyz answers %d with a failing dependency", code)
		}
		return nil
	})
	// A burst right after checks at most once more (a refresh falling due).
	mu.Lock()
	seen := calls
	mu.Unlock()
	for range 50 {
		get()
	}
	mu.Lock()
	defer mu.Unlock()
	if calls > seen+1 {
		t.Errorf("50 requests in a burst checked the dependencies %d times: the cache is not holding", calls-seen)
	}
}
