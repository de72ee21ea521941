package api

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/tenantflow/tenantflow/platform/pii"
)

// Opener opens the sealed personal fields of a JSON document (platform/pii):
// erased people's fields come back as "[erased]".
type Opener interface {
	OpenJSON(ctx context.Context, doc []byte) ([]byte, error)
	OpenFields(ctx context.Context, fields ...*string) error
	// OpenFieldsWith opens with keys read beside the fields
	// (projections.TenantDetail.Keys).
	OpenFieldsWith(stored pii.StoredKeys, fields ...*string) error
}

// openPersonal opens the sealed personal fields in every JSON answer, in
// one place: the log and the projections keep them sealed (the tenant
// views, the lead views and lists all carry contacts), and only an answer
// to a caller the routes admitted shows them. Other answers (the console's
// pages and event streams) pass through untouched.
func openPersonal(open func(r *http.Request, doc []byte) ([]byte, error)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			bw := &jsonBuffer{ResponseWriter: w}
			next.ServeHTTP(bw, r)
			if !bw.buffering {
				return
			}
			body := bw.buf.Bytes()
			if bytes.Contains(body, []byte(`"pii:1:`)) {
				opened, err := open(r, body)
				if err != nil {
					unopenable(w)
					return
				}
				body = append(opened, '\n')
			}
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.WriteHeader(bw.status)
			_, _ = w.Write(body)
		})
	}
}

// unopenable answers that personal data in the answer could not be opened
// (a key that does not unwrap with TENANTFLOW_PII_KEY, a damaged field):
// the server's fault, and nothing sealed or half-opened goes out.
func unopenable(w http.ResponseWriter) {
	http.Error(w, `{"error":"personal data could not be opened"}`, http.StatusInternalServerError)
}

// jsonBuffer holds back a JSON answer until it is complete; anything else
// goes straight through.
type jsonBuffer struct {
	http.ResponseWriter
	buf       bytes.Buffer
	status    int
	decided   bool
	buffering bool
}

func (b *jsonBuffer) decide() {
	if !b.decided {
		b.decided = true
		b.buffering = strings.HasPrefix(b.Header().Get("Content-Type"), "application/json")
	}
}

func (b *jsonBuffer) WriteHeader(status int) {
	b.decide()
	if b.buffering {
		b.status = status
		return
	}
	b.ResponseWriter.WriteHeader(status)
}

func (b *jsonBuffer) Write(p []byte) (int, error) {
	if !b.decided {
		b.WriteHeader(http.StatusOK)
	}
	if b.buffering {
		return b.buf.Write(p)
	}
	return b.ResponseWriter.Write(p)
}

// Flush passes through for streams (the console's events).
func (b *jsonBuffer) Flush() {
	if f, ok := b.ResponseWriter.(http.Flusher); ok && !b.buffering {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection (stream deadlines).
func (b *jsonBuffer) Unwrap() http.ResponseWriter { return b.ResponseWriter }
