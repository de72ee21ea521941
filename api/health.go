// Package api is tenantflow's HTTP surface: the REST command and query API and
// the health endpoints, on gorilla/mux.
package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/mux"
)

// Check is one dependency behind /readyz. Fn must honour ctx's deadline.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
}

// Router serves the API. Later issues add the command and query routes.
type Router struct {
	mux          *mux.Router
	checks       []Check
	checkTimeout time.Duration
	verifier     Verifier
	tenantAdmins Verifier // nil: no tenant administrator's token is accepted
	idem         IdempotencyStore
	trusted      []netip.Prefix // the operator's proxies (clientAddr)
	logger       *slog.Logger
	closing      chan struct{} // closed by CloseStreams
	closeOnce    sync.Once
	readiness    readiness // the public /readyz's last result
}

// readiness is the public /readyz's cached result: an unauthenticated
// request must not be able to make tenantd open a connection to each
// dependency (Kafka's is TLS and SCRAM) on demand. A stale result is
// answered at once and refreshed in the background, one check at a time,
// whatever the request rate.
type readiness struct {
	mu         sync.Mutex
	last       readyResponse
	at         time.Time
	refreshing chan struct{} // non-nil while a check runs
}

// readyFresh is how long a public readiness result is answered as is.
const readyFresh = time.Second

// CloseStreams ends the long-lived console streams, so that a graceful
// shutdown (http.Server.RegisterOnShutdown) waits only for the requests in
// flight.
func (rt *Router) CloseStreams() { rt.closeOnce.Do(func() { close(rt.closing) }) }

// NewRouter builds the HTTP handler; checks are what /readyz verifies, each
// bounded by checkTimeout.
func NewRouter(checks []Check, checkTimeout time.Duration) *Router {
	r := &Router{mux: mux.NewRouter(), checks: checks, checkTimeout: checkTimeout, logger: slog.Default(), closing: make(chan struct{})}
	r.mux.HandleFunc("/healthz", r.healthz).Methods(http.MethodGet, http.MethodHead)
	r.mux.HandleFunc("/readyz", r.readyz).Methods(http.MethodGet, http.MethodHead)
	r.mux.Use(instrument)
	r.mux.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeProblem(w, problem{Status: http.StatusNotFound, Detail: "no such route"})
	})
	r.mux.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Allow", strings.Join(r.allowed(req.URL.Path), ", ")) // RFC 9110 requires it with 405
		writeProblem(w, problem{Status: http.StatusMethodNotAllowed, Detail: "method not allowed on this route"})
	})
	return r
}

func (rt *Router) ServeHTTP(w http.ResponseWriter, req *http.Request) { rt.mux.ServeHTTP(w, req) }

// allowed lists the methods the routes matching path accept.
func (rt *Router) allowed(path string) []string {
	var methods []string
	_ = rt.mux.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		re, err := route.GetPathRegexp()
		if err != nil {
			return nil
		}
		if ok, _ := regexp.MatchString(re, path); ok {
			ms, _ := route.GetMethods()
			for _, m := range ms {
				if !slices.Contains(methods, m) {
					methods = append(methods, m)
				}
			}
		}
		return nil
	})
	sort.Strings(methods)
	return methods
}

// healthz answers while the process is up; it checks nothing else, so an
// orchestrator never restarts tenantd because a dependency is down.
func (rt *Router) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyResponse is /readyz's body: every check by name, "ok" or its error.
type readyResponse struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks,omitempty"`
	Failed []string          `json:"failed,omitempty"`
}

// Admin is the handler of the admin listener (TENANTFLOW_ADMIN_ADDR): the
// Prometheus metrics, and the readiness that names each dependency and its
// error; the public /readyz says only ready or not.
func (rt *Router) Admin() http.Handler {
	m := mux.NewRouter()
	m.HandleFunc("/healthz", rt.healthz).Methods(http.MethodGet, http.MethodHead)
	m.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		res := rt.check(r.Context())
		writeJSON(w, readyStatus(res), res)
	}).Methods(http.MethodGet, http.MethodHead)
	m.Handle("/metrics", metricsHandler).Methods(http.MethodGet)
	return m
}

// readyz is the public readiness: 200 {"status":"ready"} or 503
// {"status":"not ready"}, without naming dependencies or their errors
// (the admin listener does).
func (rt *Router) readyz(w http.ResponseWriter, req *http.Request) {
	res := rt.cachedCheck(req.Context())
	writeJSON(w, readyStatus(res), readyResponse{Status: res.Status})
}

// cachedCheck is the last readiness result: fresh (younger than
// readyFresh) as is; stale, as is while one background check refreshes it;
// none yet, after waiting for the first check (or ctx).
func (rt *Router) cachedCheck(ctx context.Context) readyResponse {
	c := &rt.readiness
	c.mu.Lock()
	if c.refreshing == nil && time.Since(c.at) >= readyFresh {
		done := make(chan struct{})
		c.refreshing = done
		go func() {
			res := rt.check(context.Background())
			c.mu.Lock()
			c.last, c.at, c.refreshing = res, time.Now(), nil
			c.mu.Unlock()
			close(done)
		}()
	}
	first, last, wait := c.at.IsZero(), c.last, c.refreshing
	c.mu.Unlock()
	if !first {
		return last
	}
	select {
	case <-wait:
	case <-ctx.Done():
		return readyResponse{Status: "not ready", Failed: []string{"readiness"}}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

func readyStatus(res readyResponse) int {
	if len(res.Failed) > 0 {
		return http.StatusServiceUnavailable
	}
	return http.StatusOK
}

// check runs every check concurrently: all must pass to be ready; each
// failing dependency is named with its error.
func (rt *Router) check(ctx context.Context) readyResponse {
	ctx, cancel := context.WithTimeout(ctx, rt.checkTimeout)
	defer cancel()

	res := readyResponse{Status: "ready", Checks: make(map[string]string, len(rt.checks))}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range rt.checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := c.Fn(ctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				res.Checks[c.Name] = err.Error()
				res.Failed = append(res.Failed, c.Name)
				return
			}
			res.Checks[c.Name] = "ok"
		}()
	}
	wg.Wait()

	if len(res.Failed) > 0 {
		sort.Strings(res.Failed)
		res.Status = "not ready"
	}
	return res
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client went away; nothing to do
}
