package keycloak

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/smtp"
	"strings"
	"sync"
	"testing"
)

// The bridge relays nothing but a Keycloak action link, and only for a
// session that authenticated with that realm's own SMTP credentials.
func TestMailBridgeRelaysOnlyAuthenticatedActionLinks(t *testing.T) {
	var mu sync.Mutex
	var got []string
	passwords := map[string]string{"tenant-acme": "s3cret", "tenant-beta": "other-s3cret"}
	b := &MailBridge{PasswordFor: func(realm string) string { return passwords[realm] }, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Deliver: func(_ context.Context, realm, to, link string) error {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, realm+" "+to+" "+link)
			return nil
		}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()
	addr := ln.Addr().String()

	// Keycloak's mail: multipart, the text part quoted-printable, the link soft-wrapped.
	link := "http://127.0.0.1:18080/realms/tenant-acme/login-actions/action-token?key=eyJhbGciOiJIUzUxMiJ9.eyJleHAiOjE3.sig-nature_x&client_id=account-console&tab_id=Ab1"
	qp := strings.ReplaceAll(link, "=", "=3D")
	qp = qp[:70] + "=\r\n" + qp[70:]
	keycloakMail := "From: no-reply@tenantflow.localhost\r\nTo: ada@acme.io\r\nSubject: Update Your Account\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
		"Your administrator has just requested that you update your account. Click on the link below:\r\n\r\n" + qp + "\r\n\r\n" +
		"--b1\r\nContent-Type: text/html; charset=UTF-8\r\n\r\n<a href=\"http://evil.example/\">x</a>\r\n--b1--\r\n"
	auth := smtp.PlainAuth("", "tenant-acme", "s3cret", "127.0.0.1")
	if err := smtp.SendMail(addr, auth, "no-reply@tenantflow.localhost", []string{"ada@acme.io"}, []byte(keycloakMail)); err != nil {
		t.Fatalf("Keycloak's mail: %v", err)
	}
	if len(got) != 1 || got[0] != "tenant-acme ada@acme.io "+link {
		t.Fatalf("delivered %q, want the link of tenant-acme", got)
	}

	spam := "From: x@example.com\r\nTo: ada@acme.io\r\nSubject: hi\r\n\r\nvisit http://evil.example/ now\r\n"
	if err := smtp.SendMail(addr, auth, "x@example.com", []string{"ada@acme.io"}, []byte(spam)); err == nil || !strings.Contains(err.Error(), "554") {
		t.Errorf("a mail without an action link: %v, want 554", err)
	}
	// Another realm's credentials (its administrator read them) relay
	// nothing of this realm's.
	beta := smtp.PlainAuth("", "tenant-beta", "other-s3cret", "127.0.0.1")
	if err := smtp.SendMail(addr, beta, "x@example.com", []string{"ada@acme.io"}, []byte(keycloakMail)); err == nil || !strings.Contains(err.Error(), "554") {
		t.Errorf("tenant-acme's link sent with tenant-beta's credentials: %v, want 554", err)
	}
	wrong := smtp.PlainAuth("", "tenant-acme", "guess", "127.0.0.1")
	if err := smtp.SendMail(addr, wrong, "x@example.com", []string{"ada@acme.io"}, []byte(keycloakMail)); err == nil {
		t.Error("a wrong password was accepted")
	}
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("x@example.com"); err == nil {
		t.Error("MAIL without AUTH was accepted")
	}
	_ = c.Close()
	if len(got) != 1 {
		t.Errorf("refused mails were delivered: %q", got)
	}
}
