package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/Nerzal/gocloak/v13"
	"github.com/google/uuid"
	"github.com/miekg/dns"
	"github.com/tenantflow/tenantflow/adapters/kafka"
	"github.com/tenantflow/tenantflow/adapters/postgres"
	"github.com/tenantflow/tenantflow/internal/testkit/kafkatest"
	"github.com/tenantflow/tenantflow/internal/testkit/mailtest"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
	"github.com/tenantflow/tenantflow/internal/testkit/wait"
	"github.com/tenantflow/tenantflow/platform/auth"
)

// makeRunEnv is the configuration `make run` gives tenantd (every
// TENANTFLOW_* setting of devstack.sh env), with a database, topic and
// consumer groups of the test's own and the deploy keys of startAgent.
func makeRunEnv(t *testing.T) map[string]string {
	env := devStackEnv(t)
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if _, own := env[k]; strings.HasPrefix(k, "TENANTFLOW_") && !own {
			env[k] = v
		}
	}
	testenv.Require(t, "TENANTFLOW_SMTP_ADDR", "TENANTFLOW_DNS_SERVER", "TENANTFLOW_TIERS", "TENANTFLOW_INFRA_BINARY", "TENANTFLOW_STORAGE")
	env["TENANTFLOW_DEPLOY_SIGNING_KEY"], env["TENANTFLOW_AGENT_KEY"] = testSigningKey, testAgentKey
	env["TENANTFLOW_INFRA_STATE_DIR"] = t.TempDir()
	// make run verifies the operators' realm's tokens beside HS256 ones.
	env["TENANTFLOW_JWT_JWKS_URL"] = env["TENANTFLOW_DEVSTACK_OPERATORS_ISSUER"] + "/protocol/openid-connect/certs"
	env["TENANTFLOW_JWT_AUDIENCE"], env["TENANTFLOW_JWT_HS256_OPERATORS"] = "tenantflow-api", "true" // the tests' tokens are HS256
	return env
}

// makeRun is a ready tenantd on the `make run` configuration, the
// reference agent beside it (writing what it does under apps), and an
// operator's token (named who) of every permission.
func makeRun(t *testing.T, who string) (env map[string]string, p *proc, op, apps string) {
	t.Helper()
	env = makeRunEnv(t)
	p = start(t, env)
	p.readyzUntil(t, "ready", isReady)
	signer, _ := auth.NewHS256(env["TENANTFLOW_JWT_SECRET"], "tenantflow")
	op, _ = signer.Mint(who, auth.Known, "", time.Hour, time.Now())
	apps = t.TempDir()
	startAgent(t, env, p.base, apps)
	return env, p, op, apps
}

// agentWrote waits until the reference agent's file name of the tenant
// key holds want (a line).
func agentWrote(t *testing.T, apps, key, name, want string) {
	t.Helper()
	wait.For(t, 60*time.Second, func() error {
		got, err := os.ReadFile(filepath.Join(apps, key, name))
		if err != nil || strings.TrimSpace(string(got)) != want {
			return fmt.Errorf("%s/%s holds %q (%v), want %q", key, name, got, err, want)
		}
		return nil
	})
}

// The replaced system's success criteria, on the `make run` configuration:
// a tenant created through the API, provisioned with the replaced system's
// request verbatim (tier "enterprise"), with a domain of the customer's own
// outside the platform's zone, becomes ACTIVE with its realm, client, admin
// user (who can log in), schema, recorded resources and welcome mail, and
// no compensation. On the way, a near-1 MiB request for another tenant is
// refused without storing anything, and the custom domain is checked
// through a resolver before and after the customer points it.
func TestReplacedSystemsSuccessCriteria(t *testing.T) {
	env := makeRunEnv(t)
	p := start(t, env)
	p.readyzUntil(t, "ready", isReady)
	signer, _ := auth.NewHS256(env["TENANTFLOW_JWT_SECRET"], "tenantflow")
	op, _ := signer.Mint("success-criteria", []string{auth.CreateTenant, auth.ProvisionTenant, auth.ViewTenant}, "", time.Hour, time.Now())
	appplane := t.TempDir()
	startAgent(t, env, p.base, appplane)

	key := "tc" + strings.ReplaceAll(uuid.NewString(), "-", "")[:8]
	email := "admin@" + key + ".testcorp.example"
	custom := "testcorp-" + key + "." + env["TENANTFLOW_DEVSTACK_CUSTOMER_ZONE"]
	t.Cleanup(func() { deleteRealm(t, env, "tenant-"+key) })

	// One caller's near-1 MiB request stores nothing and holds nobody up.
	other := p.post(t, op, "/tenants", `{"key":"b`+key[2:]+`","name":"Big","contact":{"email":"big@example.com","firstName":"B","lastName":"G"}}`)["id"].(string)
	huge := strings.Replace(testenv.ReplacedSystemRequest(other, "big"), `"pipelineName": "enterprise-pipeline"`,
		`"pipelineName": "enterprise-pipeline", "blob": "`+strings.Repeat("x", 1<<20-4096)+`"`, 1)
	if code, body := p.send(t, op, http.MethodPost, "/tenants/"+other+"/provision", huge); code != http.StatusBadRequest ||
		!strings.Contains(fmt.Sprint(body["errors"]), "plan.metaData") {
		t.Fatalf("near-1 MiB request: %d %v, want 400 naming plan.metaData", code, body)
	}
	if tn := p.tenant(t, op, other); tn["status"] != "PENDING_PROVISION" || tn["version"] != 1.0 {
		t.Fatalf("the refused request changed the tenant: %v", tn)
	}

	id := p.post(t, op, "/tenants", `{"key":"`+key+`","name":"TestCorp Inc","contact":{"email":"`+email+`","firstName":"Admin","lastName":"User"},
		"domains":["`+custom+`"]}`)["id"].(string)
	p.post(t, op, "/tenants/"+id+"/provision", testenv.ReplacedSystemRequest(id, key))
	tn := p.waitStatus(t, op, id, "ACTIVE")

	// GET /tenants/{id}: the platform name, and what the customer must create.
	platform := key + "." + env["TENANTFLOW_DNS_ZONE"]
	if tn["platformHost"] != platform {
		t.Errorf("platformHost = %v, want %s", tn["platformHost"], platform)
	}
	cds, _ := tn["customDomains"].([]any)
	if len(cds) != 1 || cds[0].(map[string]any)["domain"] != custom || cds[0].(map[string]any)["cname"] != platform ||
		cds[0].(map[string]any)["txtValue"] != "tenant="+id {
		t.Errorf("customDomains = %v", cds)
	}
	if plan, _ := tn["plan"].(map[string]any); plan["tier"] != "enterprise" || plan["description"] != "Enterprise tier" {
		t.Errorf("plan = %v", tn["plan"])
	}

	// Keycloak: realm, client, admin user, as the replaced system made them.
	ctx := context.Background()
	kc, token := keycloakAdmin(t, env)
	realm := "tenant-" + key
	r, err := kc.GetRealm(ctx, token, realm)
	if err != nil {
		t.Fatal(err)
	}
	if smtp := *r.SMTPServer; smtp["host"] == "" || smtp["port"] == "" || smtp["starttls"] != "true" {
		t.Errorf("the realm's SMTP settings do not follow TENANTFLOW_SMTP_*: %v", smtp)
	}
	clients, err := kc.GetClients(ctx, token, realm, gocloak.GetClientsParams{ClientID: gocloak.StringP(key + "-app")})
	if err != nil || len(clients) != 1 {
		t.Fatalf("client %s-app: %v %v", key, clients, err)
	}
	c := clients[0]
	if *c.Protocol != "openid-connect" || (*c.Attributes)["pkce.code.challenge.method"] != "S256" ||
		!slices.Contains(*c.RedirectURIs, "https://"+custom+"/*") || !slices.Contains(*c.WebOrigins, "https://"+custom) ||
		!slices.Contains(*c.RedirectURIs, "https://"+platform+"/*") || !slices.Contains(*c.WebOrigins, "https://"+platform) {
		t.Errorf("client: protocol %v, attributes %v, redirects %v, origins %v", *c.Protocol, *c.Attributes, *c.RedirectURIs, *c.WebOrigins)
	}
	users, err := kc.GetUsers(ctx, token, realm, gocloak.GetUsersParams{Username: &email, Exact: gocloak.BoolP(true)})
	if err != nil || len(users) != 1 {
		t.Fatalf("admin user: %v %v", users, err)
	}
	u := users[0]
	if *u.Email != email || *u.FirstName != "Admin" || *u.LastName != "User" || !*u.Enabled ||
		(*u.Attributes)["tenantId"][0] != id || (*u.Attributes)["role"][0] != "admin" {
		t.Errorf("admin user %+v", u)
	}
	roles, err := kc.GetCompositeClientRolesByUserID(ctx, token, realm, *clientOf(t, kc, token, realm, "realm-management").ID, *u.ID)
	if err != nil || !slices.ContainsFunc(roles, func(r *gocloak.Role) bool { return *r.Name == "realm-admin" }) {
		t.Errorf("realm-admin not granted: %v", err)
	}
	adminLogin(t, env, realm, email)

	// The schema, the recorded resources, the mails, no compensation.
	// The test inspects as the owner: tenants' schemas and OpenTofu's state are not the runtime role's.
	pool, err := postgres.Open(ctx, env["TENANTFLOW_DATABASE_MIGRATE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var schemas int
	if err := pool.QueryRow(ctx, `select count(*) from information_schema.schemata where schema_name = $1`, "tenant_"+key).Scan(&schemas); err != nil || schemas != 1 {
		t.Errorf("schema tenant_%s: %d %v", key, schemas, err)
	}
	var kinds []string
	for _, res := range tn["resources"].([]any) {
		kinds = append(kinds, res.(map[string]any)["kind"].(string))
	}
	for _, want := range []string{"keycloak-realm", "keycloak-client", "keycloak-user", "postgres-schema", "s3-bucket", "tofu-state", "dns-cname"} {
		if !slices.Contains(kinds, want) {
			t.Errorf("resource %s not recorded: %v", want, kinds)
		}
	}
	welcome := mailtest.WaitForSubject(t, email, "is ready", 60*time.Second)
	if !strings.Contains(welcome.Body, custom) || !strings.Contains(welcome.Body, platform) {
		t.Errorf("the welcome mail does not say which CNAME to create:\n%s", welcome.Body)
	}
	var compensations int
	if err := pool.QueryRow(ctx, `select count(*) from events where stream_id = $1 and (event_type like '%compensat%' or event_type like 'tenant.provisioning.%'
		and event_type <> 'tenant.provisioning.requested')`, "tenant-"+id).Scan(&compensations); err != nil || compensations != 0 {
		t.Errorf("%d compensation events (%v)", compensations, err)
	}
	if got, _ := os.ReadFile(filepath.Join(appplane, key, "pipeline")); strings.TrimSpace(string(got)) != "enterprise-pipeline" {
		t.Errorf("the application plane got pipeline %q", got)
	}

	// The customer's domain, through a resolver: not pointed, then pointed and proven.
	domains := func() (string, error) {
		return runTenantctl(t, env, "domains", "--tenant", key, "--resolver", env["TENANTFLOW_DNS_SERVER"])
	}
	if out, err := domains(); err == nil || !strings.Contains(out, "NOT POINTED") {
		t.Fatalf("tenantctl domains before the customer's records: %v\n%s", err, out)
	}
	customerRecords(t, env, custom+". 60 IN CNAME "+platform+".", `_tenantflow.`+custom+`. 60 IN TXT "tenant=`+id+`"`)
	if out, err := domains(); err != nil || !strings.Contains(out, custom+" OK") {
		t.Fatalf("tenantctl domains after the customer's records: %v\n%s", err, out)
	}
	p.stop(t)
}

// runTenantctl runs the built tenantctl with env: its combined output and
// its error (a non-zero exit is the caller's to judge).
func runTenantctl(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(binary(t, "../tenantctl"), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func clientOf(t *testing.T, kc *gocloak.GoCloak, token, realm, clientID string) *gocloak.Client {
	t.Helper()
	cs, err := kc.GetClients(context.Background(), token, realm, gocloak.GetClientsParams{ClientID: &clientID})
	if err != nil || len(cs) != 1 {
		t.Fatalf("client %s of %s: %v %v", clientID, realm, cs, err)
	}
	return cs[0]
}

// customerRecords creates records in the dev stack's customer zone, as the
// customer would at their own DNS provider.
func customerRecords(t *testing.T, env map[string]string, records ...string) {
	t.Helper()
	var rrs []dns.RR
	for _, r := range records {
		rr, err := dns.NewRR(r)
		if err != nil {
			t.Fatal(err)
		}
		rrs = append(rrs, rr)
	}
	exchange := func(m *dns.Msg) (*dns.Msg, error) {
		name := dns.Fqdn(env["TENANTFLOW_DNS_TSIG_NAME"])
		m.SetTsig(name, dns.HmacSHA256, 300, time.Now().Unix())
		c := &dns.Client{TsigSecret: map[string]string{name: env["TENANTFLOW_DNS_TSIG_SECRET"]}}
		in, _, err := c.Exchange(m, env["TENANTFLOW_DNS_SERVER"])
		return in, err
	}
	m := new(dns.Msg)
	m.SetUpdate(dns.Fqdn(env["TENANTFLOW_DEVSTACK_CUSTOMER_ZONE"]))
	m.Insert(rrs)
	if in, err := exchange(m); err != nil || in.Rcode != dns.RcodeSuccess {
		t.Fatalf("customer zone update: %v %v", in, err)
	}
	t.Cleanup(func() {
		m := new(dns.Msg)
		m.SetUpdate(dns.Fqdn(env["TENANTFLOW_DEVSTACK_CUSTOMER_ZONE"]))
		m.RemoveRRset(rrs)
		_, _ = exchange(m)
	})
}

// No single input can stop the log, through the real broker: with a topic
// whose max.message.bytes is below one tenant's provisioning request (an
// operator's broker setting, or any record the broker refuses), that tenant
// is held while another tenant reaches ACTIVE; tenantctl shows the held
// record and, once the topic is fixed, releases it, and the held tenant
// goes on to ACTIVE.
func TestARefusedRecordHoldsOnlyItsTenant(t *testing.T) {
	env := devStackEnv(t)
	env["TENANTFLOW_JWT_SECRET"] = "tenantd-test-secret-tenantd-test-secret"
	brokers := strings.Split(env["TENANTFLOW_KAFKA_BROKERS"], ",")
	admin, err := sarama.NewClusterAdmin(brokers, kafka.SaramaConfigWith("refused-test", kafkatest.Admin(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	small := "8192"
	if err := admin.CreateTopic(env["TENANTFLOW_KAFKA_TOPIC"], &sarama.TopicDetail{NumPartitions: 4, ReplicationFactor: 1,
		ConfigEntries: map[string]*string{"max.message.bytes": &small}}, false); err != nil {
		t.Fatal(err)
	}
	p := start(t, env)
	p.readyzUntil(t, "ready", isReady)
	signer, _ := auth.NewHS256(env["TENANTFLOW_JWT_SECRET"], "tenantflow")
	op, _ := signer.Mint("refused-test", []string{auth.CreateTenant, auth.ProvisionTenant, auth.ViewTenant}, "", time.Hour, time.Now())

	provision := func(prefix, metaData string) string {
		key := prefix + strings.ReplaceAll(uuid.NewString(), "-", "")[:8]
		t.Cleanup(func() { deleteRealm(t, env, "tenant-"+key) })
		id := p.post(t, op, "/tenants", `{"key":"`+key+`","name":"R","contact":{"email":"`+key+`@example.com","firstName":"R","lastName":"F"}}`)["id"].(string)
		p.post(t, op, "/tenants/"+id+"/provision", `{"id":"s","subscriberId":"`+id+`","planId":"p","startDate":"2026-11-26T00:00:00Z","status":1,
			"plan":{"id":"p","name":"P","price":1,"currencyId":"EUR","tier":"pooled","billingCycleId":"monthly","metaData":`+metaData+`}}`)
		return id
	}
	big := provision("rb", `{"pipelineName":"p","notes":"`+strings.Repeat("n", 12<<10)+`"}`) // under the 64 KiB cap, over the topic's 8 KiB
	ok := provision("ro", `{"pipelineName":"p"}`)
	p.waitStatus(t, op, ok, "ACTIVE")
	if st := p.tenant(t, op, big)["status"]; st != "PROVISIONING" {
		t.Fatalf("the held tenant is %v", st)
	}
	out, err := runTenantctl(t, env, "relay", "held")
	if err != nil || !strings.Contains(out, "REFUSED") || !strings.Contains(out, "tenant-"+big) || !strings.Contains(out, "tenant.provisioning.requested") {
		t.Fatalf("tenantctl relay held: %v\n%s", err, out)
	}
	if !strings.Contains(p.out.String(), "the broker refused a record for good") {
		t.Error("the refusal was not logged")
	}

	bigger := "1048588"
	if err := admin.AlterConfig(sarama.TopicResource, env["TENANTFLOW_KAFKA_TOPIC"], map[string]*string{"max.message.bytes": &bigger}, false); err != nil {
		t.Fatal(err)
	}
	if out, err := runTenantctl(t, env, "relay", "release", big); err != nil || !strings.Contains(out, "release of tenant-"+big+" requested") {
		t.Fatalf("tenantctl relay release: %v\n%s", err, out)
	}
	p.waitStatus(t, op, big, "ACTIVE")
	if out, err := runTenantctl(t, env, "relay", "held"); err != nil || !strings.Contains(out, "no held records") {
		t.Fatalf("after the release: %v\n%s", err, out)
	}
	p.stop(t)
}
