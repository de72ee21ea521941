package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/tenantflow/tenantflow/platform/idempotency"
)

// IdempotencyStore remembers first responses by Idempotency-Key
// (platform/idempotency in PostgreSQL).
type IdempotencyStore interface {
	Begin(ctx context.Context, scope, key string, fingerprint []byte) (*idempotency.Response, error)
	Finish(ctx context.Context, scope, key string, r idempotency.Response) error
	Abandon(ctx context.Context, scope, key string) error
}

// maxIdempotencyKey bounds the header's length.
const maxIdempotencyKey = 255

// idempotent makes a POST safe to retry. With an Idempotency-Key header the
// first response (any but a 5xx) is recorded for the caller; the same key
// with the same method, path and body then gets that response again, and
// nothing is run twice. The same key with another request is 422; a retry
// while the first is still running is 409. Without the header the request
// runs as it is. It runs after authentication: keys are per token subject,
// or per client address on the public routes; an answer carrying a bearer
// token is never recorded.
func (rt *Router) idempotent(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Idempotency-Key")
		if key == "" || rt.idem == nil {
			next(w, r)
			return
		}
		if len(key) > maxIdempotencyKey {
			writeProblem(w, problem{Status: http.StatusBadRequest, Detail: "the Idempotency-Key header is longer than 255 characters"})
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
		if err != nil {
			writeProblem(w, problem{Status: http.StatusBadRequest, Detail: "the body could not be read"})
			return
		}
		r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), r.Body))
		if len(body) > maxBody {
			next(w, r) // answered 413 by decode; nothing worth recording
			return
		}
		// Keys belong to their caller: the token's subject, or for the
		// public routes the client's address (so nobody replays another
		// client's answer by guessing its key and body).
		scope := "public|" + clientAddr(r, rt.trusted)
		if c := claimsOf(r); c != nil {
			scope = c.Issuer + "|" + c.Who()
		}
		sum := sha256.New()
		for _, part := range [][]byte{[]byte(r.Method), []byte(r.URL.Path), []byte(r.Header.Get("Content-Type")), body} {
			sum.Write(part)
			sum.Write([]byte{0})
		}
		ctx := context.WithoutCancel(r.Context()) // record the outcome even if the client left
		recorded, err := rt.idem.Begin(ctx, scope, key, sum.Sum(nil))
		switch {
		case errors.Is(err, idempotency.ErrKeyReused):
			writeProblem(w, problem{Status: http.StatusUnprocessableEntity, Title: "Idempotency-Key reused", Detail: err.Error()})
			return
		case errors.Is(err, idempotency.ErrInProgress):
			w.Header().Set("Retry-After", "1")
			writeProblem(w, problem{Status: http.StatusConflict, Title: "Request in progress", Detail: err.Error()})
			return
		case err != nil:
			writeError(w, rt.logger, err)
			return
		case recorded != nil:
			for k, vs := range recorded.Header {
				w.Header()[k] = vs
			}
			w.Header().Set("Idempotent-Replayed", "true")
			w.WriteHeader(recorded.Status)
			_, _ = w.Write(recorded.Body)
			return
		}

		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		finished := false
		defer func() {
			if !finished {
				_ = rt.idem.Abandon(ctx, scope, key) // a panic or a 5xx: let a retry run it again
			}
		}()
		next(rec, r)
		if rec.status >= 500 || carriesToken(rec.body.Bytes()) {
			return // not recorded: a retry runs again (a bearer token is never stored)
		}
		header := http.Header{}
		for _, k := range []string{"Content-Type", "Location"} {
			if v := rec.Header().Get(k); v != "" {
				header.Set(k, v)
			}
		}
		if err := rt.idem.Finish(ctx, scope, key, idempotency.Response{Status: rec.status, Header: header, Body: rec.body.Bytes()}); err != nil {
			rt.logger.Error("recording an idempotent response failed; a retry will run the request again", "error", err)
			return
		}
		finished = true
	}
}

// recorder passes a response through and keeps a copy.
type recorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (r *recorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.body.Write(b)
	return r.ResponseWriter.Write(b)
}

// carriesToken reports whether a JSON answer hands out a bearer token (a
// verified lead's): such an answer is never recorded, so no replay of the
// key and body — by anyone — can obtain the token again.
func carriesToken(body []byte) bool {
	var v struct {
		Token *string `json:"token"`
	}
	return json.Unmarshal(body, &v) == nil && v.Token != nil
}
