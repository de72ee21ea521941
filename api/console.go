package api

import (
	"bytes"
	"context"
	"embed"
	"html/template"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/internal/auth"
	"github.com/tenantflow/tenantflow/internal/repo"
	"github.com/tenantflow/tenantflow/projections"
)

//go:embed console/*.html
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

// consoleCookie carries the operator's bearer token: EventSource cannot send
// an Authorization header. HttpOnly, SameSite=Strict.
const consoleCookie = "tenantflow_console"

// console is the operator console: server-rendered pages, updated live with
// server-sent events carrying re-rendered fragments. No build step.
type console struct {
	rt       *Router
	list     ReadModels
	tenants  repo.Repository[*domain.Tenant]
	interval time.Duration

	mu      sync.Mutex
	streams map[string]int // open event streams per viewer (token subject)
}

// maxStreamsPerViewer bounds one viewer's open event streams (a browser
// opens one per console tab): more are refused with 429.
const maxStreamsPerViewer = 8

func (rt *Router) mountConsole(list ReadModels, tenants repo.Repository[*domain.Tenant]) {
	c := &console{rt: rt, list: list, tenants: tenants, interval: 300 * time.Millisecond, streams: map[string]int{}}
	rt.mux.HandleFunc("/console/login", c.login).Methods(http.MethodGet, http.MethodPost)
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

// signedIn lets a request through with a valid token holding 10207 in the
// console cookie; otherwise it sends the browser to the sign-in form.
func (c *console) signedIn(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if cookie, err := r.Cookie(consoleCookie); err == nil {
			if _, ok := c.viewer(cookie.Value); ok {
				next(w, r)
				return
			}
		}
		http.Redirect(w, r, "/console/login", http.StatusSeeOther)
	}
}

// viewer verifies a token that may view tenants (10207).
func (c *console) viewer(token string) (*auth.Claims, bool) {
	if c.rt.verifier == nil {
		return nil, false
	}
	claims, err := c.rt.verifier.Verify(token)
	return claims, err == nil && claims.Has(auth.ViewTenant)
}

func (c *console) login(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet {
		_ = consoleTemplates.ExecuteTemplate(w, "login", "")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	token := strings.TrimSpace(r.PostFormValue("token"))
	claims, ok := c.viewer(token)
	if !ok {
		w.WriteHeader(http.StatusUnauthorized)
		_ = consoleTemplates.ExecuteTemplate(w, "login", "That token is invalid, expired, or lacks permission 10207.")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: consoleCookie, Value: token, Path: "/console", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, Expires: claims.ExpiresAt.Time})
	http.Redirect(w, r, "/console", http.StatusSeeOther)
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
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = consoleTemplates.ExecuteTemplate(w, "page", map[string]any{"Title": title, "Stream": stream,
			"Body": template.HTML(frag)}) // #nosec: produced by our own templates
	}
}

// stream sends the fragment again whenever it changes (checked every
// interval), as server-sent events named "update". A stream ends when the
// viewer's token expires (the browser then finds itself signed out), when
// the server shuts down, and a viewer may hold maxStreamsPerViewer at once.
// Streams are exempt from the server's write timeout, and only them.
func (c *console) stream(body renderer) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		flusher, ok := w.(http.Flusher)
		if !ok {
			http.Error(w, "streaming unsupported", http.StatusInternalServerError)
			return
		}
		cookie, _ := r.Cookie(consoleCookie)
		claims, _ := c.viewer(cookie.Value) // signedIn let it through
		who := claims.Who()
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
		expired := time.NewTimer(time.Until(claims.ExpiresAt.Time))
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
	if c.list != nil {
		page, _, err := c.list.List(ctx, projections.TenantQuery{Limit: 200})
		if err != nil {
			return "", err
		}
		tenants = page
	}
	var buf bytes.Buffer
	err := consoleTemplates.ExecuteTemplate(&buf, "list", map[string]any{"Tenants": tenants})
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
