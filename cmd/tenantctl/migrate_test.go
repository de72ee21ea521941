package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
)

func TestMigrateAppliesOnceThenReportsUpToDate(t *testing.T) {
	// The runtime role could not create the tables: migrate uses the owner's URL.
	owner := testenv.NewDatabase(t)
	t.Setenv("TENANTFLOW_DATABASE_MIGRATE_URL", owner)
	t.Setenv("TENANTFLOW_DATABASE_URL", testenv.RuntimeURL(t, owner))
	var out bytes.Buffer
	if err := (migrateCmd{}).run(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "applied 00001_event_log.sql") || !strings.Contains(out.String(), "event log healthy") {
		t.Fatalf("first run:\n%s", out.String())
	}
	out.Reset()
	if err := (migrateCmd{RepairAfterRestore: true}).run(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "schema up to date") || !strings.Contains(out.String(), "0 events and 0 checkpoints") {
		t.Fatalf("second run:\n%s", out.String())
	}
}

func TestMigrateRefusesAnInvalidConfig(t *testing.T) {
	t.Setenv("TENANTFLOW_DATABASE_URL", "mysql://nope")
	if err := (migrateCmd{}).run(context.Background(), &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "TENANTFLOW_DATABASE_URL") {
		t.Fatalf("got %v", err)
	}
}
