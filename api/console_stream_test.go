package api

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/app"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/platform/auth"
	"github.com/tenantflow/tenantflow/projections"
)

// The console's event streams are bounded: each ends when its viewer's
// session (the token's lifetime) ends, a viewer may hold maxStreamsPerViewer at once (429
// beyond), and CloseStreams (graceful shutdown) ends them all.
func TestConsoleStreamsAreBounded(t *testing.T) {
	signer, _ := auth.NewHS256(testSecret, "tenantflow")
	rt := NewRouter(nil, time.Second)
	rt.Mount(Deps{App: app.NewService(eventstore.NewMemory(), ""), Verifier: signer, Logger: quietLogger()})
	srv := httptest.NewServer(rt)
	t.Cleanup(srv.Close)
	open := func(token string) (*http.Response, *bufio.Reader) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/console/stream", nil)
		req.AddCookie(signIn(t, srv.URL, token))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp, bufio.NewReader(resp.Body)
	}
	// ended reads until the stream closes, or fails after within.
	ended := func(r *bufio.Reader, within time.Duration) {
		t.Helper()
		done := make(chan struct{})
		go func() {
			for {
				if _, err := r.ReadString('\n'); err != nil {
					close(done)
					return
				}
			}
		}()
		select {
		case <-done:
		case <-time.After(within):
			t.Fatalf("the stream was still open after %s", within)
		}
	}

	short, _ := signer.Mint("brief", []string{auth.ViewTenant}, "", 2*time.Second, time.Now())
	resp, body := open(short)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("stream: %d", resp.StatusCode)
	}
	started := time.Now()
	ended(body, 10*time.Second)
	if time.Since(started) < time.Second {
		t.Errorf("the stream ended after %s, before the token expired", time.Since(started))
	}
	resp.Body.Close()

	long, _ := signer.Mint("tabs", []string{auth.ViewTenant}, "", time.Hour, time.Now())
	var bodies []*http.Response
	for range maxStreamsPerViewer {
		resp, _ := open(long)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("stream within the cap: %d", resp.StatusCode)
		}
		bodies = append(bodies, resp)
	}
	if resp, _ := open(long); resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("a stream over the cap: %d", resp.StatusCode)
	}
	other, _ := signer.Mint("someone-else", []string{auth.ViewTenant}, "", time.Hour, time.Now())
	resp, body = open(other)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("another viewer's stream: %d", resp.StatusCode)
	}
	rt.CloseStreams()
	ended(body, 5*time.Second)
	for _, b := range bodies {
		b.Body.Close()
	}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// noRedirects is a client that shows redirects instead of following them.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// signIn signs in to the console at base with token, as the browser does
// (the form's CSRF field and cookie), and returns the session cookie.
func signIn(t *testing.T, base, token string) *http.Cookie {
	t.Helper()
	resp, err := http.Get(base + "/console/login")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfField.FindSubmatch(page)
	if m == nil {
		t.Fatalf("the sign-in form has no CSRF field: %s", page)
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/console/login", strings.NewReader(url.Values{"token": {token}, "csrf": {string(m[1])}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range resp.Cookies() {
		req.AddCookie(c)
	}
	resp, err = noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == consoleCookie && c.Value != "" {
			return c
		}
	}
	t.Fatalf("no session after signing in: %d", resp.StatusCode)
	return nil
}

// The console keeps a server-side session: the cookie holds a random id,
// never the token; sign-in and sign-out need the form's CSRF token; every
// console response forbids framing and foreign scripts (its own script and
// styles are files, so the policy needs no 'unsafe-inline').
func TestConsoleSessions(t *testing.T) {
	signer, _ := auth.NewHS256(testSecret, "tenantflow")
	rt := NewRouter(nil, time.Second)
	rt.Mount(Deps{App: app.NewService(eventstore.NewMemory(), ""), Verifier: signer, Logger: quietLogger()})
	srv := httptest.NewServer(rt)
	t.Cleanup(srv.Close)
	viewer, _ := signer.Mint("viewer", []string{auth.ViewTenant}, "", time.Hour, time.Now())

	resp, err := http.Get(srv.URL + "/console/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-inline") ||
		resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("security headers: %v", resp.Header)
	}
	post := func(path string, form url.Values, cookies ...*http.Cookie) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for _, c := range cookies {
			req.AddCookie(c)
		}
		resp, err := noRedirects.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	// A sign-in posted from elsewhere (no CSRF cookie and field pair) is refused.
	if r := post("/console/login", url.Values{"token": {viewer}}); r.StatusCode != http.StatusForbidden || len(r.Cookies()) > 0 && r.Cookies()[0].Name == consoleCookie {
		t.Fatalf("a sign-in without the CSRF token: %d", r.StatusCode)
	}
	if r := post("/console/login", url.Values{"token": {viewer}, "csrf": {"guess"}}, &http.Cookie{Name: csrfCookie, Value: "other"}); r.StatusCode != http.StatusForbidden {
		t.Fatalf("a sign-in with a CSRF field that is not the cookie's: %d", r.StatusCode)
	}
	session := signIn(t, srv.URL, viewer)
	if strings.Contains(session.Value, viewer) || strings.Contains(viewer, session.Value) || len(session.Value) < 40 || !session.HttpOnly ||
		session.SameSite != http.SameSiteStrictMode {
		t.Fatalf("session cookie %+v", session)
	}
	get := func(cookie *http.Cookie) (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/console", nil)
		req.AddCookie(cookie)
		resp, err := noRedirects.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(body)
	}
	resp, page := get(session)
	if resp.StatusCode != http.StatusOK || strings.Contains(page, "<script>") {
		t.Fatalf("the console: %d, inline script present: %v", resp.StatusCode, strings.Contains(page, "<script>"))
	}
	if resp, _ := get(&http.Cookie{Name: consoleCookie, Value: viewer}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("a bearer token as the cookie: %d, want a redirect to sign in", resp.StatusCode)
	}
	// Sign-out needs the session's CSRF token, then ends the session.
	if r := post("/console/logout", url.Values{}, session); r.StatusCode != http.StatusForbidden {
		t.Fatalf("a sign-out without the CSRF token: %d", r.StatusCode)
	}
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("the page has no sign-out form")
	}
	if r := post("/console/logout", url.Values{"csrf": {m[1]}}, session); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out: %d", r.StatusCode)
	}
	if resp, _ := get(session); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("after signing out: %d, want a redirect to sign in", resp.StatusCode)
	}
}

// statsOnly serves the console's tenant list (empty) and step statistics.
type statsOnly struct {
	ReadModels
	stats []projections.StepStat
}

func (statsOnly) List(context.Context, projections.TenantQuery) ([]projections.TenantSummary, string, error) {
	return nil, "", nil
}
func (s statsOnly) Stats(context.Context) ([]projections.StepStat, error) { return s.stats, nil }

// The console's first page shows what each tier's flow waits on: every
// step's p50 and p99 per tier.
func TestConsoleShowsWhatTheFlowWaitsOn(t *testing.T) {
	signer, _ := auth.NewHS256(testSecret, "tenantflow")
	rt := NewRouter(nil, time.Second)
	rt.Mount(Deps{App: app.NewService(eventstore.NewMemory(), ""), Verifier: signer, Logger: quietLogger(), Tenants: statsOnly{stats: []projections.StepStat{
		{Step: "idp", Count: 3, P50ms: 900, P99ms: 2900},
		{Step: "idp", Tier: "basic", Count: 2, P50ms: 41, P99ms: 77},
		{Step: "idp", Tier: "enterprise", Count: 1, P50ms: 1432, P99ms: 2871},
	}}})
	srv := httptest.NewServer(rt)
	t.Cleanup(srv.Close)
	viewer, _ := signer.Mint("viewer", []string{auth.ViewTenant}, "", time.Hour, time.Now())
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/console", nil)
	req.AddCookie(signIn(t, srv.URL, viewer))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, row := range []string{"<td>basic</td><td>idp</td><td>2</td><td>0</td><td>41</td><td>77</td>",
		"<td>enterprise</td><td>idp</td><td>1</td><td>0</td><td>1432</td><td>2871</td>"} {
		if !strings.Contains(string(page), row) {
			t.Errorf("the console lacks the row %s:\n%s", row, page)
		}
	}
}
