package service

import (
	"testing"

	"github.com/tenantflow/tenantflow/internal/config"
)

// The realms' SMTP settings follow tenantflow's own; without an SMTP server
// Keycloak mails through the mail bridge (Novu) or, with no notifier, not at all.
func TestRealmMailFollowsTenantflowsSMTPSettings(t *testing.T) {
	load := func(env map[string]string) config.Config {
		t.Helper()
		env["TENANTFLOW_KEYCLOAK_URL"], env["TENANTFLOW_KEYCLOAK_ADMIN_PASSWORD"] = "http://kc:8080", "admin-pw"
		cfg, err := config.FromEnv(env)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	m, bridge := RealmMail(load(map[string]string{"TENANTFLOW_SMTP_ADDR": "mail.example.com:587", "TENANTFLOW_SMTP_USER": "u",
		"TENANTFLOW_SMTP_PASSWORD": "p", "TENANTFLOW_SMTP_TLS": "mandatory", "TENANTFLOW_SMTP_FROM": "Ops <ops@example.com>"}))
	if bridge || m.Host != "mail.example.com" || m.Port != "587" || m.User != "u" || m.Password != "p" || !m.StartTLS || m.From != "ops@example.com" {
		t.Errorf("with SMTP: %+v bridge=%v", m, bridge)
	}
	if m, _ := RealmMail(load(map[string]string{"TENANTFLOW_SMTP_ADDR": "mail:25", "TENANTFLOW_SMTP_TLS": "none"})); m.StartTLS || m.User != "" {
		t.Errorf("TLS none, no auth: %+v", m)
	}
	m, bridge = RealmMail(load(map[string]string{"TENANTFLOW_NOTIFIER": "novu", "TENANTFLOW_NOVU_API_KEY": "k",
		"TENANTFLOW_MAIL_BRIDGE_ADDR": ":14025", "TENANTFLOW_MAIL_BRIDGE_DIAL": "tenantd.internal:14025"}))
	if !bridge || m.Host != "tenantd.internal" || m.Port != "14025" || m.User != "keycloak" || len(m.Password) != 64 {
		t.Errorf("Novu only: %+v bridge=%v", m, bridge)
	}
	if m, bridge := RealmMail(load(map[string]string{})); bridge || m.Host != "" {
		t.Errorf("no way to mail: %+v bridge=%v", m, bridge)
	}
}
