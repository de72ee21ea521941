package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/minio/minio-go/v7"
	"github.com/tenantflow/tenantflow/app"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/handlers/database"
	"github.com/tenantflow/tenantflow/handlers/storage"
	"github.com/tenantflow/tenantflow/internal/testkit/devsteps"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
)

// `tenantctl export-tenant` copies a live tenant's schema (a dump
// pg_restore reads, with the tenant's table) and its bucket's objects into
// a new archive directory with SHA-256 sums — on the dev stack's
// PostgreSQL and S3 server; a tenant that is not live is refused and
// nothing is written.
func TestExportTenant(t *testing.T) {
	ctx := context.Background()
	pool := testenv.NewMigratedPool(t)
	t.Setenv("TENANTFLOW_DATABASE_URL", pool.Config().ConnString())
	t.Setenv("TENANTFLOW_TENANT_DATABASE_URL", "") // the tenant's schema in the same database
	store := eventstore.NewPostgres(pool, nil)
	t.Cleanup(store.Close)
	tenants := app.Tenants(store)
	s3 := devsteps.S3(t)
	db := database.Database{Pool: pool}

	key := testenv.UniqueKey("x")
	tn, created, err := domain.NewTenant(uuid.NewString(), "", domain.TenantInput{Key: key, Name: "Export",
		Contact: domain.Contact{Email: key + "@example.com", FirstName: "E", LastName: "X"}})
	if err != nil {
		t.Fatal(err)
	}
	md := app.Metadata{Actor: "test"}
	if err := app.CreateTenant(ctx, store, tn, md, created); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s3.Undo(context.Background(), tn); _ = db.Undo(context.Background(), tn) })
	archive := t.TempDir()
	if err := (exportTenantCmd{Tenant: key, To: archive}).run(ctx, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "PENDING_PROVISION") {
		t.Fatalf("a tenant that is not live: %v", err)
	}
	if entries, _ := os.ReadDir(archive); len(entries) != 0 {
		t.Fatalf("a refused export wrote %d entries", len(entries))
	}

	made := map[string]domain.StepOutcome{}
	dbRes, err := db.Do(ctx, tn)
	if err != nil {
		t.Fatal(err)
	}
	s3Res, err := s3.Do(ctx, tn)
	if err != nil {
		t.Fatal(err)
	}
	made[domain.StepDatabase] = domain.StepOutcome{Outcome: domain.OutcomeCompleted, Resources: dbRes.Resources}
	made[domain.StepStorage] = domain.StepOutcome{Outcome: domain.OutcomeCompleted, Resources: s3Res.Resources}
	if _, err := tenants.Update(ctx, tn.ID(), md, func(tn *domain.Tenant) ([]domain.Event, error) {
		var all []domain.Event
		keep := func(evs []domain.Event, err error) {
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, evs...)
		}
		keep(tn.RequestProvisioning(domain.Subscription{ID: "s", SubscriberID: "c", PlanID: "p", StartDate: time.Now(),
			Plan: domain.Plan{ID: "p", Name: "P", Tier: "pooled", CurrencyID: "EUR", BillingCycleID: "monthly"}}, domain.DefaultTiers))
		return append(all, testenv.Activate(t, tn, made)...), nil
	}); err != nil {
		t.Fatal(err)
	}
	schema := database.SchemaName(tn)
	if _, err := pool.Exec(ctx, `create table "`+schema+`".invoices (id int primary key, note text); insert into "`+schema+`".invoices values (1, 'kept')`); err != nil {
		t.Fatal(err)
	}
	if _, err := s3.Client.PutObject(ctx, storage.BucketName(tn), "reports/2026.csv", strings.NewReader("a,b\n1,2\n"), 8, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}

	var out bytes.Buffer
	if err := (exportTenantCmd{Tenant: key, To: archive}).run(ctx, &out); err != nil {
		t.Fatal(err)
	}
	dirs, _ := filepath.Glob(filepath.Join(archive, key+"-*"))
	if len(dirs) != 1 {
		t.Fatalf("archive holds %v", dirs)
	}
	var m manifest
	raw, err := os.ReadFile(filepath.Join(dirs[0], "manifest.json"))
	if err != nil || json.Unmarshal(raw, &m) != nil {
		t.Fatalf("manifest: %v\n%s", err, raw)
	}
	if m.TenantID != tn.ID() || m.Schema != schema || m.Bucket != storage.BucketName(tn) || m.Objects != 1 || m.Bytes != 8 ||
		m.SHA256["database.dump"] == "" || m.SHA256["bucket/reports/2026.csv"] == "" {
		t.Fatalf("manifest %+v", m)
	}
	if got, _ := os.ReadFile(filepath.Join(dirs[0], "bucket", "reports", "2026.csv")); string(got) != "a,b\n1,2\n" {
		t.Fatalf("the object reads %q", got)
	}
	list, err := exec.Command("pg_restore", "--list", filepath.Join(dirs[0], "database.dump")).CombinedOutput()
	if err != nil || !strings.Contains(string(list), "TABLE DATA "+schema+" invoices") {
		t.Fatalf("pg_restore --list: %v\n%s", err, list)
	}
}
