package keycloak

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"regexp"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// MailBridge is an SMTP server for Keycloak alone, used when Keycloak
// cannot mail the tenant's admin itself (tenantflow has no SMTP server, or
// sends its mails through Novu). Keycloak has no API that hands out a
// set-password link (its maintainers declined one: an admin must not hold
// a user's action token), so the realm's SMTP settings point here: Keycloak
// mails the link to the bridge, which passes the link, and nothing else of
// the mail, to Deliver (tenantflow's own notifier). It accepts only
// authenticated sessions (the realm's SMTP user and password) and only
// Keycloak action-token links; the link is never logged.
type MailBridge struct {
	// PasswordFor is the password of realm's own credentials (the SMTP
	// user is the realm's name): a session relays only links of the realm
	// it signed in as, so a tenant's administrator who reads their realm's
	// SMTP settings can send nothing in another realm's name.
	PasswordFor func(realm string) string
	// Deliver hands the link over; realm is the realm in the link's path.
	// An error refuses the mail (451), so Keycloak's call fails and the
	// admin_user step retries.
	Deliver func(ctx context.Context, realm, recipient, link string) error
	Logger  *slog.Logger
}

// Serve accepts connections on ln until ctx ends.
func (b *MailBridge) Serve(ctx context.Context, ln net.Listener) error {
	s := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &bridgeSession{b: b, ctx: ctx}, nil }))
	s.Domain = "tenantflow-mail-bridge"
	s.AllowInsecureAuth = true // Keycloak reaches it on a private network; the password is still required
	s.MaxMessageBytes = 1 << 20
	s.MaxRecipients = 10
	s.ReadTimeout, s.WriteTimeout = time.Minute, time.Minute
	go func() {
		<-ctx.Done()
		_ = s.Close()
	}()
	err := s.Serve(ln)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

type bridgeSession struct {
	b      *MailBridge
	ctx    context.Context
	authed bool
	realm  string // the realm the session signed in as
	rcpts  []string
}

func (s *bridgeSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *bridgeSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, password string) error {
		if user == "" || subtle.ConstantTimeCompare([]byte(password), []byte(s.b.PasswordFor(user))) != 1 {
			return errors.New("invalid credentials")
		}
		s.authed, s.realm = true, user
		return nil
	}), nil
}

func (s *bridgeSession) Mail(string, *smtp.MailOptions) error {
	if !s.authed {
		return smtp.ErrAuthRequired
	}
	return nil
}

func (s *bridgeSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.rcpts = append(s.rcpts, to)
	return nil
}

func (s *bridgeSession) Data(r io.Reader) error {
	realm, link, err := ActionLink(r)
	if err != nil {
		s.b.Logger.Warn("mail bridge: refused a mail without a Keycloak action link", "error", err)
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "only Keycloak action-token mails are relayed"}
	}
	if realm != s.realm {
		s.b.Logger.Warn("mail bridge: refused a link of another realm", "signed_in_as", s.realm, "link_realm", realm)
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "a realm's credentials relay that realm's links only"}
	}
	for _, to := range s.rcpts {
		if err := s.b.Deliver(s.ctx, realm, to, link); err != nil {
			s.b.Logger.Warn("mail bridge: delivering a set-password link failed", "realm", realm, "error", err)
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "delivery failed; try again"}
		}
		s.b.Logger.Info("mail bridge: set-password link delivered through the notifier", "realm", realm)
	}
	return nil
}

func (s *bridgeSession) Reset()        { s.rcpts = nil }
func (s *bridgeSession) Logout() error { return nil }

var actionLink = regexp.MustCompile(`https?://[^\s"'<>]+/realms/([^/\s"'<>]+)/login-actions/action-token\?[^\s"'<>]+`)

// ActionLink finds the Keycloak action-token link in a mail (its plain-text
// part, or its only part) and the realm it belongs to.
func ActionLink(r io.Reader) (realm, link string, err error) {
	msg, err := mail.ReadMessage(r)
	if err != nil {
		return "", "", fmt.Errorf("not a mail: %w", err)
	}
	texts, err := textParts(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
	if err != nil {
		return "", "", err
	}
	for _, t := range texts {
		if m := actionLink.FindStringSubmatch(t); m != nil {
			return m[1], m[0], nil
		}
	}
	return "", "", errors.New("no action-token link in the mail")
}

// textParts decodes the text/plain parts of a (possibly multipart) body.
func textParts(contentType, encoding string, body io.Reader) ([]string, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if contentType == "" {
		mt, err = "text/plain", nil
	}
	if err != nil {
		return nil, fmt.Errorf("content type %q: %w", contentType, err)
	}
	if strings.HasPrefix(mt, "multipart/") {
		var out []string
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			if err != nil {
				return nil, err
			}
			more, err := textParts(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p)
			if err != nil {
				return nil, err
			}
			out = append(out, more...)
		}
	}
	if mt != "text/plain" {
		return nil, nil
	}
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, &lineJoiner{r: body})
	}
	raw, err := io.ReadAll(io.LimitReader(body, 1<<20))
	if err != nil {
		return nil, err
	}
	return []string{string(raw)}, nil
}

// lineJoiner drops the line breaks of a base64 body.
type lineJoiner struct{ r io.Reader }

func (l *lineJoiner) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	kept := bytes.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, p[:n])
	return copy(p, kept), err
}
