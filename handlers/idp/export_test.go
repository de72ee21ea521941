package idp

import (
	"context"

	"github.com/tenantflow/tenantflow/domain"
)

// CreateAdminUser is the admin_user step's create, alone: tests drive the
// race in which the user appears between the step's look-up and its create.
func CreateAdminUser(ctx context.Context, id *Identity, t *domain.Tenant) (userID string, err error) {
	token, err := id.Admin.Token(ctx)
	if err != nil {
		return "", err
	}
	u, err := adminStep{id}.createAdmin(ctx, token, t, nil) // the realm model
	if err != nil {
		return "", err
	}
	return *u.ID, nil
}
