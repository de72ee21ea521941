// Package steptest is the contract every step back end keeps, as one test
// suite each implementation runs on its real back end (the way the event
// store's contract suite runs on PostgreSQL and in memory). What the engine
// relies on, and so what is checked:
//
//   - Do twice is done once: a redelivered record makes nothing new and
//     reports the same resources.
//   - Probe finds every resource Do reported (the drift check would call it
//     missing otherwise), and none after Undo.
//   - Undo twice, and Undo of what was never done, succeed: compensation
//     runs again after a crash.
//   - Another tenant claiming the same names is refused for good
//     (step.ErrForeign, permanent), its Undo succeeds, and what the first
//     tenant made is still there.
package steptest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/handlers/step"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
)

// Subject is one back end under the contract.
type Subject struct {
	Action step.Action
	// NewTenant is a tenant with the given key and a fresh id, as the step
	// gets it (a plan tier, domains); default: a bare tenant.
	NewTenant func(t testing.TB, key string) *domain.Tenant
	// Before makes what the step needs first (the realm, for the admin
	// user) and registers its cleanup.
	Before func(t testing.TB, tn *domain.Tenant)
	// NamedByID says the step's resources are named by the tenant's id, so
	// no other tenant can claim them: the foreign-tenant clause does not
	// apply.
	NamedByID bool
	// Timeout bounds each call (default one minute; OpenTofu needs more).
	Timeout time.Duration
}

// Run checks s against the contract.
func Run(t *testing.T, s Subject) {
	if s.NewTenant == nil {
		s.NewTenant = testenv.NewTenant
	}
	if s.Timeout <= 0 {
		s.Timeout = time.Minute
	}
	prober, canProbe := step.As[step.Prober](s.Action)
	call := func(t *testing.T, what string, f func(ctx context.Context) error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), s.Timeout)
		defer cancel()
		if err := f(ctx); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	do := func(t *testing.T, tn *domain.Tenant) step.Result {
		t.Helper()
		var res step.Result
		call(t, "Do", func(ctx context.Context) (err error) { res, err = s.Action.Do(ctx, tn); return err })
		if res.Skipped {
			t.Fatal("Do skipped: the back end under the contract is not configured")
		}
		return res
	}
	live := func(t *testing.T, tn *domain.Tenant) []domain.Resource {
		t.Helper()
		var found []domain.Resource
		call(t, "Probe", func(ctx context.Context) (err error) { found, err = prober.Probe(ctx, tn); return err })
		return found
	}
	fresh := func(t *testing.T) *domain.Tenant {
		tn := s.NewTenant(t, testenv.UniqueKey("ct"))
		if s.Before != nil {
			s.Before(t, tn)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), s.Timeout)
			defer cancel()
			_ = s.Action.Undo(ctx, tn)
		})
		return tn
	}

	t.Run("DoTwiceIsDoneOnce", func(t *testing.T) {
		tn := fresh(t)
		first, again := do(t, tn), do(t, tn)
		if !sameResources(first.Resources, again.Resources) {
			t.Fatalf("a second Do reported other resources:\n first %v\n again %v", first.Resources, again.Resources)
		}
	})

	t.Run("ProbeFindsWhatDoMadeAndNothingAfterUndo", func(t *testing.T) {
		if !canProbe {
			t.Fatal("the back end has no Probe: tenantctl drift could not check it")
		}
		tn := fresh(t)
		made := do(t, tn).Resources
		if found := live(t, tn); !covers(found, made) {
			t.Fatalf("Probe after Do found %v, not every resource Do reported (%v)", found, made)
		}
		call(t, "Undo", func(ctx context.Context) error { return s.Action.Undo(ctx, tn) })
		if found := live(t, tn); len(found) > 0 {
			t.Fatalf("Probe after Undo still finds %v", found)
		}
	})

	t.Run("UndoTwiceAndUndoOfNothingSucceed", func(t *testing.T) {
		never := fresh(t)
		call(t, "Undo of what was never done", func(ctx context.Context) error { return s.Action.Undo(ctx, never) })
		tn := fresh(t)
		do(t, tn)
		call(t, "Undo", func(ctx context.Context) error { return s.Action.Undo(ctx, tn) })
		call(t, "Undo again", func(ctx context.Context) error { return s.Action.Undo(ctx, tn) })
	})

	t.Run("AnotherTenantsClaimIsRefused", func(t *testing.T) {
		if s.NamedByID {
			t.Log("resources are named by the tenant's id: no other tenant can claim them")
			return
		}
		owner := fresh(t)
		made := do(t, owner).Resources
		impostor := s.NewTenant(t, owner.Key())
		ctx, cancel := context.WithTimeout(context.Background(), s.Timeout)
		defer cancel()
		if _, err := s.Action.Do(ctx, impostor); !errors.Is(err, step.ErrForeign) || !step.IsPermanent(err) {
			t.Fatalf("Do for another tenant with the same key: %v, want a permanent step.ErrForeign", err)
		}
		call(t, "the other tenant's Undo", func(ctx context.Context) error { return s.Action.Undo(ctx, impostor) })
		if canProbe {
			if found := live(t, owner); !covers(found, made) {
				t.Fatalf("after the other tenant's Do and Undo, Probe finds %v of the owner's %v", found, made)
			}
		}
	})
}

// identity is what names a resource: its kind and its id in the back end.
func identity(r domain.Resource) [2]string { return [2]string{r.Kind, r.ID} }

// covers reports whether found holds every resource of want.
func covers(found, want []domain.Resource) bool {
	for _, w := range want {
		if !slices.ContainsFunc(found, func(f domain.Resource) bool { return identity(f) == identity(w) }) {
			return false
		}
	}
	return true
}

func sameResources(a, b []domain.Resource) bool { return covers(a, b) && covers(b, a) }
