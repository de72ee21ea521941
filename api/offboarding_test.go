package api

import (
	"net/http"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/app"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/internal/testkit/tenanttest"
	"github.com/tenantflow/tenantflow/platform/auth"
)

// With a retention period, DELETE of an ACTIVE tenant suspends it and
// says when it is purged; sent again it changes nothing; a restore inside
// the period brings the tenant back, and a second one has nothing to
// restore.
func TestDeleteKeepsForTheRetentionPeriod(t *testing.T) {
	e := newAPI(t, func(d *Deps) { d.OffboardRetention = 72 * time.Hour })
	admin := e.token(t, auth.CreateTenant, auth.ViewTenant, auth.DeleteTenant)
	id := e.do(t, "POST", "/tenants", admin, js, tenantBody("offb")).body["id"].(string)
	e.billed(t, id)

	if r := e.do(t, "POST", "/tenants/"+id+"/restore", admin, js, []byte(`{}`)); r.status != http.StatusConflict {
		t.Fatalf("restoring a tenant nobody deleted: %d %v", r.status, r.body)
	}
	r := e.do(t, "DELETE", "/tenants/"+id, admin, "", nil)
	purgeAt, _ := time.Parse(time.RFC3339, r.body["purgeAt"].(string))
	if r.status != http.StatusAccepted || time.Until(purgeAt) < 71*time.Hour || time.Until(purgeAt) > 73*time.Hour {
		t.Fatalf("DELETE: %d %v, want 202 and a purge in 72 h", r.status, r.body)
	}
	if c := e.do(t, "GET", "/tenants/"+id+"/change", admin, "", nil).body; c["change"] != domain.ChangeSuspend || c["source"] != domain.SourceOffboarding {
		t.Fatalf("the offboarding's suspension: %v", c)
	}
	before := e.eventCount(t)
	if r := e.do(t, "DELETE", "/tenants/"+id, admin, "", nil); r.status != http.StatusAccepted || r.body["purgeAt"] == nil || e.eventCount(t) != before {
		t.Fatalf("DELETE again: %d %v, %d new events", r.status, r.body, e.eventCount(t)-before)
	}
	if r := e.do(t, "POST", "/tenants/"+id+"/restore", admin, js, []byte(`{}`)); r.status != http.StatusConflict {
		t.Fatalf("restoring while the suspension runs: %d %v", r.status, r.body)
	}
	tenanttest.FinishChange(t, app.Tenants(e.store), id)
	if r := e.do(t, "GET", "/tenants/"+id, admin, "", nil); r.body["status"] != "SUSPENDED" {
		t.Fatalf("kept: %v", r.body["status"])
	}
	if r := e.do(t, "POST", "/tenants/"+id+"/restore", admin, js, []byte(`{"reason":"came back"}`)); r.status != http.StatusAccepted || r.body["purgeAt"] != nil {
		t.Fatalf("restore: %d %v", r.status, r.body)
	}
	if c := e.do(t, "GET", "/tenants/"+id+"/change", admin, "", nil).body; c["change"] != domain.ChangeReactivate || c["source"] != domain.SourceRestore {
		t.Fatalf("the restore's reactivation: %v", c)
	}
	tenanttest.FinishChange(t, app.Tenants(e.store), id)
	if r := e.do(t, "GET", "/tenants/"+id, admin, "", nil); r.body["status"] != "ACTIVE" {
		t.Fatalf("restored: %v", r.body["status"])
	}
	if r := e.do(t, "POST", "/tenants/"+id+"/restore", admin, js, []byte(`{}`)); r.status != http.StatusConflict {
		t.Fatalf("a second restore: %d %v", r.status, r.body)
	}
	if r := e.do(t, "POST", "/tenants/"+id+"/restore", e.token(t, auth.ViewTenant), js, []byte(`{}`)); r.status != http.StatusForbidden {
		t.Fatalf("a restore without 10206: %d", r.status)
	}
}
