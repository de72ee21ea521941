// Package idempotency remembers the first response to a POST that carried an
// Idempotency-Key header, so that a client retrying after a timeout gets
// that response again instead of a second effect. Records live in
// PostgreSQL (table idempotency_keys) and expire after a TTL (24 h default).
package idempotency

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

var (
	// ErrKeyReused: the key was first used with another request (HTTP 422).
	ErrKeyReused = errors.New("this Idempotency-Key was used with a different request")
	// ErrInProgress: the first request with this key is still being handled (HTTP 409).
	ErrInProgress = errors.New("a request with this Idempotency-Key is still in progress")
)

// AbandonedAfter is how long a first request may stay unfinished before a
// retry may take its key over (its process probably died mid-request).
const AbandonedAfter = time.Minute

// Response is a recorded response.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Store keeps the records.
type Store struct {
	pool *pgxpool.Pool
	ttl  time.Duration
}

// New returns a store whose records expire after ttl.
func New(pool *pgxpool.Pool, ttl time.Duration) *Store { return &Store{pool: pool, ttl: ttl} }

// Begin claims the key for a request with this fingerprint. It returns
// (nil, nil) when the caller owns the key and must Finish or Abandon it, the
// recorded response when the same request was answered before, ErrKeyReused
// or ErrInProgress.
func (s *Store) Begin(ctx context.Context, scope, key string, fingerprint []byte) (*Response, error) {
	tag, err := s.pool.Exec(ctx, `
		insert into idempotency_keys (scope, key, fingerprint) values ($1, $2, $3)
		on conflict (scope, key) do update
		   set fingerprint = excluded.fingerprint, created_at = now(), status = null, header = null, body = null
		 where idempotency_keys.created_at < now() - $4::interval
		    or (idempotency_keys.status is null and idempotency_keys.created_at < now() - $5::interval
		        and idempotency_keys.fingerprint = excluded.fingerprint)`,
		scope, key, fingerprint, s.ttl, AbandonedAfter)
	if err != nil {
		return nil, fmt.Errorf("claim idempotency key: %w", err)
	}
	if tag.RowsAffected() == 1 {
		return nil, nil
	}
	var (
		stored []byte
		status *int
		header []byte
		body   []byte
	)
	err = s.pool.QueryRow(ctx, `select fingerprint, status, header, body from idempotency_keys where scope = $1 and key = $2`,
		scope, key).Scan(&stored, &status, &header, &body)
	if errors.Is(err, pgx.ErrNoRows) {
		return s.Begin(ctx, scope, key, fingerprint) // purged meanwhile
	}
	if err != nil {
		return nil, fmt.Errorf("read idempotency key: %w", err)
	}
	switch {
	case !bytes.Equal(stored, fingerprint):
		return nil, ErrKeyReused
	case status == nil:
		return nil, ErrInProgress
	}
	r := &Response{Status: *status, Body: body}
	if err := json.Unmarshal(header, &r.Header); err != nil {
		return nil, fmt.Errorf("recorded header: %w", err)
	}
	return r, nil
}

// Finish records the response to the claimed key.
func (s *Store) Finish(ctx context.Context, scope, key string, r Response) error {
	header, err := json.Marshal(r.Header)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `update idempotency_keys set status = $3, header = $4, body = $5 where scope = $1 and key = $2`,
		scope, key, r.Status, header, r.Body)
	return err
}

// Abandon releases a claimed key without a response (a server error), so a
// retry runs the request again.
func (s *Store) Abandon(ctx context.Context, scope, key string) error {
	_, err := s.pool.Exec(ctx, `delete from idempotency_keys where scope = $1 and key = $2 and status is null`, scope, key)
	return err
}

// ForgetPerson deletes the recorded answers that hold email (any case): an
// erasure must not leave a person in the clear for the records' lifetime
// (the answer to POST /tenants carries the contact). Those keys then run
// their request again if retried.
func (s *Store) ForgetPerson(ctx context.Context, email string) (int64, error) {
	tag, err := s.pool.Exec(ctx, `delete from idempotency_keys where body is not null and strpos(lower(convert_from(body, 'UTF8')), lower($1)) > 0`, email)
	return tag.RowsAffected(), err
}

// Purge deletes expired records and returns how many.
func (s *Store) Purge(ctx context.Context) (int64, error) {
	tag, err := s.pool.Exec(ctx, `delete from idempotency_keys where created_at < now() - $1::interval`, s.ttl)
	return tag.RowsAffected(), err
}
