// Package childenv builds the environment of the programs tenantflow runs
// (OpenTofu and the providers it downloads; the application plane's deploy
// scripts) from an allow-list, never from the whole environment: the
// process's own secrets (TENANTFLOW_*: database URLs, Kafka passwords, the
// agent and signing keys) must not reach code tenantflow did not write.
package childenv

import (
	"os"
	"slices"
	"strings"
)

// Base are the variables every child gets when the parent has them: where
// programs are found, home and scratch directories, locale and time zone,
// the system's certificate bundle and the proxy settings downloads need.
var Base = []string{"PATH", "HOME", "TMPDIR", "USER", "LANG", "LC_ALL", "TZ",
	"SSL_CERT_FILE", "SSL_CERT_DIR", "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy"}

// Build is the environment of a child: the parent's values of Base and of
// allow (names the operator chose to pass, such as a cloud provider's
// credentials), then set ("NAME=value", given by the caller). No variable
// of tenantflow's own (TENANTFLOW_*) passes, whatever allow says.
func Build(allow []string, set ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "TENANTFLOW_") {
			continue
		}
		if slices.Contains(Base, name) || slices.Contains(allow, name) {
			out = append(out, kv)
		}
	}
	return append(out, set...)
}
