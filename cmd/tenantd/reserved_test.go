package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
	"github.com/tenantflow/tenantflow/platform/auth"
)

// Inside the platform's zone each tenant's <key>.<zone> is reserved for
// that tenant: another one asking for it (or a name under it) as its own
// domain — on creation or by a change — is refused with 400, so it cannot
// squat the name and make the owner's dns step fail. Its own name and the
// names under it, and domains outside the zone, are accepted.
func TestPlatformNamesAreReserved(t *testing.T) {
	env := devStackEnv(t)
	for k, v := range testenv.Require(t, "TENANTFLOW_DNS_SERVER", "TENANTFLOW_DNS_ZONE", "TENANTFLOW_DNS_TSIG_NAME", "TENANTFLOW_DNS_TSIG_SECRET") {
		env[k] = v
	}
	env["TENANTFLOW_JWT_SECRET"] = "tenantd-test-secret-tenantd-test-secret"
	p := start(t, env)
	p.readyzUntil(t, "ready", isReady)
	signer, _ := auth.NewHS256(env["TENANTFLOW_JWT_SECRET"], "tenantflow")
	tok, _ := signer.Mint("tester", []string{auth.CreateTenant, auth.UpdateTenant, auth.ViewTenant}, "", time.Hour, time.Now())
	zone := strings.TrimSuffix(env["TENANTFLOW_DNS_ZONE"], ".")
	n := time.Now().UnixNano() % 1_000_000
	victim, squatter := fmt.Sprintf("v%d", n), fmt.Sprintf("s%d", n)
	body := func(key string, domains ...string) string {
		return `{"key":"` + key + `","name":"N","domains":["` + strings.Join(domains, `","`) + `"],"contact":{"email":"` + key + `@example.com","firstName":"A","lastName":"B"}}`
	}
	p.createTenant(t, tok, body(victim, "www."+victim+".example.com"))
	for _, d := range []string{victim + "." + zone, "shop." + victim + "." + zone} {
		if code, out := p.send(t, tok, http.MethodPost, "/tenants", body(squatter, d)); code != http.StatusBadRequest {
			t.Errorf("a tenant asking for %s: %d %v, want 400", d, code, out)
		}
	}
	id := strings.TrimPrefix(p.createTenant(t, tok, body(squatter, "shop."+squatter+"."+zone, "www.squat.example.com")), "/tenants/")
	if code, out := p.send(t, tok, http.MethodPatch, "/tenants/"+id, `{"domains":["`+victim+`.`+zone+`"]}`); code != http.StatusBadRequest {
		t.Errorf("a change to another tenant's name: %d %v, want 400", code, out)
	}
	if code, out := p.send(t, tok, http.MethodGet, "/tenants/"+id, ""); code != http.StatusOK || fmt.Sprint(out["domains"]) != "[shop."+squatter+"."+zone+" www.squat.example.com]" {
		t.Errorf("the squatter's domains changed: %d %v", code, out["domains"])
	}
}
