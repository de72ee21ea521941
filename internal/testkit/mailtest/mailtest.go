// Package mailtest reads the mails the dev stack's SMTP server received: it
// writes each into a Maildir (TENANTFLOW_DEVSTACK_MAILDIR), one file per mail.
package mailtest

import (
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
)

// Mail is one received mail.
type Mail struct {
	To, Subject, Body string
}

// SMTPAddr is the dev stack's SMTP server.
func SMTPAddr(t testing.TB) string {
	return testenv.Require(t, "TENANTFLOW_SMTP_ADDR")["TENANTFLOW_SMTP_ADDR"]
}

// WaitFor waits until a mail to the recipient arrives and returns it; it
// fails the test after timeout. Recipients should be unique per test.
func WaitFor(t testing.TB, to string, timeout time.Duration) Mail {
	t.Helper()
	return WaitForSubject(t, to, "", timeout)
}

// WaitForSubject waits for a mail to the recipient whose subject contains
// subject.
func WaitForSubject(t testing.TB, to, subject string, timeout time.Duration) Mail {
	t.Helper()
	dir := testenv.Require(t, "TENANTFLOW_DEVSTACK_MAILDIR")["TENANTFLOW_DEVSTACK_MAILDIR"]
	deadline := time.Now().Add(timeout)
	for {
		if m, ok := find(t, dir, to, subject); ok {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("no mail to %s with subject %q arrived in %s within %s", to, subject, dir, timeout)
		}
		time.Sleep(20 * time.Millisecond) // polling a folder: there is nothing to wait on
	}
}

// Count returns how many mails to the recipient have arrived.
func Count(t testing.TB, to string) int {
	t.Helper()
	dir := testenv.Require(t, "TENANTFLOW_DEVSTACK_MAILDIR")["TENANTFLOW_DEVSTACK_MAILDIR"]
	n := 0
	each(t, dir, func(m Mail) bool {
		if strings.EqualFold(m.To, to) {
			n++
		}
		return true
	})
	return n
}

// Subjects returns the subjects of every mail that has arrived, by
// recipient (lower case), in one pass over the folder.
func Subjects(t testing.TB) map[string][]string {
	t.Helper()
	dir := testenv.Require(t, "TENANTFLOW_DEVSTACK_MAILDIR")["TENANTFLOW_DEVSTACK_MAILDIR"]
	out := map[string][]string{}
	each(t, dir, func(m Mail) bool {
		to := strings.ToLower(m.To)
		out[to] = append(out[to], m.Subject)
		return true
	})
	return out
}

func find(t testing.TB, dir, to, subject string) (found Mail, ok bool) {
	each(t, dir, func(m Mail) bool {
		if strings.EqualFold(m.To, to) && strings.Contains(m.Subject, subject) {
			found, ok = m, true
			return false
		}
		return true
	})
	return found, ok
}

func each(t testing.TB, dir string, fn func(Mail) bool) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "new", "*"))
	for _, f := range files {
		raw, err := os.Open(f)
		if err != nil {
			continue // moved meanwhile
		}
		msg, err := mail.ReadMessage(raw)
		if err != nil {
			raw.Close()
			t.Fatalf("mail %s does not parse: %v", f, err)
		}
		text := msg.Body // as the recipient reads it:
		if strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
			text = quotedprintable.NewReader(msg.Body)
		}
		body, _ := io.ReadAll(text)
		raw.Close()
		to := msg.Header.Get("To")
		if addr, err := mail.ParseAddress(to); err == nil {
			to = addr.Address
		}
		// A subject that is not ASCII arrives as RFC 2047 encoded words.
		subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
		if err != nil {
			t.Fatalf("mail %s: subject: %v", f, err)
		}
		if !fn(Mail{To: to, Subject: subject, Body: string(body)}) {
			return
		}
	}
}
