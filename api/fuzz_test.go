package api

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/tenantflow/tenantflow/app"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
	"github.com/tenantflow/tenantflow/platform/auth"
)

// recordingMailer is a test double for the fuzz target (which tests
// decoding and validation) and for counting mails that must not go out;
// real mail is tested against the dev stack.
type recordingMailer struct {
	mu   sync.Mutex
	sent int
}

func (m *recordingMailer) Send(context.Context, string, string, string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent++
	return nil
}

// FuzzPostBodies sends arbitrary bodies to every POST, PUT and PATCH route: whatever
// arrives, the answer is never a 5xx and nothing panics. It runs on the
// in-memory store (same contract as PostgreSQL) so that a fuzzing session
// tries many inputs a second: go test -fuzz FuzzPostBodies ./api/
func FuzzPostBodies(f *testing.F) {
	seeds := [][]byte{
		leadBody("a@example.com"), tenantBody("acme"), subscriptionBody(),
		[]byte(`{"token":"x"}`), []byte(`{"key":"acme","domains":["a.example.com"]}`),
		[]byte(`{}`), []byte(`null`), []byte(`[]`), []byte(`{"key":1}`), []byte(`{"contact":{"email":"\u0000@x"}}`),
		[]byte(`{"startDate":"not a date"}`), []byte(`{"plan":{"metaData":{"a":[1,{"b":null}]}}}`), []byte(`{"key":"a","domains":["-x-.."]}`),
		[]byte(testenv.ReplacedSystemRequest("c", "k")), []byte(`{"plan":{"sizeConfig":[],"metaData":{"pipelineName":7}}}`),
		[]byte(`{"key":"feature.flags","value":{"beta":true,"limits":[1,2]}}`), []byte(`{"value":null}`), []byte(`{"key":"-x","value":1}`),
		[]byte(`{"name":"N","contacts":[{"email":"a@example.com","firstName":"a","lastName":"b","primary":true},{"email":"c@example.com","firstName":"c","lastName":"d","primary":false}],"domains":["x.example.com"]}`),
		[]byte(`{"contacts":[{"email":"a@example.com","firstName":"a","lastName":"b"}]}`), []byte(`{"domains":null,"name":null}`),
	}
	for route := range 8 {
		for _, s := range seeds {
			f.Add(uint8(route), s)
		}
	}
	store := eventstore.NewMemory()
	signer, _ := auth.NewHS256(testSecret, "tenantflow")
	rt := NewRouter(nil, time.Second)
	rt.Mount(Deps{Tiers: testenv.DevTiers, App: app.NewService(store, ""), Verifier: signer, Minter: signer, Mailer: &recordingMailer{}, LeadRate: 1 << 30,
		LeadTokenTTL: time.Minute, Logger: quietLogger()})
	admin, _ := signer.Mint("fuzz", auth.Known, "", time.Hour, time.Now())

	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		// A fresh verified lead and tenant each time, so bodies reach validation.
		ctx := context.Background()
		lead, evs, _ := domain.NewLead(uuid.NewString(), domain.LeadInput{FirstName: "a", LastName: "b", Email: "a@example.com", CompanyName: "c"}, hashToken("t"), time.Now())
		more, _ := lead.Verify(hashToken("t"), time.Now())
		if err := app.Leads(store).Create(ctx, lead.ID(), eventstore.Metadata{}, append(evs, more...)); err != nil {
			t.Fatal(err)
		}
		tenant, tevs, _ := domain.NewTenant(uuid.NewString(), "", domain.TenantInput{Key: "k", Name: "n",
			Contact: domain.Contact{Email: "a@example.com", FirstName: "a", LastName: "b"}})
		if err := app.Tenants(store).Create(ctx, tenant.ID(), eventstore.Metadata{}, tevs); err != nil {
			t.Fatal(err)
		}
		if _, err := app.TenantConfigs(store).Update(ctx, tenant.ID(), eventstore.Metadata{}, func(c *domain.TenantConfig) ([]domain.Event, error) {
			return c.Set(tenant.ID(), "feature.flags", []byte(`{}`), true, time.Now())
		}); err != nil {
			t.Fatal(err)
		}
		routes := [][2]string{{http.MethodPost, "/leads"}, {http.MethodPost, "/leads/" + lead.ID() + "/verify"}, {http.MethodPost, "/leads/" + lead.ID() + "/tenants"},
			{http.MethodPost, "/tenants"}, {http.MethodPost, "/tenants/" + tenant.ID() + "/provision"},
			{http.MethodPost, "/tenants/" + tenant.ID() + "/config"}, {http.MethodPut, "/tenants/" + tenant.ID() + "/config/feature.flags"},
			{http.MethodPatch, "/tenants/" + tenant.ID()}}
		rte := routes[int(route)%len(routes)]
		req := httptest.NewRequest(rte[0], rte[1], bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+admin)
		w := httptest.NewRecorder()
		rt.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%s answered %d to %q: %s", req.URL.Path, w.Code, body, w.Body.String())
		}
	})
}
