// Package domain holds tenantflow's aggregates (Lead, Tenant), the events they
// are folded from, the commands that decide new events, and the tenant status
// machine. It decides and never does I/O; it imports only the standard
// library. Every command validates its whole input before it returns an
// event, so no request can leave an aggregate half-changed.
package domain

import (
	"fmt"
	"slices"
)

// Status is a tenant's lifecycle state. The numbers are those of the system
// tenantflow replaces, so its consumers keep working.
type Status int

const (
	StatusActive           Status = 0
	StatusPendingProvision Status = 1
	StatusProvisioning     Status = 2
	StatusProvisionFailed  Status = 3
	StatusDeprovisioning   Status = 4
	StatusInactive         Status = 5
	// StatusSuspended: nobody of the tenant signs in, its data is kept
	// (tenantflow's own; the replaced system had none).
	StatusSuspended Status = 6
)

var statusNames = map[Status]string{
	StatusActive:           "ACTIVE",
	StatusPendingProvision: "PENDING_PROVISION",
	StatusProvisioning:     "PROVISIONING",
	StatusProvisionFailed:  "PROVISION_FAILED",
	StatusDeprovisioning:   "DEPROVISIONING",
	StatusInactive:         "INACTIVE",
	StatusSuspended:        "SUSPENDED",
}

func (s Status) String() string {
	if n, ok := statusNames[s]; ok {
		return n
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// ParseStatus reads a status name such as "ACTIVE".
func ParseStatus(name string) (Status, error) {
	for s, n := range statusNames {
		if n == name {
			return s, nil
		}
	}
	return 0, fmt.Errorf("unknown tenant status %q", name)
}

// transitions lists every allowed move; anything else is a TransitionError.
var transitions = map[Status][]Status{
	StatusPendingProvision: {StatusProvisioning, StatusDeprovisioning},
	StatusProvisioning:     {StatusActive, StatusProvisionFailed},
	StatusProvisionFailed:  {StatusProvisioning, StatusDeprovisioning}, // a new attempt, or offboarding
	StatusActive:           {StatusDeprovisioning, StatusSuspended},
	StatusSuspended:        {StatusActive, StatusDeprovisioning}, // reactivated, or offboarded
	StatusDeprovisioning:   {StatusInactive},
	StatusInactive:         nil, // final: the tenant keeps its key
}

// CanMove reports whether a tenant may go from one status to another.
func CanMove(from, to Status) bool { return slices.Contains(transitions[from], to) }

// TransitionError rejects a status change the machine does not allow.
type TransitionError struct {
	TenantID string
	From, To Status
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("tenant %s cannot go from %s to %s", e.TenantID, e.From, e.To)
}
