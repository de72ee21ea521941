// Package testenv gives integration tests the dev stack's connection settings.
//
// `make test` starts the dev stack and exports its settings (devstack.sh env)
// before running the suite. A test that needs a service calls Require: when a
// setting is missing it fails under CI (CI set to anything), so the suite can
// never pass by skipping its integration tests, and skips with the reason
// otherwise, so `go test ./...` on a laptop without the stack still runs the
// unit tests.
package testenv

import (
	"os"
	"strings"
	"testing"
)

// Require returns the values of the named environment variables, or stops the
// test: t.Fatal under CI, t.Skip elsewhere, naming what is missing.
func Require(t testing.TB, names ...string) map[string]string {
	t.Helper()
	vals := make(map[string]string, len(names))
	var missing []string
	for _, n := range names {
		v := os.Getenv(n)
		if v == "" {
			missing = append(missing, n)
		}
		vals[n] = v
	}
	if len(missing) == 0 {
		return vals
	}
	msg := "needs the dev stack: " + strings.Join(missing, ", ") +
		" not set (run `make test`, or eval \"$(devstack/devstack.sh env)\" after devstack.sh up)"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return nil
}

// KafkaBrokers returns the real broker list of the dev stack.
func KafkaBrokers(t testing.TB) []string {
	t.Helper()
	return strings.Split(Require(t, "TENANTFLOW_KAFKA_BROKERS")["TENANTFLOW_KAFKA_BROKERS"], ",")
}

// DatabaseURL returns the dev stack's PostgreSQL URL.
func DatabaseURL(t testing.TB) string {
	t.Helper()
	return Require(t, "TENANTFLOW_DATABASE_URL")["TENANTFLOW_DATABASE_URL"]
}
