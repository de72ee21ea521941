package service

import (
	"testing"

	"github.com/tenantflow/tenantflow/internal/config"
)

// The realms' SMTP settings follow tenantflow's own, but never carry its
// password: an SMTP server that wants one is reached through the mail
// bridge, with credentials of each realm's own (a tenant's administrator
// holds realm-admin and reads them); without an SMTP server Keycloak mails
// through the bridge (Novu) or, with no notifier, not at all.
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
	if !bridge || m.Host != "127.0.0.1" || m.Port != "14025" || m.PasswordFor == nil || m.From != "ops@example.com" {
		t.Errorf("with an SMTP server that wants a password: %+v bridge=%v", m, bridge)
	}
	if acme := m.PasswordFor("tenant-acme"); len(acme) != 64 || acme == "p" || acme == m.PasswordFor("tenant-beta") {
		t.Errorf("the realms' SMTP passwords: %q, %q (tenantflow's is %q)", acme, m.PasswordFor("tenant-beta"), "p")
	}
	if m, bridge := RealmMail(load(map[string]string{"TENANTFLOW_SMTP_ADDR": "mail:25", "TENANTFLOW_SMTP_TLS": "none"})); bridge || m.StartTLS || m.PasswordFor != nil || m.Host != "mail" {
		t.Errorf("TLS none, no auth: %+v", m)
	}
	m, bridge = RealmMail(load(map[string]string{"TENANTFLOW_NOTIFIER": "novu", "TENANTFLOW_NOVU_API_KEY": "k",
		"TENANTFLOW_MAIL_BRIDGE_ADDR": ":14025", "TENANTFLOW_MAIL_BRIDGE_DIAL": "tenantd.internal:14025"}))
	if !bridge || m.Host != "tenantd.internal" || m.Port != "14025" || m.PasswordFor == nil || len(m.PasswordFor("tenant-acme")) != 64 {
		t.Errorf("Novu only: %+v bridge=%v", m, bridge)
	}
	if m, bridge := RealmMail(load(map[string]string{})); bridge || m.Host != "" {
		t.Errorf("no way to mail: %+v bridge=%v", m, bridge)
	}
}
