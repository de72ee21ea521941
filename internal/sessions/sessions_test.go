package sessions_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/internal/sessions"
	"github.com/tenantflow/tenantflow/internal/testenv"
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
	var stored int
	if err := pool.QueryRow(ctx, `select count(*) from console_sessions where id_hash::text like '%' || $1 || '%' or csrf = $1`, id).Scan(&stored); err != nil || stored != 0 {
		t.Fatalf("the id itself is stored (%d rows, %v)", stored, err)
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
