package config

import (
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/domain"
)

func TestDefaultsAreValidAndMatchTheDevStack(t *testing.T) {
	cfg, err := FromEnv(map[string]string{})
	if err != nil {
		t.Fatalf("defaults must be valid: %v", err)
	}
	if cfg.HTTPAddr != ":14000" {
		t.Errorf("HTTPAddr = %q, want :14000", cfg.HTTPAddr)
	}
	if !strings.Contains(cfg.DatabaseURL, "127.0.0.1:15432/tenantflow") {
		t.Errorf("DatabaseURL default %q does not point at the dev stack's PostgreSQL", cfg.DatabaseURL)
	}
	if !cfg.EmbeddedKafka() {
		t.Error("with no broker configured tenantd must use the embedded broker")
	}
	if cfg.KeycloakConfigured() {
		t.Error("Keycloak must be opt-in")
	}
	if cfg.ShutdownTimeout != 10*time.Second {
		t.Errorf("ShutdownTimeout = %s, want 10s", cfg.ShutdownTimeout)
	}
}

func TestValuesAreRead(t *testing.T) {
	cfg, err := FromEnv(map[string]string{
		"TENANTFLOW_KAFKA_BROKERS":           "k1:9092,k2:9092",
		"TENANTFLOW_KEYCLOAK_URL":            "http://kc:8080",
		"TENANTFLOW_KEYCLOAK_ADMIN_PASSWORD": "pw",
		"TENANTFLOW_LOG_LEVEL":               "debug",
		"TENANTFLOW_TIERS":                   "enterprise=silo, standard=bridge:organization,basic=pooled : realm",
		"TENANTFLOW_INFRA_MODULES":           "enterprise=/m/ent,silo=/m/silo",
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.PlanTiers(); len(got) != 3 || got["enterprise"] != (domain.Tier{Isolation: "silo", Identity: "realm"}) ||
		got["standard"] != (domain.Tier{Isolation: "bridge", Identity: "organization"}) || got["basic"] != (domain.Tier{Isolation: "pooled", Identity: "realm"}) {
		t.Errorf("PlanTiers = %v", got)
	}
	if got := strings.Join(cfg.KafkaBrokers, ","); got != "k1:9092,k2:9092" || cfg.EmbeddedKafka() {
		t.Errorf("KafkaBrokers = %q", got)
	}
	if !cfg.KeycloakConfigured() {
		t.Error("Keycloak should be configured")
	}
}

func TestInvalidConfigNamesEveryBadVariable(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		wants []string
	}{
		{"bad http addr", map[string]string{"TENANTFLOW_HTTP_ADDR": "14000"}, []string{"TENANTFLOW_HTTP_ADDR"}},
		{"bad database url", map[string]string{"TENANTFLOW_DATABASE_URL": "mysql://x"}, []string{"TENANTFLOW_DATABASE_URL"}},
		{"bad broker", map[string]string{"TENANTFLOW_KAFKA_BROKERS": "k1:9092,nohostport"}, []string{"TENANTFLOW_KAFKA_BROKERS", "nohostport"}},
		{"keycloak without password", map[string]string{"TENANTFLOW_KEYCLOAK_URL": "http://kc"}, []string{"TENANTFLOW_KEYCLOAK_ADMIN_PASSWORD"}},
		{"keycloak url not http", map[string]string{"TENANTFLOW_KEYCLOAK_URL": "kc:8080", "TENANTFLOW_KEYCLOAK_ADMIN_PASSWORD": "x"}, []string{"TENANTFLOW_KEYCLOAK_URL"}},
		{"unparseable duration", map[string]string{"TENANTFLOW_SHUTDOWN_TIMEOUT": "soon"}, []string{"TENANTFLOW_SHUTDOWN_TIMEOUT"}},
		{"negative duration", map[string]string{"TENANTFLOW_READY_CHECK_TIMEOUT": "-1s"}, []string{"TENANTFLOW_READY_CHECK_TIMEOUT"}},
		{"zero partitions", map[string]string{"TENANTFLOW_KAFKA_PARTITIONS": "0"}, []string{"TENANTFLOW_KAFKA_PARTITIONS"}},
		{"short jwt secret", map[string]string{"TENANTFLOW_JWT_SECRET": "short"}, []string{"TENANTFLOW_JWT_SECRET"}},
		{"jwks url not http", map[string]string{"TENANTFLOW_JWT_JWKS_URL": "kc/certs"}, []string{"TENANTFLOW_JWT_JWKS_URL"}},
		{"smtp addr without port", map[string]string{"TENANTFLOW_SMTP_ADDR": "mail"}, []string{"TENANTFLOW_SMTP_ADDR"}},
		{"smtp user without password", map[string]string{"TENANTFLOW_SMTP_USER": "u"}, []string{"TENANTFLOW_SMTP_USER"}},
		{"smtp from not an address", map[string]string{"TENANTFLOW_SMTP_FROM": "nobody"}, []string{"TENANTFLOW_SMTP_FROM"}},
		{"smtp tls unknown", map[string]string{"TENANTFLOW_SMTP_TLS": "maybe"}, []string{"TENANTFLOW_SMTP_TLS"}},
		{"lead rate zero", map[string]string{"TENANTFLOW_LEAD_RATE_LIMIT": "0"}, []string{"TENANTFLOW_LEAD_RATE_LIMIT"}},
		{"recipient rate zero", map[string]string{"TENANTFLOW_LEAD_RATE_PER_RECIPIENT": "0"}, []string{"TENANTFLOW_LEAD_RATE_PER_RECIPIENT"}},
		{"bad trusted proxy", map[string]string{"TENANTFLOW_TRUSTED_PROXIES": "10.0.0.0/8,proxy.local"}, []string{"TENANTFLOW_TRUSTED_PROXIES", "proxy.local"}},
		{"lead token ttl too long", map[string]string{"TENANTFLOW_LEAD_TOKEN_TTL": "48h"}, []string{"TENANTFLOW_LEAD_TOKEN_TTL"}},
		{"idempotency ttl too short", map[string]string{"TENANTFLOW_IDEMPOTENCY_TTL": "1s"}, []string{"TENANTFLOW_IDEMPOTENCY_TTL"}},
		{"unknown env", map[string]string{"TENANTFLOW_ENV": "staging"}, []string{"TENANTFLOW_ENV"}},
		{"faults in production", map[string]string{"TENANTFLOW_ENV": "production", "TENANTFLOW_FAULTS": "database=permanent"}, []string{"TENANTFLOW_FAULTS"}},
		{"production without a seal key or brokers", map[string]string{"TENANTFLOW_ENV": "production"}, []string{"TENANTFLOW_SEAL_KEY", "TENANTFLOW_KAFKA_BROKERS"}},
		{"production keycloak as the admin user", map[string]string{"TENANTFLOW_ENV": "production", "TENANTFLOW_KEYCLOAK_URL": "http://kc:8080", "TENANTFLOW_KEYCLOAK_ADMIN_PASSWORD": "x"}, []string{"TENANTFLOW_KEYCLOAK_CLIENT_ID"}},
		{"keycloak client without secret", map[string]string{"TENANTFLOW_KEYCLOAK_URL": "http://kc:8080", "TENANTFLOW_KEYCLOAK_CLIENT_ID": "tenantflow-provisioner"}, []string{"TENANTFLOW_KEYCLOAK_CLIENT_SECRET"}},
		{"tries by unknown step", map[string]string{"TENANTFLOW_STEP_MAX_TRIES_BY_STEP": "idp=3,invoicing=2"}, []string{"TENANTFLOW_STEP_MAX_TRIES_BY_STEP", "invoicing"}},
		{"zero tries", map[string]string{"TENANTFLOW_STEP_MAX_TRIES": "0"}, []string{"TENANTFLOW_STEP_MAX_TRIES"}},
		{"retry base above max", map[string]string{"TENANTFLOW_STEP_RETRY_BASE": "1m", "TENANTFLOW_STEP_RETRY_MAX": "1s"}, []string{"TENANTFLOW_STEP_RETRY_BASE"}},
		{"novu without key", map[string]string{"TENANTFLOW_NOTIFIER": "novu"}, []string{"TENANTFLOW_NOVU_API_KEY"}},
		{"unknown notifier", map[string]string{"TENANTFLOW_NOTIFIER": "pigeon"}, []string{"TENANTFLOW_NOTIFIER"}},
		{"short seal key", map[string]string{"TENANTFLOW_SEAL_KEY": "short"}, []string{"TENANTFLOW_SEAL_KEY"}},
		{"s3 without keys", map[string]string{"TENANTFLOW_STORAGE": "s3"}, []string{"TENANTFLOW_S3_ENDPOINT"}},
		{"unknown storage", map[string]string{"TENANTFLOW_STORAGE": "tape"}, []string{"TENANTFLOW_STORAGE"}},
		{"dns without key", map[string]string{"TENANTFLOW_DNS_SERVER": "127.0.0.1:53"}, []string{"TENANTFLOW_DNS_ZONE"}},
		{"infra module for an unknown tier", map[string]string{"TENANTFLOW_INFRA_MODULES": "gold=/x"}, []string{"TENANTFLOW_INFRA_MODULES", "gold"}},
		{"tier mapped to no isolation model", map[string]string{"TENANTFLOW_TIERS": "enterprise=silo,gold=platinum"}, []string{"TENANTFLOW_TIERS", "gold", "platinum"}},
		{"tier with an unknown identity model", map[string]string{"TENANTFLOW_TIERS": "basic=pooled:tenancy"}, []string{"TENANTFLOW_TIERS", "basic", "tenancy", "organization"}},
		{"organizations realm that is a tenant's", map[string]string{"TENANTFLOW_KEYCLOAK_URL": "http://kc:8080", "TENANTFLOW_KEYCLOAK_ADMIN_PASSWORD": "pw",
			"TENANTFLOW_KEYCLOAK_ORGANIZATIONS_REALM": "tenant-acme"}, []string{"TENANTFLOW_KEYCLOAK_ORGANIZATIONS_REALM", "tenant-acme"}},
		{"tier without a model", map[string]string{"TENANTFLOW_TIERS": "enterprise"}, []string{"TENANTFLOW_TIERS", "enterprise"}},
		{"infra module for a tier not configured", map[string]string{"TENANTFLOW_TIERS": "enterprise=silo", "TENANTFLOW_INFRA_MODULES": "premium=/x"}, []string{"TENANTFLOW_INFRA_MODULES", "premium", "enterprise"}},
		{"mail bridge address without port", map[string]string{"TENANTFLOW_MAIL_BRIDGE_ADDR": "bridge"}, []string{"TENANTFLOW_MAIL_BRIDGE_ADDR"}},
		{"agent key without signing key", map[string]string{"TENANTFLOW_AGENT_KEY": "ab"}, []string{"TENANTFLOW_DEPLOY_SIGNING_KEY", "TENANTFLOW_AGENT_KEY"}},
		{"unknown role", map[string]string{"TENANTFLOW_ROLES": "api,scheduler"}, []string{"TENANTFLOW_ROLES", "scheduler"}},
		{"bad log level", map[string]string{"TENANTFLOW_LOG_LEVEL": "loud"}, []string{"TENANTFLOW_LOG_LEVEL"}},
		{"all at once", map[string]string{
			"TENANTFLOW_HTTP_ADDR":        "x",
			"TENANTFLOW_LOG_LEVEL":        "loud",
			"TENANTFLOW_SHUTDOWN_TIMEOUT": "soon",
			"TENANTFLOW_KEYCLOAK_URL":     "http://kc",
		}, []string{"TENANTFLOW_HTTP_ADDR", "TENANTFLOW_LOG_LEVEL", "TENANTFLOW_SHUTDOWN_TIMEOUT", "TENANTFLOW_KEYCLOAK_ADMIN_PASSWORD"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := FromEnv(tt.env)
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not name %s:\n%v", w, err)
				}
			}
		})
	}
}

func TestDatabaseURLErrorDoesNotEchoThePassword(t *testing.T) {
	_, err := FromEnv(map[string]string{"TENANTFLOW_DATABASE_URL": "mysql://u:s3cr3t@h/db"})
	if err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("want an error that hides the password, got %v", err)
	}
}

func TestVariableNamesListsEverySetting(t *testing.T) {
	names := VariableNames()
	if len(names) != 105 {
		t.Errorf("got %d names %v; update this test and docs/configuration.md together when adding a setting", len(names), names)
	}
	for _, n := range names {
		if !strings.HasPrefix(n, "TENANTFLOW_") {
			t.Errorf("%s lacks the TENANTFLOW_ prefix", n)
		}
	}
}

// The JWKS tokens' issuer defaults to the realm of a Keycloak certs URL.
func TestJWKSIssuer(t *testing.T) {
	for _, c := range []struct{ url, issuer, want string }{
		{"http://kc:8080/realms/ops/protocol/openid-connect/certs", "", "http://kc:8080/realms/ops"},
		{"https://id.example/jwks.json", "", "tenantflow"},
		{"http://kc:8080/realms/ops/protocol/openid-connect/certs", "https://other", "https://other"},
	} {
		cfg := Config{TokenSettings: TokenSettings{JWTJWKSURL: c.url, JWTJWKSIssuer: c.issuer, JWTIssuer: "tenantflow"}}
		if got := cfg.JWKSIssuer(); got != c.want {
			t.Errorf("%s, %q: %s, want %s", c.url, c.issuer, got, c.want)
		}
	}
}

// Topics are replicated for production unless configured otherwise, and
// the Kafka settings reach the clients as given.
func TestKafkaSettings(t *testing.T) {
	c, err := FromEnv(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if k := c.Kafka(); k.ReplicationFactor != 3 || k.MinInsyncReplicas != 2 || k.Mechanism != "" || k.TLS {
		t.Errorf("defaults: %+v", k)
	}
	c, err = FromEnv(map[string]string{"TENANTFLOW_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "TENANTFLOW_KAFKA_USERNAME": "tenantflow",
		"TENANTFLOW_KAFKA_PASSWORD": "p", "TENANTFLOW_KAFKA_RELAY_USERNAME": "tenantflow-relay", "TENANTFLOW_KAFKA_RELAY_PASSWORD": "r",
		"TENANTFLOW_KAFKA_TLS": "true", "TENANTFLOW_KAFKA_REPLICATION_FACTOR": "1", "TENANTFLOW_KAFKA_MIN_INSYNC_REPLICAS": "1"})
	if err != nil {
		t.Fatal(err)
	}
	if k := c.Kafka(); k.Relay().Username != "tenantflow-relay" || k.Username != "tenantflow" || !k.TLS || k.ReplicationFactor != 1 {
		t.Errorf("configured: %+v", k)
	}
	for name, env := range map[string]map[string]string{
		"TENANTFLOW_KAFKA_SASL_MECHANISM":      {"TENANTFLOW_KAFKA_SASL_MECHANISM": "GSSAPI", "TENANTFLOW_KAFKA_USERNAME": "u", "TENANTFLOW_KAFKA_PASSWORD": "p"},
		"TENANTFLOW_KAFKA_USERNAME":            {"TENANTFLOW_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512"},
		"TENANTFLOW_KAFKA_TLS_CA_FILE":         {"TENANTFLOW_KAFKA_TLS": "true", "TENANTFLOW_KAFKA_TLS_CA_FILE": "/no/such/ca.pem"},
		"TENANTFLOW_KAFKA_REPLICATION_FACTOR":  {"TENANTFLOW_KAFKA_REPLICATION_FACTOR": "1", "TENANTFLOW_KAFKA_MIN_INSYNC_REPLICAS": "2"},
		"TENANTFLOW_KAFKA_RELAY_PASSWORD":      {"TENANTFLOW_KAFKA_RELAY_USERNAME": "tenantflow-relay"},
		"TENANTFLOW_KAFKA_TLS (in production)": {"TENANTFLOW_ENV": "production", "TENANTFLOW_KAFKA_BROKERS": "k:9092"},
	} {
		want, _, _ := strings.Cut(name, " ")
		if _, err := FromEnv(env); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: want an error naming %s, got %v", env, want, err)
		}
	}
}

// productionEnv is a complete production configuration: every back end, TLS
// everywhere, operators' tokens from a key set, the relay's own principal.
func productionEnv() map[string]string {
	return map[string]string{
		"TENANTFLOW_ENV":                    "production",
		"TENANTFLOW_DATABASE_URL":           "postgres://tenantflow_app:x@db:5432/tenantflow?sslmode=verify-full",
		"TENANTFLOW_KAFKA_BROKERS":          "k1:9093",
		"TENANTFLOW_KAFKA_TLS":              "true",
		"TENANTFLOW_KAFKA_SASL_MECHANISM":   "SCRAM-SHA-512",
		"TENANTFLOW_KAFKA_USERNAME":         "tenantflow",
		"TENANTFLOW_KAFKA_PASSWORD":         "p",
		"TENANTFLOW_KAFKA_RELAY_USERNAME":   "tenantflow-relay",
		"TENANTFLOW_KAFKA_RELAY_PASSWORD":   "r",
		"TENANTFLOW_KEYCLOAK_URL":           "https://id.example.com",
		"TENANTFLOW_KEYCLOAK_CLIENT_ID":     "tenantflow-provisioner",
		"TENANTFLOW_KEYCLOAK_CLIENT_SECRET": "s",
		"TENANTFLOW_JWT_SECRET":             strings.Repeat("j", 32),
		"TENANTFLOW_JWT_JWKS_URL":           "https://id.example.com/realms/ops/protocol/openid-connect/certs",
		"TENANTFLOW_SEAL_KEY":               strings.Repeat("s", 32),
		"TENANTFLOW_PII_KEY":                strings.Repeat("ab", 32),
		"TENANTFLOW_SMTP_ADDR":              "smtp.example.com:587",
		"TENANTFLOW_SMTP_TLS":               "mandatory",
		"TENANTFLOW_STORAGE":                "s3",
		"TENANTFLOW_S3_ENDPOINT":            "s3.example.com",
		"TENANTFLOW_S3_ACCESS_KEY":          "a",
		"TENANTFLOW_S3_SECRET_KEY":          "s",
		"TENANTFLOW_INFRA_BINARY":           "tofu",
		"TENANTFLOW_INFRA_MODULES":          "silo=/m/silo",
		"TENANTFLOW_INFRA_STATE_URL":        "postgres://tenantflow_tofu:x@db:5432/tenantflow",
		"TENANTFLOW_DEPLOY_SIGNING_KEY":     strings.Repeat("d", 32),
		"TENANTFLOW_AGENT_KEY":              strings.Repeat("cd", 32),
		"TENANTFLOW_DNS_SERVER":             "ns1.example.com:53",
		"TENANTFLOW_DNS_ZONE":               "tenants.example.com",
		"TENANTFLOW_DNS_TSIG_NAME":          "tenantflow",
		"TENANTFLOW_DNS_TSIG_SECRET":        "c2VjcmV0",
		"TENANTFLOW_CONSOLE_SECURE_COOKIES": "true",
		"TENANTFLOW_BILLING":                "stripe",
		"TENANTFLOW_STRIPE_API_KEY":         "sk_live_x",
	}
}

// Production refuses every shortcut that development allows, one by one,
// each naming the setting; the complete configuration starts.
func TestProductionRefusesEveryShortcut(t *testing.T) {
	if _, err := FromEnv(productionEnv()); err != nil {
		t.Fatalf("a complete production configuration is refused: %v", err)
	}
	for name, c := range map[string]struct {
		change map[string]string
		want   string
	}{
		"operators' tokens without a key set (HS256 only)": {map[string]string{"TENANTFLOW_JWT_JWKS_URL": ""}, "TENANTFLOW_JWT_JWKS_URL"},
		"a key set over http":                              {map[string]string{"TENANTFLOW_JWT_JWKS_URL": "http://id.example.com/certs"}, "TENANTFLOW_JWT_JWKS_URL"},
		"Keycloak over http":                               {map[string]string{"TENANTFLOW_KEYCLOAK_URL": "http://id.example.com"}, "TENANTFLOW_KEYCLOAK_URL"},
		"Novu over http": {map[string]string{"TENANTFLOW_NOTIFIER": "novu", "TENANTFLOW_NOVU_URL": "http://novu.example.com",
			"TENANTFLOW_NOVU_API_KEY": "k"}, "TENANTFLOW_NOVU_URL"},
		"SMTP with opportunistic TLS":                      {map[string]string{"TENANTFLOW_SMTP_TLS": "opportunistic"}, "TENANTFLOW_SMTP_TLS"},
		"SMTP without TLS":                                 {map[string]string{"TENANTFLOW_SMTP_TLS": "none"}, "TENANTFLOW_SMTP_TLS"},
		"S3 without TLS":                                   {map[string]string{"TENANTFLOW_S3_TLS": "false"}, "TENANTFLOW_S3_TLS"},
		"console cookies without Secure":                   {map[string]string{"TENANTFLOW_CONSOLE_SECURE_COOKIES": "false"}, "TENANTFLOW_CONSOLE_SECURE_COOKIES"},
		"no relay principal":                               {map[string]string{"TENANTFLOW_KAFKA_RELAY_USERNAME": "", "TENANTFLOW_KAFKA_RELAY_PASSWORD": ""}, "TENANTFLOW_KAFKA_RELAY_USERNAME"},
		"HS256 operators' tokens allowed":                  {map[string]string{"TENANTFLOW_JWT_HS256_OPERATORS": "true"}, "TENANTFLOW_JWT_HS256_OPERATORS"},
		"no Keycloak, idp steps not named":                 {map[string]string{"TENANTFLOW_KEYCLOAK_URL": ""}, "idp, admin_user"},
		"no storage, not named":                            {map[string]string{"TENANTFLOW_STORAGE": "none"}, "steps storage have no back end"},
		"no DNS, not named":                                {map[string]string{"TENANTFLOW_DNS_SERVER": ""}, "steps dns have no back end"},
		"OpenTofu's state with the tenants' database role": {map[string]string{"TENANTFLOW_INFRA_STATE_URL": ""}, "TENANTFLOW_INFRA_STATE_URL"},
		"skipping a step that has a back end":              {map[string]string{"TENANTFLOW_SKIP_STEPS": "dns"}, "names dns, which has a back end"},
		"skipping an unknown step":                         {map[string]string{"TENANTFLOW_SKIP_STEPS": "invoicing"}, `"invoicing" is not a step`},
		"no billing, not named":                            {map[string]string{"TENANTFLOW_BILLING": ""}, "steps billing have no back end"},
		"Stripe over http":                                 {map[string]string{"TENANTFLOW_STRIPE_API_URL": "http://stripe.example.com"}, "TENANTFLOW_STRIPE_API_URL"},
		"Stripe without its key":                           {map[string]string{"TENANTFLOW_STRIPE_API_KEY": ""}, "TENANTFLOW_STRIPE_API_KEY"},
		"an unknown billing provider":                      {map[string]string{"TENANTFLOW_BILLING": "abacus"}, "TENANTFLOW_BILLING"},
		"a webhook secret that is not one":                 {map[string]string{"TENANTFLOW_STRIPE_WEBHOOK_SECRET": "sk_live_x"}, "TENANTFLOW_STRIPE_WEBHOOK_SECRET"},
		"a webhook secret without Stripe":                  {map[string]string{"TENANTFLOW_STRIPE_WEBHOOK_SECRET": "whsec_x", "TENANTFLOW_BILLING": "", "TENANTFLOW_SKIP_STEPS": "billing"}, "TENANTFLOW_STRIPE_WEBHOOK_SECRET"},
	} {
		env := productionEnv()
		maps.Copy(env, c.change)
		_, err := FromEnv(env)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: want a refusal naming %q, got %v", name, c.want, err)
		}
	}
	// Named on purpose, a missing back end is accepted (and shows in each
	// tenant's record as a skipped step).
	env := productionEnv()
	maps.Copy(env, map[string]string{"TENANTFLOW_DNS_SERVER": "", "TENANTFLOW_SKIP_STEPS": "dns"})
	if _, err := FromEnv(env); err != nil {
		t.Errorf("dns skipped on purpose: %v", err)
	}
	// A process that runs no handlers needs no back ends; one that runs no
	// API sets no cookies.
	env = productionEnv()
	maps.Copy(env, map[string]string{"TENANTFLOW_ROLES": "relay", "TENANTFLOW_DNS_SERVER": "", "TENANTFLOW_CONSOLE_SECURE_COOKIES": "false"})
	if _, err := FromEnv(env); err != nil {
		t.Errorf("a relay-only process: %v", err)
	}
}

// The serving process never holds the tables' owner in production:
// migrations are `tenantctl migrate`, a job of their own.
func TestProductionServingRefusesTheOwner(t *testing.T) {
	env := productionEnv()
	env["TENANTFLOW_DATABASE_MIGRATE_URL"] = "postgres://tenantflow:x@db:5432/tenantflow"
	cfg, err := FromEnv(env)
	if err != nil {
		t.Fatalf("tenantctl migrate must accept the owner: %v", err)
	}
	if err := cfg.ValidateServing(); err == nil || !strings.Contains(err.Error(), "TENANTFLOW_DATABASE_MIGRATE_URL") {
		t.Fatalf("tenantd with the owner's URL in production: %v", err)
	}
	cfg.Env = "development"
	if err := cfg.ValidateServing(); err != nil {
		t.Fatalf("development migrates at start: %v", err)
	}
}
