// Package sessions keeps the operator console's sign-ins in PostgreSQL
// (table console_sessions), so that any API replica serves a signed-in
// browser: the cookie holds a random id, the table its SHA-256, the
// subject, the sign-out form's CSRF token and the expiry. Expired rows are
// refused and swept.
package sessions

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Session is one sign-in.
type Session struct {
	Subject   string
	CSRF      string
	ExpiresAt time.Time
}

// ErrNone means no such session, or it has expired.
var ErrNone = errors.New("no such console session")

// Store is the PostgreSQL store.
type Store struct{ pool *pgxpool.Pool }

// New returns the store on pool.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// NewID returns a random token (32 bytes, URL-safe base64).
func NewID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hash(id string) []byte {
	h := sha256.Sum256([]byte(id))
	return h[:]
}

// Create starts a session for subject until expires; it returns the id the
// cookie carries.
func (s *Store) Create(ctx context.Context, subject string, expires time.Time) (id string, sess Session, err error) {
	id, sess = NewID(), Session{Subject: subject, CSRF: NewID(), ExpiresAt: expires}
	_, err = s.pool.Exec(ctx, `insert into console_sessions (id_hash, subject, csrf, expires_at) values ($1, $2, $3, $4)`,
		hash(id), subject, sess.CSRF, expires)
	if err == nil {
		_, _ = s.pool.Exec(ctx, `delete from console_sessions where expires_at < now() - interval '1 hour'`)
	}
	return id, sess, err
}

// Get returns the live session of id, or ErrNone.
func (s *Store) Get(ctx context.Context, id string) (Session, error) {
	var sess Session
	err := s.pool.QueryRow(ctx, `select subject, csrf, expires_at from console_sessions where id_hash = $1 and expires_at > now()`,
		hash(id)).Scan(&sess.Subject, &sess.CSRF, &sess.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return sess, ErrNone
	}
	return sess, err
}

// Delete ends the session of id (signing out).
func (s *Store) Delete(ctx context.Context, id string) error {
	_, err := s.pool.Exec(ctx, `delete from console_sessions where id_hash = $1`, hash(id))
	return err
}
