package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tenantflow/tenantflow/app"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
	"github.com/tenantflow/tenantflow/platform/auth"
	"github.com/tenantflow/tenantflow/platform/idempotency"
	"github.com/tenantflow/tenantflow/projections"
)

// A request that finds the event log unusable — a database whose
// migrations have not run yet (a tenantd serving before another has
// migrated), or PostgreSQL not answering — is told to come back (503 with
// Retry-After), never 500, and no mail goes out.
func TestUnavailableEventLogIs503(t *testing.T) {
	for _, tc := range []struct{ name, url string }{
		{"not migrated", testenv.NewDatabase(t)},
		{"not answering", "postgres://tenantflow@127.0.0.1:1/none?connect_timeout=2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool, err := pgxpool.New(context.Background(), tc.url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(pool.Close)
			store := eventstore.NewPostgres(pool, quietLogger())
			t.Cleanup(store.Close)
			signer, _ := auth.NewHS256(testSecret, "tenantflow")
			mailer := &recordingMailer{}
			rt := NewRouter(nil, time.Second)
			rt.Mount(Deps{App: app.NewService(store, ""), Tenants: &projections.Engine{Pool: pool, Log: store, Projectors: projections.All(), Logger: quietLogger()},
				Verifier: signer, Minter: signer, Mailer: mailer, Idempotency: idempotency.New(pool, time.Hour),
				LeadRate: 1000, LeadTokenTTL: time.Minute, Logger: quietLogger()})
			srv := httptest.NewServer(rt)
			t.Cleanup(srv.Close)
			e := &apiEnv{srv: srv, signer: signer}
			admin := e.token(t, auth.CreateLead, auth.ViewLead, auth.CreateTenant, auth.UpdateTenant, auth.DeleteTenant, auth.ViewTenant, auth.ProvisionTenant)
			id := uuid.NewString()
			for _, r := range []struct {
				method, path string
				body         []byte
				header       map[string]string
			}{
				{"GET", "/tenants/" + id, nil, nil},
				{"GET", "/tenants", nil, nil},
				{"GET", "/tenants/" + id + "/events", nil, nil},
				{"POST", "/tenants", tenantBody("down"), nil},
				{"POST", "/tenants", tenantBody("down"), map[string]string{"Idempotency-Key": uuid.NewString()}},
				{"POST", "/tenants/" + id + "/provision", []byte(`{}`), nil},
				{"DELETE", "/tenants/" + id, nil, nil},
				{"POST", "/leads", leadBody("down@example.com"), nil},
				{"GET", "/leads/" + id, nil, nil},
				{"GET", "/stats/provisioning", nil, nil},
			} {
				got := e.doHeader(t, r.method, r.path, admin, js, r.body, r.header)
				if got.status != http.StatusServiceUnavailable || got.header.Get("Retry-After") == "" ||
					got.header.Get("Content-Type") != "application/problem+json" {
					t.Errorf("%s %s: %d (Retry-After %q, %s) %v; want 503 with Retry-After, a problem document",
						r.method, r.path, got.status, got.header.Get("Retry-After"), got.header.Get("Content-Type"), got.body)
				}
			}
			mailer.mu.Lock()
			defer mailer.mu.Unlock()
			if mailer.sent != 0 {
				t.Errorf("%d mails sent while nothing could be stored", mailer.sent)
			}
		})
	}
}
