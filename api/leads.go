package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"
	"github.com/tenantflow/tenantflow/app"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/platform/auth"
	"github.com/tenantflow/tenantflow/platform/pii"
)

type leadHandlers struct {
	zone     string // the platform's DNS zone (tenantHandlers.zone)
	store    eventstore.Streams
	leads    app.Repository[*domain.Lead]
	mailer   Mailer
	minter   Minter
	tokenTTL time.Duration
	limit    *rateLimiter // per client address
	// recipients, domains and everyone bound the verification mails: one
	// client cannot mail a victim, or a victim's company, or everyone.
	recipients, domains, everyone *rateLimiter
	logger                        *slog.Logger
	read                          ReadModels // the lead list; nil: GET /leads answers 503
	personal                      Opener     // opens the lead's sealed contact; nil: not sealed
}

// newVerificationToken returns a one-time token and the hash that is stored
// in its place. The token goes into the mail and nowhere else.
func newVerificationToken() (token, hash string) {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand panics instead)
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, hashToken(token)
}

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// create is POST /leads, the public sign-up. The verification mail is sent
// before the lead is stored: when the mail cannot go out nothing is stored
// and the client gets 503 and may simply retry; when storing fails after the
// mail went out, its token belongs to no lead and verifies nothing.
func (h *leadHandlers) create(w http.ResponseWriter, r *http.Request) {
	var in domain.LeadInput
	if err := decode(w, r, &in); err != nil {
		writeError(w, h.logger, err)
		return
	}
	token, hash := newVerificationToken()
	lead, events, err := domain.NewLead(uuid.NewString(), in, hash, time.Now())
	if err != nil {
		writeError(w, h.logger, err)
		return
	}
	if h.mailer == nil {
		writeProblem(w, problem{Status: http.StatusServiceUnavailable, Detail: "sign-up is not available: no SMTP server is configured"})
		return
	}
	email := strings.ToLower(lead.Contact().Email)
	_, mailDomain, _ := strings.Cut(email, "@")
	if refuse(w, h.recipients, email, "too many sign-ups for this email address; retry later") ||
		refuse(w, h.domains, mailDomain, "too many sign-ups for this email domain; retry later") ||
		refuse(w, h.everyone, "", "too many sign-ups right now; retry later") {
		return
	}
	// The mail goes out before the lead is stored (a lead whose mail failed
	// is never stored), so first make sure the log can be read at all: an
	// unreachable or unmigrated log answers 503 here, before a mail names a
	// lead that will not exist. (A lead's new stream is empty: not found.)
	if _, err := h.leads.Get(r.Context(), lead.ID()); !errors.Is(err, domain.ErrNotFound) {
		writeError(w, h.logger, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
	defer cancel()
	if err := h.mailer.Send(ctx, lead.Contact().Email, "Confirm your sign-up", verificationMail(lead, token)); err != nil {
		h.logger.Error("verification mail not sent", "lead_id", lead.ID(), "error", err)
		writeProblem(w, problem{Status: http.StatusServiceUnavailable, Detail: "the verification mail could not be sent; nothing was stored; try again later"})
		return
	}
	if err := h.leads.Create(r.Context(), lead.ID(), metadata(r), events); err != nil {
		writeError(w, h.logger, err)
		return
	}
	w.Header().Set("Location", "/leads/"+lead.ID())
	writeJSON(w, http.StatusCreated, map[string]string{"id": lead.ID()})
}

func verificationMail(l *domain.Lead, token string) string {
	return fmt.Sprintf(`Hello %s,

thank you for signing up %s. To confirm your email address, send this
verification token (it works once):

  lead:  %s
  token: %s

  curl -X POST -H 'Content-Type: application/json' \
       -d '{"token":"%s"}' <tenantflow>/leads/%s/verify

If you did not sign up, ignore this mail.
`, l.Contact().FirstName, l.CompanyName(), l.ID(), token, token, l.ID())
}

func leadID(r *http.Request) (string, bool) {
	id, err := uuid.Parse(mux.Vars(r)["id"])
	return id.String(), err == nil
}

// leadView is a lead as the API shows it (never its token hash).
type leadView struct {
	ID          string         `json:"id"`
	Contact     domain.Contact `json:"contact"`
	CompanyName string         `json:"companyName"`
	Verified    bool           `json:"verified"`
	TenantID    string         `json:"tenantId,omitempty"`
	Version     int64          `json:"version"`
}

func (h *leadHandlers) get(w http.ResponseWriter, r *http.Request) {
	id, ok := leadID(r)
	if !ok {
		writeError(w, h.logger, domain.ErrNotFound)
		return
	}
	l, err := h.leads.Get(r.Context(), id)
	if err != nil {
		writeError(w, h.logger, err)
		return
	}
	writeJSON(w, http.StatusOK, leadView{ID: l.ID(), Contact: l.Contact(), CompanyName: l.CompanyName(),
		Verified: l.Verified(), TenantID: l.TenantID(), Version: l.Version()})
}

// verify is POST /leads/{id}/verify {token}: it spends the one-time token
// and answers with a short-lived bearer token that may only create this
// lead's tenant.
func (h *leadHandlers) verify(w http.ResponseWriter, r *http.Request) {
	id, ok := leadID(r)
	if !ok {
		writeError(w, h.logger, domain.ErrNotFound)
		return
	}
	var in struct {
		Token string `json:"token"`
	}
	if err := decode(w, r, &in); err != nil {
		writeError(w, h.logger, err)
		return
	}
	if in.Token == "" {
		writeError(w, h.logger, &domain.ValidationError{Fields: map[string]string{"token": "is required"}})
		return
	}
	if h.minter == nil {
		writeProblem(w, problem{Status: http.StatusServiceUnavailable, Detail: "verification is not available: TENANTFLOW_JWT_SECRET is not set"})
		return
	}
	now := time.Now()
	_, err := h.leads.Update(r.Context(), id, metadata(r), func(l *domain.Lead) ([]domain.Event, error) {
		return l.Verify(hashToken(in.Token), now)
	})
	var ce *eventstore.ConcurrencyError
	if errors.As(err, &ce) {
		err = domain.ErrTokenInvalid // a concurrent request spent it
	}
	if err != nil {
		writeError(w, h.logger, err)
		return
	}
	token, err := h.minter.Mint("lead:"+id, nil, id, h.tokenTTL, now)
	if err != nil {
		writeError(w, h.logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"token": token, "expiresIn": int(h.tokenTTL.Seconds())})
}

// createTenant is POST /leads/{id}/tenants, allowed with that lead's token
// or permission 10204.
func (h *leadHandlers) createTenant(w http.ResponseWriter, r *http.Request) {
	id, ok := leadID(r)
	if !ok {
		writeError(w, h.logger, domain.ErrNotFound)
		return
	}
	if c := claimsOf(r); !c.Has(auth.CreateTenant) && c.LeadID != id {
		writeProblem(w, problem{Status: http.StatusForbidden, Detail: "the token is neither this lead's nor holds permission " + auth.CreateTenant})
		return
	}
	var in domain.LeadTenantInput
	if err := decode(w, r, &in); err != nil {
		writeError(w, h.logger, err)
		return
	}
	lead, err := h.leads.Get(r.Context(), id)
	if err == nil && h.personal != nil {
		// The tenant is made of the person, validated and sealed again.
		c := lead.Contact()
		if err = pii.OpenContacts(r.Context(), h.personal, &c, nil); err == nil {
			lead = lead.WithContact(c)
		}
	}
	if err != nil {
		writeError(w, h.logger, err)
		return
	}
	t, tenantEvents, leadEvents, err := lead.CreateTenant(uuid.NewString(), in)
	if err == nil {
		err = domain.CheckPlatformZone("domains", t.Domains(), t.Key(), h.zone)
	}
	if err != nil {
		writeError(w, h.logger, err)
		return
	}
	if err := app.CreateLeadTenant(r.Context(), h.store, lead, leadEvents, t, metadata(r), tenantEvents); err != nil {
		writeError(w, h.logger, err)
		return
	}
	w.Header().Set("Location", "/tenants/"+t.ID())
	writeJSON(w, http.StatusCreated, viewOf(t))
}

// list is GET /leads?limit=&cursor= (10203): leads oldest first, a page at
// a time, from the leads projection; "next" continues.
func (h *leadHandlers) list(w http.ResponseWriter, r *http.Request) {
	qs := r.URL.Query()
	limit, bad := intParam(qs.Get("limit"), 50, 200, "limit", map[string]string{})
	if len(bad) > 0 {
		writeError(w, h.logger, &domain.ValidationError{Fields: bad})
		return
	}
	if h.read == nil {
		writeProblem(w, problem{Status: http.StatusServiceUnavailable, Detail: "this process serves no projections"})
		return
	}
	page, next, err := h.read.Leads(r.Context(), qs.Get("cursor"), limit)
	if next != "" {
		next = "/leads?" + url.Values{"cursor": {next}, "limit": {strconv.Itoa(limit)}}.Encode()
	}
	writePage(w, h.logger, "leads", page, next, err)
}
