package handlers

import (
	"context"

	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/internal/pii"
)

// opened is t with its contacts' sealed personal fields opened (an erased
// person's read "[erased]"). The log and so the loaded tenant keep them
// sealed; only the steps that register or mail the people open them, right
// where they do. A nil opener leaves t as it is.
func opened(ctx context.Context, o pii.Opener, t *domain.Tenant) (*domain.Tenant, error) {
	if o == nil {
		return t, nil
	}
	c, cs := t.Contact(), t.Contacts()
	if err := pii.OpenContacts(ctx, o, &c, cs); err != nil {
		return nil, err
	}
	return t.WithContacts(c, cs), nil
}
