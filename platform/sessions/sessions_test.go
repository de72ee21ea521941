package sessions_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
	"github.com/tenantflow/tenantflow/platform/sessions"
)

// Sessions live in PostgreSQL: any replica finds one; the table holds the
// id's hash, not the id; an expired or deleted session is gone.
func TestSessionsInPostgreSQL(t *testing.T) {
	pool := testenv.NewMigratedPool(t)
	ctx := context.Background()
	s, other := sessions.New(pool), sessions.New(pool) // two replicas
	id, sess, err := s.Create(ctx, "ops", time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	got, err := other.Get(ctx, id)
	if err != nil || got.Subject != "ops" || got.CSRF != sess.CSRF || got.CSRF == "" {
		t.Fatalf("another replica's read: %+v %v", got, err)
	}
	sum := sha256.Sum256([]byte(id))
	var hashed, raw int
	if err := pool.QueryRow(ctx, `select count(*) filter (where id_hash = $1), count(*) filter (where id_hash = $2 or csrf = $3)
		from console_sessions`, sum[:], []byte(id), id).Scan(&hashed, &raw); err != nil || hashed != 1 || raw != 0 {
		t.Fatalf("rows by the id's hash %d (want 1), by the id itself %d (want 0): %v", hashed, raw, err)
	}
	if _, err := s.Get(ctx, sessions.NewID()); !errors.Is(err, sessions.ErrNone) {
		t.Fatalf("an unknown id: %v", err)
	}
	old, _, err := s.Create(ctx, "ops", time.Now().Add(-time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, old); !errors.Is(err, sessions.ErrNone) {
		t.Fatalf("an expired session: %v", err)
	}
	if err := other.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, id); !errors.Is(err, sessions.ErrNone) {
		t.Fatalf("a signed-out session: %v", err)
	}
}
