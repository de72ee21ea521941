package dns_test

import (
	"testing"

	"github.com/tenantflow/tenantflow/internal/testkit/devsteps"
	"github.com/tenantflow/tenantflow/internal/testkit/steptest"
)

// On the dev stack's BIND: the tenant's platform name, marked by its owner
// TXT record.
func TestDNSKeepsTheStepContract(t *testing.T) {
	steptest.Run(t, steptest.Subject{Action: devsteps.DNS(t)})
}
