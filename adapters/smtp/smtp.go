// Package smtp sends tenantflow's mails (sign-up verification, later the
// welcome mail) over SMTP with go-mail.
package smtp

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/wneessen/go-mail"
)

// Settings say where and how to send.
type Settings struct {
	Addr     string // host:port
	From     string // "Name <address>"
	User     string // empty: no authentication
	Password string
	TLS      string // opportunistic, mandatory or none
	Timeout  time.Duration
}

// Mailer sends plain-text mails. It is safe for concurrent use: every Send
// opens its own connection, so one slow server conversation blocks no other.
type Mailer struct {
	s    Settings
	host string
	port int
	opts []mail.Option
}

// New checks the settings; it does not connect.
func New(s Settings) (*Mailer, error) {
	host, p, err := net.SplitHostPort(s.Addr)
	if err != nil {
		return nil, fmt.Errorf("smtp address %q: %w", s.Addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return nil, fmt.Errorf("smtp port %q: %w", p, err)
	}
	if s.Timeout <= 0 {
		s.Timeout = 10 * time.Second
	}
	policy := map[string]mail.TLSPolicy{"opportunistic": mail.TLSOpportunistic, "mandatory": mail.TLSMandatory, "none": mail.NoTLS}
	tls, ok := policy[s.TLS]
	if !ok {
		return nil, fmt.Errorf("smtp TLS policy %q is not one of opportunistic, mandatory, none", s.TLS)
	}
	opts := []mail.Option{mail.WithPort(port), mail.WithTLSPolicy(tls), mail.WithTimeout(s.Timeout)}
	if s.User != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover), mail.WithUsername(s.User), mail.WithPassword(s.Password))
	}
	return &Mailer{s: s, host: host, port: port, opts: opts}, nil
}

// Send delivers one plain-text mail to the server, or returns why not.
func (m *Mailer) Send(ctx context.Context, to, subject, body string) error {
	msg := mail.NewMsg()
	if err := msg.From(m.s.From); err != nil {
		return fmt.Errorf("sender: %w", err)
	}
	if err := msg.To(to); err != nil {
		return fmt.Errorf("recipient: %w", err)
	}
	msg.Subject(subject)
	msg.SetDate()
	msg.SetMessageID()
	msg.SetBodyString(mail.TypeTextPlain, body)
	client, err := mail.NewClient(m.host, m.opts...)
	if err != nil {
		return fmt.Errorf("smtp client: %w", err)
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("send mail via %s: %w", m.s.Addr, err)
	}
	return nil
}

// Ping checks that the server answers with an SMTP greeting (readiness).
func (m *Mailer) Ping(ctx context.Context) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", m.s.Addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	greeting := make([]byte, 3)
	if _, err := io.ReadFull(conn, greeting); err != nil {
		return fmt.Errorf("no SMTP greeting: %w", err)
	}
	if string(greeting) != "220" {
		return fmt.Errorf("SMTP greeting %q, want 220", greeting)
	}
	return nil
}
