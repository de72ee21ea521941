package postgres

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
)

// TestQueryThroughPgxOnRealPostgres proves the dev stack's database is a real
// PostgreSQL 15+ and that pgx round-trips parameters: a transaction writes a
// row and reads it back.
func TestQueryThroughPgxOnRealPostgres(t *testing.T) {
	url := testenv.DatabaseURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	var version int
	var app string
	if err := pool.QueryRow(ctx, `select current_setting('server_version_num')::int, current_setting('application_name')`).Scan(&version, &app); err != nil {
		t.Fatal(err)
	}
	if version < 150000 {
		t.Errorf("server_version_num = %d, want PostgreSQL 15 or newer", version)
	}
	if app != "tenantflow" {
		t.Errorf("application_name = %q, want tenantflow", app)
	}

	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `create temp table smoke (id int primary key, v text) on commit drop`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `insert into smoke values ($1, $2)`, 1, "hello"); err != nil {
			return err
		}
		var v string
		if err := tx.QueryRow(ctx, `select v from smoke where id = $1`, 1).Scan(&v); err != nil {
			return err
		}
		if v != "hello" {
			t.Errorf("read back %q", v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestOpenRejectsABadURLWithoutEchoingIt(t *testing.T) {
	_, err := Open(context.Background(), "postgres://u:s3cret@host:notaport/db")
	if err == nil {
		t.Fatal("bad URL accepted")
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("error leaks the password: %v", err)
	}
}
