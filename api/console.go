package api

import (
	"bytes"
	"context"
	"crypto/subtle"
	"embed"
	"errors"
	"html/template"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/tenantflow/tenantflow/app"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/platform/auth"
	"github.com/tenantflow/tenantflow/platform/sessions"
	"github.com/tenantflow/tenantflow/projections"
)

//go:embed console/*.html console/app.js console/app.css
var consoleFiles embed.FS

var consoleTemplates = template.Must(template.New("console").Funcs(template.FuncMap{"took": took}).ParseFS(consoleFiles, "console/*.html"))

// took is a step's duration, rounded for reading.
func took(from, to time.Time) string {
	d := to.Sub(from)
	if d >= time.Millisecond {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Microsecond).String()
}

// consoleCookie carries the console session's random id (never the bearer
// token: EventSource cannot send an Authorization header, so the console
// signs in once and keeps a server-side session); csrfCookie the sign-in
// form's double-submit token. Both HttpOnly, SameSite=Strict, Path=/console,
// Secure over TLS (or when configured behind a TLS proxy).
const (
	consoleCookie = "tenantflow_console"
	csrfCookie    = "tenantflow_csrf"
)

// consoleSecurity are the headers of every console response: no script,
// style or connection but the console's own, no framing, no sniffing.
var consoleSecurity = map[string]string{
	"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
		"form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
	"X-Frame-Options":        "DENY",
	"X-Content-Type-Options": "nosniff",
	"Referrer-Policy":        "no-referrer",
	"Cache-Control":          "no-store",
}

// SessionStore keeps console sign-ins (platform/sessions in PostgreSQL).
type SessionStore interface {
	Create(ctx context.Context, subject string, expires time.Time) (string, sessions.Session, error)
	Get(ctx context.Context, id string) (sessions.Session, error)
	Delete(ctx context.Context, id string) error
}

// console is the operator console: server-rendered pages, updated live with
// server-sent events carrying re-rendered fragments. No build step.
type console struct {
	rt       *Router
	list     ReadModels
	tenants  app.Repository[*domain.Tenant]
	interval time.Duration
	sessions SessionStore
	secure   bool // Secure cookies even without TLS here (a TLS proxy in front)

	mu      sync.Mutex
	streams map[string]int // open event streams per viewer (token subject)

	// The step statistics the tenant list shows, read at most every
	// statsEvery: each read takes percentiles over every step run, and the
	// list is rendered again every interval for every open console.
	statsMu sync.Mutex
	stats   []projections.StepStat
	statsAt time.Time
}

// statsEvery is how old the console's step statistics may be.
const statsEvery = 10 * time.Second

// tierStats are the step statistics per step and tier, at most statsEvery
// old.
func (c *console) tierStats(ctx context.Context) ([]projections.StepStat, error) {
	c.statsMu.Lock()
	defer c.statsMu.Unlock()
	if !c.statsAt.IsZero() && time.Since(c.statsAt) < statsEvery {
		return c.stats, nil
	}
	all, err := c.list.Stats(ctx)
	if err != nil {
		return nil, err
	}
	var fresh []projections.StepStat // a new slice: renders in flight keep reading the old one
	for _, s := range all {          // per step and tier: what each tier's flow waits on
		if s.Tier != "" {
			fresh = append(fresh, s)
		}
	}
	c.stats, c.statsAt = fresh, time.Now()
	return fresh, nil
}

// maxStreamsPerViewer bounds one viewer's open event streams (a browser
// opens one per console tab): more are refused with 429.
const maxStreamsPerViewer = 8

func (rt *Router) mountConsole(list ReadModels, tenants app.Repository[*domain.Tenant], store SessionStore, secure bool) {
	if store == nil {
		store = &memorySessions{m: map[string]sessions.Session{}} // one process only: tenantd passes the PostgreSQL store
	}
	c := &console{rt: rt, list: list, tenants: tenants, interval: 300 * time.Millisecond, streams: map[string]int{},
		sessions: store, secure: secure}
	rt.mux.Use(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/console") {
				for k, v := range consoleSecurity {
					w.Header().Set(k, v)
				}
			}
			next.ServeHTTP(w, r)
		})
	})
	rt.mux.HandleFunc("/console/login", c.login).Methods(http.MethodGet, http.MethodPost)
	rt.mux.HandleFunc("/console/logout", c.logout).Methods(http.MethodPost)
	rt.mux.HandleFunc("/console/app.js", c.asset("app.js", "text/javascript; charset=utf-8")).Methods(http.MethodGet)
	rt.mux.HandleFunc("/console/app.css", c.asset("app.css", "text/css; charset=utf-8")).Methods(http.MethodGet)
	rt.mux.HandleFunc("/console", c.signedIn(c.page("Tenants", "/console/stream", c.renderList))).Methods(http.MethodGet)
	rt.mux.HandleFunc("/console/stream", c.signedIn(c.stream(c.renderList))).Methods(http.MethodGet)
	rt.mux.HandleFunc("/console/tenants/{id}", c.signedIn(func(w http.ResponseWriter, r *http.Request) {
		id, _ := tenantID(r)
		c.page("Tenant", "/console/tenants/"+id+"/stream", c.renderTenant(id))(w, r)
	})).Methods(http.MethodGet)
	rt.mux.HandleFunc("/console/tenants/{id}/stream", c.signedIn(func(w http.ResponseWriter, r *http.Request) {
		id, _ := tenantID(r)
		c.stream(c.renderTenant(id))(w, r)
	})).Methods(http.MethodGet)
}

// signedIn lets a request through with a live console session; otherwise
// it sends the browser to the sign-in form.
func (c *console) signedIn(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if _, ok := c.session(r); ok {
			next(w, r)
			return
		}
		http.Redirect(w, r, "/console/login", http.StatusSeeOther)
	}
}

// session is the request's live console session.
func (c *console) session(r *http.Request) (sessions.Session, bool) {
	cookie, err := r.Cookie(consoleCookie)
	if err != nil {
		return sessions.Session{}, false
	}
	sess, err := c.sessions.Get(r.Context(), cookie.Value)
	if err != nil && !errors.Is(err, sessions.ErrNone) {
		c.rt.logger.Warn("console session unreadable", "error", err)
	}
	return sess, err == nil
}

// viewer verifies a token that may view tenants (10207).
func (c *console) viewer(token string) (*auth.Claims, bool) {
	if c.rt.verifier == nil {
		return nil, false
	}
	claims, err := c.rt.verifier.Verify(token)
	return claims, err == nil && claims.Has(auth.ViewTenant)
}

func (c *console) cookie(r *http.Request, name, value string, expires time.Time) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: "/console", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil || c.secure, Expires: expires}
}

// login shows the sign-in form (GET, with a fresh double-submit CSRF token)
// and signs in (POST): the CSRF field must equal the cookie, the token must
// grant 10207; then a session until the token's expiry is created and its
// random id set as the cookie. The token itself is not kept.
func (c *console) login(w http.ResponseWriter, r *http.Request) {
	form := func(status int, problem string) {
		csrf := sessions.NewID()
		http.SetCookie(w, c.cookie(r, csrfCookie, csrf, time.Now().Add(time.Hour)))
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		_ = consoleTemplates.ExecuteTemplate(w, "login", map[string]string{"CSRF": csrf, "Problem": problem})
	}
	if r.Method == http.MethodGet {
		form(http.StatusOK, "")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	sent, err := r.Cookie(csrfCookie)
	if err != nil || !sameToken(sent.Value, r.PostFormValue("csrf")) {
		form(http.StatusForbidden, "The form expired or did not come from this console: sign in again.")
		return
	}
	claims, ok := c.viewer(strings.TrimSpace(r.PostFormValue("token")))
	if !ok {
		form(http.StatusUnauthorized, "That token is invalid, expired, or lacks permission 10207.")
		return
	}
	id, _, err := c.sessions.Create(r.Context(), claims.Who(), claims.ExpiresAt.Time)
	if err != nil {
		writeError(w, c.rt.logger, err)
		return
	}
	http.SetCookie(w, c.cookie(r, consoleCookie, id, claims.ExpiresAt.Time))
	http.SetCookie(w, c.cookie(r, csrfCookie, "", time.Unix(0, 0)))
	http.Redirect(w, r, "/console", http.StatusSeeOther)
}

// logout ends the session (POST, with the session's CSRF token).
func (c *console) logout(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	sess, ok := c.session(r)
	if !ok {
		http.Redirect(w, r, "/console/login", http.StatusSeeOther)
		return
	}
	if !sameToken(sess.CSRF, r.PostFormValue("csrf")) {
		http.Error(w, "the sign-out did not come from this console", http.StatusForbidden)
		return
	}
	cookie, _ := r.Cookie(consoleCookie)
	if err := c.sessions.Delete(r.Context(), cookie.Value); err != nil {
		writeError(w, c.rt.logger, err)
		return
	}
	http.SetCookie(w, c.cookie(r, consoleCookie, "", time.Unix(0, 0)))
	http.Redirect(w, r, "/console/login", http.StatusSeeOther)
}

// sameToken compares two tokens in constant time; empty never matches.
func sameToken(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// asset serves one of the console's static files.
func (c *console) asset(name, contentType string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		raw, _ := consoleFiles.ReadFile("console/" + name)
		w.Header().Set("Content-Type", contentType)
		_, _ = w.Write(raw)
	}
}

type renderer func(ctx context.Context) (string, error)

// page renders the whole page around the fragment.
func (c *console) page(title, stream string, body renderer) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		frag, err := body(r.Context())
		if err != nil {
			writeError(w, c.rt.logger, err)
			return
		}
		sess, _ := c.session(r)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = consoleTemplates.ExecuteTemplate(w, "page", map[string]any{"Title": title, "Stream": stream, "CSRF": sess.CSRF,
			"Body": template.HTML(frag)}) // #nosec: produced by our own templates
	}
}

// stream sends the fragment again whenever it changes (checked every
// interval), as server-sent events named "update". A stream ends when the
// viewer's session (its token's lifetime) ends, when
// the server shuts down, and a viewer may hold maxStreamsPerViewer at once.
// Streams are exempt from the server's write timeout, and only them.
func (c *console) stream(body renderer) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		flusher, ok := w.(http.Flusher)
		if !ok {
			http.Error(w, "streaming unsupported", http.StatusInternalServerError)
			return
		}
		sess, _ := c.session(r) // signedIn let it through
		who := sess.Subject
		c.mu.Lock()
		if c.streams[who] >= maxStreamsPerViewer {
			c.mu.Unlock()
			w.Header().Set("Retry-After", "5")
			http.Error(w, "too many open console streams for this viewer", http.StatusTooManyRequests)
			return
		}
		c.streams[who]++
		c.mu.Unlock()
		defer func() {
			c.mu.Lock()
			if c.streams[who]--; c.streams[who] == 0 {
				delete(c.streams, who)
			}
			c.mu.Unlock()
		}()
		_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
		expired := time.NewTimer(time.Until(sess.ExpiresAt))
		defer expired.Stop()
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		last := ""
		tick := time.NewTicker(c.interval)
		defer tick.Stop()
		for {
			frag, err := body(r.Context())
			if err == nil && frag != last {
				last = frag
				var b strings.Builder
				b.WriteString("event: update\n")
				for _, line := range strings.Split(frag, "\n") {
					b.WriteString("data: " + line + "\n")
				}
				b.WriteString("\n")
				if _, err := w.Write([]byte(b.String())); err != nil {
					return
				}
				flusher.Flush()
			}
			select {
			case <-r.Context().Done():
				return
			case <-c.rt.closing:
				return // shutting down: in-flight requests drain, streams end
			case <-expired.C:
				return
			case <-tick.C:
			}
		}
	}
}

func (c *console) renderList(ctx context.Context) (string, error) {
	var tenants []projections.TenantSummary
	var stats []projections.StepStat
	if c.list != nil {
		page, _, err := c.list.List(ctx, projections.TenantQuery{Limit: 200})
		if err != nil {
			return "", err
		}
		tenants = page
		if stats, err = c.tierStats(ctx); err != nil {
			return "", err
		}
	}
	var buf bytes.Buffer
	err := consoleTemplates.ExecuteTemplate(&buf, "list", map[string]any{"Tenants": tenants, "Stats": stats})
	return buf.String(), err
}

func (c *console) renderTenant(id string) renderer {
	return func(ctx context.Context) (string, error) {
		t, err := c.tenants.Get(ctx, id)
		if err != nil {
			return "", err
		}
		var buf bytes.Buffer
		err = consoleTemplates.ExecuteTemplate(&buf, "tenant", map[string]any{"Status": t.Status().String(), "Attempt": t.Attempt(),
			"Version": t.Version(), "LastError": t.LastFailure(), "Steps": t.StepStates(), "Resources": t.Resources(), "Orphans": t.Orphans()})
		return buf.String(), err
	}
}

// memorySessions keeps sessions in this process: the console's fallback
// when no store is configured (tests of the API alone). tenantd always
// passes the PostgreSQL store, which every replica shares.
type memorySessions struct {
	mu sync.Mutex
	m  map[string]sessions.Session
}

func (s *memorySessions) Create(_ context.Context, subject string, expires time.Time) (string, sessions.Session, error) {
	id, sess := sessions.NewID(), sessions.Session{Subject: subject, CSRF: sessions.NewID(), ExpiresAt: expires}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[id] = sess
	return id, sess, nil
}

func (s *memorySessions) Get(_ context.Context, id string) (sessions.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.m[id]
	if !ok || time.Now().After(sess.ExpiresAt) {
		return sessions.Session{}, sessions.ErrNone
	}
	return sess, nil
}

func (s *memorySessions) Delete(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
	return nil
}
