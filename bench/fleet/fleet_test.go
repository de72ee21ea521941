// Package fleet is `make fleet`: a fleet of tenants provisioned and then
// deprovisioned through the REST API of a real tenantd and application-plane
// agent on the dev stack — Keycloak, PostgreSQL, S3, DNS and SMTP, with the
// pooled tiers, whose OpenTofu module is off — for each identity model, in a
// closed loop. It prints, per block of 100 tenants, the rate, request →
// ACTIVE (or → INACTIVE) percentiles, Keycloak's share of the machine's CPU
// and each back end's CPU per tenant; then it checks that the back ends
// hold exactly what they held before, and that drift finds nothing.
//
// Settings: TENANTFLOW_FLEET_ORGANIZATIONS (default 1000) and
// TENANTFLOW_FLEET_REALMS (default 300) tenants, TENANTFLOW_FLEET_OUTSTANDING
// (default 16) requests in flight, TENANTFLOW_FLEET_BLOCK (default 100).
package fleet

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/tenantflow/tenantflow/internal/loadgen"
	"github.com/tenantflow/tenantflow/platform/auth"
)

// model is one identity model's fleet: the dev stack's tier for it.
type model struct {
	name, tier, setting string
	def                 int
}

var models = []model{
	{name: "organization", tier: "basic", setting: "TENANTFLOW_FLEET_ORGANIZATIONS", def: 1000},
	{name: "realm", tier: "pooled", setting: "TENANTFLOW_FLEET_REALMS", def: 300},
}

func setting(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n >= 0 {
		return n
	}
	return def
}

func BenchmarkFleet(b *testing.B) {
	ctx := context.Background()
	env := fleetEnv(b)
	before := snapshot(b, env)
	svc := startService(b, env)
	signer, err := auth.NewHS256(env["TENANTFLOW_JWT_SECRET"], "tenantflow")
	if err != nil {
		b.Fatal(err)
	}
	op, _ := signer.Mint("fleet", auth.Known, "", 24*time.Hour, time.Now())
	api := &client{base: svc.base, token: op}
	outstanding, block := setting("TENANTFLOW_FLEET_OUTSTANDING", 16), setting("TENANTFLOW_FLEET_BLOCK", 100)
	run := strings.ReplaceAll(uuid.NewString(), "-", "")[:4]

	var keys []string
	for _, m := range models {
		n := setting(m.setting, m.def)
		if n == 0 {
			continue
		}
		ids := make([]string, n)
		fmt.Printf("\n### %s model (tier %s): %d tenants, %d outstanding\n\n", m.name, m.tier, n, outstanding)
		rec := newRecorder(block, svc)
		start := time.Now()
		res := loadgen.Closed(ctx, outstanding, n, func(ctx context.Context, i int) (time.Duration, error) {
			key := fmt.Sprintf("f%s%c%04d", run, m.name[0], i)
			id, took, err := api.provision(ctx, key, m.tier)
			ids[i] = id
			rec.done(took, err)
			return took, err
		})
		rec.print("provisioning")
		fmt.Printf("\n%d of %d ACTIVE in %s (%.0f tenants/minute), %d failed\n", res.Done, n, time.Since(start).Round(time.Second),
			float64(res.Done)/time.Since(start).Minutes(), res.Failed)

		rec = newRecorder(block, svc)
		start = time.Now()
		res = loadgen.Closed(ctx, outstanding, n, func(ctx context.Context, i int) (time.Duration, error) {
			took, err := api.deprovision(ctx, ids[i])
			rec.done(took, err)
			return took, err
		})
		rec.print("deprovisioning")
		fmt.Printf("\n%d of %d INACTIVE in %s (%.0f tenants/minute), %d failed\n", res.Done, n, time.Since(start).Round(time.Second),
			float64(res.Done)/time.Since(start).Minutes(), res.Failed)
		for i := range n {
			keys = append(keys, fmt.Sprintf("f%s%c%04d", run, m.name[0], i))
		}
	}

	after := snapshot(b, env)
	fmt.Printf("\n### after deprovisioning the fleet\n\n")
	if diff := before.compare(after); len(diff) > 0 {
		b.Errorf("the back ends differ from before the fleet:\n%s", strings.Join(diff, "\n"))
	} else {
		fmt.Println("Keycloak, PostgreSQL, S3 and DNS hold exactly what they held before:", before.summary())
	}
	if left := leftovers(b, env, keys); len(left) > 0 {
		b.Errorf("the fleet's tenants left %d things behind: %v", len(left), left)
	} else {
		fmt.Printf("none of the fleet's %d keys has a realm, organization, client, user, schema, role, bucket or DNS record left\n", len(keys))
	}
	if out, err := svc.tenantctl(env, "drift"); err != nil {
		b.Errorf("tenantctl drift after deprovisioning: %v\n%s", err, out)
	} else {
		fmt.Printf("tenantctl drift: %s\n", lastLine(out))
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
