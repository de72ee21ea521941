package storage

import (
	"context"

	"github.com/tenantflow/tenantflow/domain"
)

// MakeBucket is the storage step's create, alone (as idp.CreateAdminUser is the admin user's).
func MakeBucket(ctx context.Context, s S3, t *domain.Tenant) error { return s.makeBucket(ctx, t) }
