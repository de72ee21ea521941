package smtp_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/tenantflow/tenantflow/adapters/smtp"
	"github.com/tenantflow/tenantflow/internal/testkit/mailtest"
)

// Sends through the dev stack's real SMTP server and reads the mail back
// from the folder it writes to.
func TestSendArrives(t *testing.T) {
	m, err := smtp.New(smtp.Settings{Addr: mailtest.SMTPAddr(t), From: "tenantflow <no-reply@tenantflow.localhost>", TLS: "opportunistic"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
	to := "smtp-" + uuid.NewString()[:8] + "@example.com"
	if err := m.Send(ctx, to, "Hello", "line one\nline two"); err != nil {
		t.Fatal(err)
	}
	got := mailtest.WaitFor(t, to, 10*time.Second)
	if got.Subject != "Hello" || !strings.Contains(got.Body, "line two") {
		t.Fatalf("received %+v", got)
	}
}

func TestSendToUnreachableServerFails(t *testing.T) {
	m, err := smtp.New(smtp.Settings{Addr: "127.0.0.1:1", From: "a@example.com", TLS: "none", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Send(context.Background(), "b@example.com", "s", "b"); err == nil {
		t.Fatal("sending to a closed port succeeded")
	}
	if err := m.Ping(context.Background()); err == nil {
		t.Fatal("ping of a closed port succeeded")
	}
}

func TestBadSettings(t *testing.T) {
	for _, s := range []smtp.Settings{{Addr: "nohostport", TLS: "none"}, {Addr: "h:x", TLS: "none"}, {Addr: "h:25", TLS: "sometimes"}} {
		if _, err := smtp.New(s); err == nil {
			t.Errorf("%+v accepted", s)
		}
	}
}
