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
	"github.com/tenantflow/tenantflow/platform/auth"
	"github.com/tenantflow/tenantflow/platform/pii"
	"github.com/tenantflow/tenantflow/projections"
)

type leadHandlers struct {
	app      *app.Service
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
	var req leadRequest
	if err := decode(w, r, &req); err != nil {
		writeError(w, h.logger, err)
		return
	}
	in, err := req.input()
	if err != nil {
		writeError(w, h.logger, err)
		return
	}
	token, hash := newVerificationToken()
	admit := func(lead *domain.Lead) error {
		if h.mailer == nil {
			return &errRequest{status: http.StatusServiceUnavailable, detail: "sign-up is not available: no SMTP server is configured"}
		}
		email := strings.ToLower(lead.Contact().Email)
		_, mailDomain, _ := strings.Cut(email, "@")
		// In order, and no further than the first refusal: a refused sign-up
		// spends nothing of the wider limits.
		if err := limited(h.recipients, email, "too many sign-ups for this email address; retry later"); err != nil {
			return err
		}
		if err := limited(h.domains, mailDomain, "too many sign-ups for this email domain; retry later"); err != nil {
			return err
		}
		return limited(h.everyone, "", "too many sign-ups right now; retry later")
	}
	mail := func(lead *domain.Lead) error {
		ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
		defer cancel()
		if err := h.mailer.Send(ctx, lead.Contact().Email, "Confirm your sign-up", verificationMail(lead, token)); err != nil {
			h.logger.Error("verification mail not sent", "lead_id", lead.ID(), "error", err)
			return &errRequest{status: http.StatusServiceUnavailable, detail: "the verification mail could not be sent; nothing was stored; try again later"}
		}
		return nil
	}
	lead, err := h.app.SignUp(r.Context(), in, hash, metadata(r), admit, mail)
	if err != nil {
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
	l, err := h.app.Leads.Get(r.Context(), id)
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
	_, err := h.app.Leads.Update(r.Context(), id, metadata(r), func(l *domain.Lead) ([]domain.Event, error) {
		return l.Verify(hashToken(in.Token), now)
	})
	var ce *app.ConcurrencyError
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
	lead, err := h.app.Leads.Get(r.Context(), id)
	if err == nil && h.personal != nil {
		// The tenant is made of the person, validated and sealed again.
		c, a := lead.Contact(), lead.Address()
		if err = h.personal.OpenFields(r.Context(), append(pii.ContactFields(&c), pii.AddressFields(&a)...)...); err == nil {
			lead = lead.WithPerson(c, a)
		}
	}
	if err != nil {
		writeError(w, h.logger, err)
		return
	}
	t, err := h.app.CreateLeadTenant(r.Context(), lead, in, metadata(r))
	if err != nil {
		writeError(w, h.logger, err)
		return
	}
	w.Header().Set("Location", "/tenants/"+t.ID())
	writeJSON(w, http.StatusCreated, projections.ViewOf(t))
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
