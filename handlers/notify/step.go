package notify

import (
	"context"

	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/handlers/step"
)

// Sender sends the tenant's mails (MailNotifier, Novu).
type Sender interface {
	Welcome(ctx context.Context, t *domain.Tenant) error
	// Failure tells the customer that provisioning failed and was rolled
	// back (t.FailedStep, t.Orphans), in the customer's words.
	Failure(ctx context.Context, t *domain.Tenant) error
}

// Step is the notify step's action: the welcome mail once the tenant is
// ACTIVE, the failure notice once its attempt was rolled back. It makes
// nothing, so its undo has nothing to do.
type Step struct{ Sender Sender }

func (s Step) Do(ctx context.Context, t *domain.Tenant) (step.Result, error) {
	if t.Status() == domain.StatusActive {
		return step.Result{}, s.Sender.Welcome(ctx, t)
	}
	return step.Result{}, s.Sender.Failure(ctx, t)
}

func (Step) Undo(context.Context, *domain.Tenant) error { return nil }
