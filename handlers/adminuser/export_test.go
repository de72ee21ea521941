package adminuser

import (
	"context"

	"github.com/tenantflow/tenantflow/domain"
)

// CreateAdminUser is the admin_user step's create, alone: tests drive the
// race in which the user appears between the step's look-up and its create.
func CreateAdminUser(ctx context.Context, s Step, t *domain.Tenant) (userID string, err error) {
	token, err := s.Keycloak.Admin.Token(ctx)
	if err != nil {
		return "", err
	}
	u, err := s.createAdmin(ctx, token, t, nil) // the realm model
	if err != nil {
		return "", err
	}
	return *u.ID, nil
}
