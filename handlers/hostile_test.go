package handlers_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/handlers/database"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
)

// Keys and names at the edge of what validation lets through — SQL keywords,
// the longest key, quotes and statement separators in names — reach
// PostgreSQL only as quoted identifiers or parameters.
func TestHostileKeysAndNames(t *testing.T) {
	pool := testenv.NewMigratedPool(t)
	db := database.Database{Pool: pool}
	ctx := context.Background()
	for _, key := range []string{"select", "drop", "public", "user", "a123456789"} {
		name := `x'); drop table events; -- "` + key + `"`
		tn, _, err := domain.NewTenant(uuid.NewString(), "", domain.TenantInput{Key: key, Name: name,
			Contact: domain.Contact{Email: "h@example.com", FirstName: `O'Brien`, LastName: `"; --`}})
		if err != nil {
			t.Fatalf("%s passes validation: %v", key, err)
		}
		if _, err := db.Do(ctx, tn); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		var schemas int
		if err := pool.QueryRow(ctx, `select count(*) from information_schema.schemata where schema_name = $1`, "tenant_"+key).Scan(&schemas); err != nil || schemas != 1 {
			t.Fatalf("schema tenant_%s: %d %v", key, schemas, err)
		}
		if err := db.Undo(ctx, tn); err != nil {
			t.Fatalf("undo %s: %v", key, err)
		}
	}
	var events int
	if err := pool.QueryRow(ctx, `select count(*) from events`).Scan(&events); err != nil {
		t.Fatalf("the events table is gone: %v", err)
	}
}
