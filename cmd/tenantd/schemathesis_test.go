package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/internal/testkit/mailtest"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
	"github.com/tenantflow/tenantflow/platform/auth"
)

// schemathesis (from PyPI, installed by the dev stack) fuzzes every route of
// /openapi.json on a running tenantd, with a token holding every permission
// and with none: no server error, and every answer conforms to the document
// (status codes, content types, headers, bodies). Two checks are left out by
// design: positive_data_acceptance (the document cannot state cross-field
// rules such as plan.id == planId, nor which opaque cursors exist) and
// use_after_free (DELETE starts an asynchronous deprovisioning; the tenant
// stays readable, DEPROVISIONING then INACTIVE).
func TestSchemathesis(t *testing.T) {
	st := testenv.Require(t, "TENANTFLOW_DEVSTACK_SCHEMATHESIS")["TENANTFLOW_DEVSTACK_SCHEMATHESIS"]
	env := devStackEnv(t)
	env["TENANTFLOW_JWT_SECRET"] = "tenantd-test-secret-tenantd-test-secret"
	env["TENANTFLOW_SMTP_ADDR"] = mailtest.SMTPAddr(t)
	env["TENANTFLOW_LEAD_RATE_LIMIT"] = "100000"
	for _, k := range []string{"TENANTFLOW_LEAD_RATE_PER_RECIPIENT", "TENANTFLOW_LEAD_RATE_PER_DOMAIN", "TENANTFLOW_LEAD_RATE_GLOBAL"} {
		env[k] = "100000" // schemathesis signs the same few addresses up again and again
	}
	env["TENANTFLOW_DEPLOY_SIGNING_KEY"] = testSigningKey // so every route is configured (503 counts as a server error)
	env["TENANTFLOW_AGENT_KEY"] = testAgentKey
	p := start(t, env)
	p.readyzUntil(t, "ready", isReady)
	signer, _ := auth.NewHS256(env["TENANTFLOW_JWT_SECRET"], "tenantflow")
	all, _ := signer.Mint("schemathesis", auth.Known, "", time.Hour, time.Now())

	for name, header := range map[string]string{"with a token": "Authorization: Bearer " + all, "without a token": ""} {
		args := []string{"run", p.base + "/openapi.json", "--url", p.base, "--checks", "all",
			"--exclude-checks", "positive_data_acceptance,use_after_free", "--max-examples", "15", "--seed", "20261126"}
		if header != "" {
			args = append(args, "-H", header)
		}
		cmd := exec.Command(st, args...)
		cmd.Env = append(os.Environ(), "NO_COLOR=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("schemathesis %s: %v\n%s", name, err, tailOf(string(out), 20000))
		}
	}
	for _, line := range strings.Split(p.out.String(), "\n") {
		if strings.Contains(line, `"msg":"request failed"`) {
			t.Errorf("tenantd answered a request with a server error: %s", line)
		}
	}
	p.stop(t)
}

func tailOf(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
