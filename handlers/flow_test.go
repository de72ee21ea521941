package handlers_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Nerzal/gocloak/v13"
	"github.com/google/uuid"
	"github.com/miekg/dns"
	"github.com/tenantflow/tenantflow/app"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/handlers/database"
	"github.com/tenantflow/tenantflow/handlers/drift"
	"github.com/tenantflow/tenantflow/handlers/faults"
	"github.com/tenantflow/tenantflow/handlers/notify"
	"github.com/tenantflow/tenantflow/handlers/step"
	"github.com/tenantflow/tenantflow/handlers/storage"
	"github.com/tenantflow/tenantflow/internal/testkit/devsteps"
	"github.com/tenantflow/tenantflow/internal/testkit/mailtest"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
)

// The happy path ends ACTIVE, and everything exists — read back through
// Keycloak's admin API and information_schema, not through our code.
func TestProvisioningEndsActive(t *testing.T) {
	f := newFlow(t)
	tn := f.provision(t, "ok")
	tn = f.waitFor(t, tn.ID(), "ACTIVE and notified", 90*time.Second, settled)
	if tn.Status() != domain.StatusActive {
		t.Fatalf("status %s: %s", tn.Status(), describe(tn))
	}
	ctx := context.Background()
	token, err := f.admin.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kc := f.admin.Client()
	realm := "tenant-" + tn.Key()
	rep, err := kc.GetRealm(ctx, token, realm)
	if err != nil || !*rep.Enabled {
		t.Fatalf("realm %s: %v", realm, err)
	}
	clients, err := kc.GetClients(ctx, token, realm, gocloak.GetClientsParams{ClientID: gocloak.StringP(tn.Key() + "-app")})
	if err != nil || len(clients) != 1 {
		t.Fatalf("client: %v %v", clients, err)
	}
	c := clients[0]
	if (*c.Attributes)["pkce.code.challenge.method"] != "S256" || !*c.PublicClient || !*c.StandardFlowEnabled ||
		len(*c.RedirectURIs) != 1 || (*c.RedirectURIs)[0] != "https://"+tn.Key()+"."+f.dns.Zone+"/*" {
		t.Fatalf("client %+v", c)
	}
	users, err := kc.GetUsers(ctx, token, realm, gocloak.GetUsersParams{Username: gocloak.StringP(tn.Contact().Email), Exact: gocloak.BoolP(true)})
	if err != nil || len(users) != 1 {
		t.Fatalf("admin user: %v %v", users, err)
	}
	u := users[0]
	if attrs := *u.Attributes; attrs["tenantId"][0] != tn.ID() || attrs["role"][0] != "admin" || !*u.Enabled {
		t.Fatalf("user attributes %v", attrs)
	}
	roles, err := kc.GetCompositeClientRolesByUserID(ctx, token, realm, *mustClient(t, kc, token, realm, "realm-management").ID, *u.ID)
	if err != nil || !hasRole(roles, "realm-admin") {
		t.Fatalf("realm-admin not granted: %v", err)
	}
	var schemas int
	if err := f.pool.QueryRow(ctx, `select count(*) from information_schema.schemata where schema_name = $1`, database.SchemaName(tn)).Scan(&schemas); err != nil || schemas != 1 {
		t.Fatalf("schema %s: %d %v", database.SchemaName(tn), schemas, err)
	}
	mailtest.WaitForSubject(t, tn.Contact().Email, "is ready", 10*time.Second)
	mailtest.WaitForSubject(t, tn.Contact().Email, "Update Your Account", 10*time.Second) // Keycloak's set-password mail
	if n := mailtest.Count(t, tn.Contact().Email); n != 2 {
		t.Fatalf("%d mails to the admin, want the welcome and Keycloak's set-password mail", n)
	}
	if ok, err := f.s3.Client.BucketExists(ctx, storage.BucketName(tn)); !ok || err != nil {
		t.Fatalf("bucket %s: %v", storage.BucketName(tn), err)
	}
	// DNS points at the load balancer the OpenTofu module reported.
	lb := tn.Outputs(domain.StepInfrastructure)["load_balancer"]
	if got := devsteps.Lookup(t, f.dns.Server, tn.Domains()[0], dns.TypeCNAME); lb == "" || len(got) != 1 || got[0] != lb+"." {
		t.Fatalf("DNS answers %v for %s, infrastructure output %q", got, tn.Domains()[0], lb)
	}
	if state := devsteps.InfraState(t, tn); !strings.Contains(state, lb) {
		t.Fatalf("no OpenTofu state in PostgreSQL naming %s: %q", lb, state)
	}
	if len(tn.Resources()) != 8 {
		t.Fatalf("resources %v", tn.Resources())
	}
	for _, r := range tn.Resources() {
		if r.TenantID != tn.ID() || r.Location == "" || r.CreatedAt.IsZero() {
			t.Fatalf("resource without tenant, location or time: %+v", r)
		}
	}

	// Drift: nothing at first; then a realm deleted behind the system's back.
	if d := drift.Check(ctx, f.actions, tn); d.Drifted() {
		t.Fatalf("drift right after provisioning: %+v", d)
	}
	if err := kc.DeleteRealm(ctx, token, realm); err != nil {
		t.Fatal(err)
	}
	d := drift.Check(ctx, f.actions, tn)
	var missing []string
	for _, r := range d.Missing {
		missing = append(missing, r.Kind)
	}
	if strings.Join(missing, ",") != "keycloak-client,keycloak-realm,keycloak-user" || len(d.Unexpected) != 0 { // domain.SortResources order
		t.Fatalf("drift after deleting the realm: missing %v, %+v", missing, d)
	}
}

func mustClient(t *testing.T, kc *gocloak.GoCloak, token, realm, clientID string) *gocloak.Client {
	t.Helper()
	cs, err := kc.GetClients(context.Background(), token, realm, gocloak.GetClientsParams{ClientID: &clientID})
	if err != nil || len(cs) != 1 {
		t.Fatalf("client %s: %v", clientID, err)
	}
	return cs[0]
}

func hasRole(roles []*gocloak.Role, name string) bool {
	for _, r := range roles {
		if r.Name != nil && *r.Name == name {
			return true
		}
	}
	return false
}

// realmExists asks Keycloak whether the tenant's realm exists.
func (f *flow) realmExists(t *testing.T, tn *domain.Tenant) bool {
	t.Helper()
	ctx := context.Background()
	token, err := f.admin.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tn.Identity() == domain.IdentityOrganization {
		org, err := f.admin.OrganizationByName(ctx, token, devsteps.SharedRealm, tn.Key())
		if err != nil {
			t.Fatal(err)
		}
		return org != nil
	}
	_, err = f.admin.Client().GetRealm(ctx, token, tn.RealmName())
	return err == nil
}

func (f *flow) schemaExists(t *testing.T, tn *domain.Tenant) bool {
	t.Helper()
	var n int
	if err := f.pool.QueryRow(context.Background(), `select count(*) from information_schema.schemata where schema_name = $1`, database.SchemaName(tn)).Scan(&n); err != nil {
		t.Fatal(err)
	}
	var roles int
	_ = f.pool.QueryRow(context.Background(), `select count(*) from pg_roles where rolname = $1`, database.SchemaName(tn)).Scan(&roles)
	return n+roles > 0
}

// A permanent failure at each step in turn ends PROVISION_FAILED with
// everything made before it gone and a failure mail naming the step in the
// customer's words (the back end's error stays in the tenant's history).
func TestFailureAtEachStepCleansUp(t *testing.T) {
	for _, step := range domain.Steps {
		t.Run(step, func(t *testing.T) {
			f := newFlow(t, withFaults(step+"=permanent"))
			tn := f.provision(t, "f")
			tn = f.waitFor(t, tn.ID(), "rolled back and notified", 90*time.Second, settled)
			if tn.Status() != domain.StatusProvisionFailed {
				t.Fatalf("status %s: %s", tn.Status(), describe(tn))
			}
			if failed, reason, _ := tn.FailedStep(); failed != step || reason == "" {
				t.Fatalf("failed step %q (%s), want %s", failed, reason, step)
			}
			bucket, _ := f.s3.Client.BucketExists(context.Background(), storage.BucketName(tn))
			cname := devsteps.Lookup(t, f.dns.Server, tn.Domains()[0], dns.TypeCNAME)
			if _, err := os.Stat(filepath.Join(f.infra.StateDir, "tenant-"+tn.ID())); !os.IsNotExist(err) || strings.Contains(devsteps.InfraState(t, tn), "lb-") {
				t.Fatalf("OpenTofu working directory or resources left after rollback: %v", err)
			}
			if bucket || len(cname) > 0 {
				t.Fatalf("left behind: bucket %v, CNAME %v", bucket, cname)
			}
			if f.realmExists(t, tn) || f.schemaExists(t, tn) || len(tn.Resources()) != 0 || len(tn.Orphans()) != 0 {
				t.Fatalf("left behind: realm %v, schema %v, resources %v, orphans %v", f.realmExists(t, tn), f.schemaExists(t, tn), tn.Resources(), tn.Orphans())
			}
			mail := mailtest.WaitForSubject(t, tn.Contact().Email, "did not succeed", 10*time.Second)
			if !strings.Contains(mail.Body, "Failed step: "+notify.StepInWords(step)) || !strings.Contains(mail.Body, "Clean-up:    complete") {
				t.Fatalf("failure mail does not name %s in words, or not say that nothing is left:\n%s", step, mail.Body)
			}
			if strings.Contains(mail.Body, faults.ErrInjected.Error()) {
				t.Fatalf("failure mail shows the back end's error to the customer:\n%s", mail.Body)
			}
		})
	}
}

// Transient failures are retried inside the handler: twice failing, then
// succeeding, ends ACTIVE with three tries recorded.
func TestTransientFailureIsRetried(t *testing.T) {
	f := newFlow(t, withFaults(domain.StepDatabase+"=transient:2"))
	tn := f.provision(t, "r")
	tn = f.waitFor(t, tn.ID(), "ACTIVE", 90*time.Second, settled)
	if tn.Status() != domain.StatusActive {
		t.Fatalf("status %s: %s", tn.Status(), describe(tn))
	}
	for _, s := range tn.StepStates() {
		if s.Step == domain.StepDatabase && (s.Tries != 3 || s.State != domain.OutcomeCompleted) {
			t.Fatalf("database step %+v, want completed after 3 tries", s)
		}
	}
}

// Every trigger delivered twice, and afterwards the whole stream published
// again out of band: no outcome is recorded twice, nothing is made twice.
func TestRedeliveryChangesNothing(t *testing.T) {
	f := newFlow(t, withDuplicates())
	tn := f.provision(t, "d")
	tn = f.waitFor(t, tn.ID(), "ACTIVE", 90*time.Second, settled)
	if tn.Status() != domain.StatusActive {
		t.Fatalf("status %s: %s", tn.Status(), describe(tn))
	}
	ctx := context.Background()
	stored, err := f.store.Load(ctx, "tenant-"+tn.ID())
	if err != nil {
		t.Fatal(err)
	}
	// Out of band: the relay's records of this stream, once more.
	relay := &eventstore.Relay{Store: f.store, Publisher: f.publisher, Topic: f.topic}
	if err := relay.Republish(ctx, stored); err != nil {
		t.Fatal(err)
	}
	f.waitIdle(t) // every group has consumed (and committed) past the duplicates

	again, err := f.store.Load(ctx, "tenant-"+tn.ID())
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != len(stored) {
		t.Fatalf("%d events after redelivery, %d before", len(again), len(stored))
	}
	seen := map[string]bool{}
	for _, e := range again {
		if seen[e.Type] {
			t.Fatalf("outcome %s recorded twice", e.Type)
		}
		seen[e.Type] = true
	}
	token, _ := f.admin.Token(ctx)
	users, err := f.admin.Client().GetUsers(ctx, token, tn.RealmName(), gocloak.GetUsersParams{})
	if err != nil || len(users) != 1 {
		t.Fatalf("users in the realm: %d %v", len(users), err)
	}
	if n := mailtest.Count(t, tn.Contact().Email); n != 2 {
		t.Fatalf("%d mails, want one welcome and one set-password mail", n)
	}
}

// gate holds a step's Do until released, so a test can act while it runs.
type gate struct {
	step.Action
	started chan string
	release chan struct{}
}

func (g gate) Do(ctx context.Context, tn *domain.Tenant) (step.Result, error) {
	g.started <- tn.ID()
	<-g.release
	return g.Action.Do(ctx, tn)
}

func withGate(step string, g *gate) flowOption {
	return func(p *parts) {
		g.Action = p.cfg.Actions[step]
		p.cfg.Actions[step] = *g
	}
}

// A cancellation while a slow step runs: that step finishes, the next one
// fails with reason cancelled, and everything is compensated — the realm,
// or the organization (tier basic).
func TestCancelMidFlight(t *testing.T) {
	for _, tier := range []string{"silo", "basic"} {
		t.Run(tier, func(t *testing.T) {
			g := &gate{started: make(chan string, 1), release: make(chan struct{})}
			f := newFlow(t, withGate(domain.StepDatabase, g))
			f.tier = tier
			tn := f.provision(t, "c")
			select {
			case <-g.started:
			case <-time.After(60 * time.Second):
				t.Fatal("the database step never started")
			}
			tn, err := f.tenants.Update(context.Background(), tn.ID(), eventstore.Metadata{}, func(t *domain.Tenant) ([]domain.Event, error) {
				return t.RequestCancel()
			})
			if err != nil {
				t.Fatal(err)
			}
			if !f.realmExists(t, tn) {
				t.Fatal("the identity step's realm or organization is not there before the cancel")
			}
			close(g.release)
			tn = f.waitFor(t, tn.ID(), "rolled back", 90*time.Second, settled)
			step, reason, _ := tn.FailedStep()
			if tn.Status() != domain.StatusProvisionFailed || reason != domain.ReasonCancelled || step != domain.StepStorage {
				t.Fatalf("status %s, failed %s (%s): %s", tn.Status(), step, reason, describe(tn))
			}
			if f.realmExists(t, tn) || f.schemaExists(t, tn) {
				t.Fatal("a cancelled attempt left its realm, organization or schema behind")
			}
		})
	}
}

// Deprovisioning an ACTIVE tenant removes everything and ends INACTIVE.
func TestDeprovision(t *testing.T) {
	f := newFlow(t)
	tn := f.provision(t, "x")
	tn = f.waitFor(t, tn.ID(), "ACTIVE", 90*time.Second, settled)
	if tn.Status() != domain.StatusActive || !f.realmExists(t, tn) || !f.schemaExists(t, tn) {
		t.Fatalf("not provisioned: %s", describe(tn))
	}
	if _, err := f.tenants.Update(context.Background(), tn.ID(), eventstore.Metadata{}, func(t *domain.Tenant) ([]domain.Event, error) {
		return t.RequestDeprovisioning("test")
	}); err != nil {
		t.Fatal(err)
	}
	tn = f.waitFor(t, tn.ID(), "INACTIVE", 90*time.Second, func(tn *domain.Tenant) bool { return tn.Status() == domain.StatusInactive })
	if f.realmExists(t, tn) || f.schemaExists(t, tn) || len(tn.Resources()) != 0 {
		t.Fatalf("left behind after deprovisioning: %v", tn.Resources())
	}
	if ok, _ := f.s3.Client.BucketExists(context.Background(), storage.BucketName(tn)); ok {
		t.Fatal("bucket left after deprovisioning")
	}
	if _, err := os.Stat(filepath.Join(f.infra.StateDir, "tenant-"+tn.ID())); !os.IsNotExist(err) || strings.Contains(devsteps.InfraState(t, tn), "lb-") {
		t.Fatalf("OpenTofu working directory or resources left after deprovisioning: %v", err)
	}
	if got := devsteps.Lookup(t, f.dns.Server, tn.Domains()[0], dns.TypeCNAME); len(got) != 0 {
		t.Fatalf("DNS still answers %v after deprovisioning", got)
	}
}

// 50 tenants at once end ACTIVE, and each realm's only user is its own
// tenant's admin.
func TestManyTenantsConcurrently(t *testing.T) {
	f := newFlow(t)
	f.tier = "pooled" // shared infrastructure: 50 OpenTofu runs would only measure OpenTofu
	const n = 50
	ids := make([]string, n)
	for i := range ids {
		ids[i] = f.provision(t, "m").ID()
	}
	ctx := context.Background()
	for _, id := range ids {
		tn := f.waitFor(t, id, "ACTIVE", 5*time.Minute, settled)
		if tn.Status() != domain.StatusActive {
			t.Fatalf("tenant %s: %s", id, describe(tn))
		}
		token, err := f.admin.Token(ctx)
		if err != nil {
			t.Fatal(err)
		}
		users, err := f.admin.Client().GetUsers(ctx, token, tn.RealmName(), gocloak.GetUsersParams{})
		if err != nil || len(users) != 1 || (*users[0].Attributes)["tenantId"][0] != id || *users[0].Email != tn.Contact().Email {
			t.Fatalf("realm %s users: %v %v", tn.RealmName(), users, err)
		}
	}
}

// A realm named like the tenant's but not carrying its id is someone
// else's: the idp step fails at once (no retries) and the realm is left as
// it was, through the whole compensation.
func TestForeignRealmIsNeverTouched(t *testing.T) {
	f := newFlow(t)
	ctx := context.Background()
	key := testenv.UniqueKey("z")
	token, err := f.admin.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	realm := "tenant-" + key
	if _, err := f.admin.Client().CreateRealm(ctx, token, gocloak.RealmRepresentation{Realm: &realm, Enabled: gocloak.BoolP(true)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if tok, err := f.admin.Token(context.Background()); err == nil {
			_ = f.admin.Client().DeleteRealm(context.Background(), tok, realm)
		}
	})
	tn, evs, _ := domain.NewTenant(uuid.NewString(), "", domain.TenantInput{Key: key, Name: "Z",
		Contact: domain.Contact{Email: key + "@example.com", FirstName: "Z", LastName: "Z"}})
	if err := app.CreateTenant(ctx, f.store, tn, eventstore.Metadata{}, evs); err != nil {
		t.Fatal(err)
	}
	tn = f.request(t, tn.ID())
	tn = f.waitFor(t, tn.ID(), "rolled back", 60*time.Second, settled)
	failed, reason, _ := tn.FailedStep()
	if tn.Status() != domain.StatusProvisionFailed || failed != domain.StepIdentity || !strings.Contains(reason, step.ErrForeign.Error()) {
		t.Fatalf("status %s, failed %s: %s", tn.Status(), failed, reason)
	}
	if len(tn.Orphans()) != 0 || tn.StepStates()[0].Undo != domain.OutcomeCompensated {
		t.Fatalf("another tenant's realm reported as this tenant's orphan: undo %q, orphans %v", tn.StepStates()[0].Undo, tn.Orphans())
	}
	if st := tn.StepStates()[0]; st.Tries != 1 {
		t.Fatalf("a permanent failure was tried %d times", st.Tries)
	}
	if !f.realmExists(t, tn) {
		t.Fatal("compensation deleted a realm that was not ours")
	}
}
