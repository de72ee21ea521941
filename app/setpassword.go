package app

import (
	"context"
	"fmt"
	"strings"

	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/platform/pii"
)

// SetPasswordSender delivers an admin's set-password link through
// tenantflow's own notifier (Novu, MailNotifier).
type SetPasswordSender interface {
	SetPassword(ctx context.Context, t *domain.Tenant, link string) error
}

// SetPasswordLinks delivers the set-password links Keycloak mails to the
// mail bridge (adapters/keycloak.MailBridge.Deliver): the link's realm names
// the tenant (tenant-<key>) — or, from the shared realm, the recipient's
// organizations name the tenants it administers, of which the one being
// provisioned is mailed — and the recipient must be that tenant's admin, so
// the bridge relays nothing else.
type SetPasswordLinks struct {
	Store    eventstore.Streams
	Personal pii.Opener // opens the admins' sealed addresses (nil: not sealed)
	Sender   SetPasswordSender
	// SharedRealm is the organizations' realm ("" when no tier uses one);
	// OrganizationsOf names the organizations (tenant keys) recipient is a
	// member of in it (the identity step's look-up in Keycloak).
	SharedRealm     string
	OrganizationsOf func(ctx context.Context, realm, recipient string) ([]string, error)
}

// Deliver sends link, mailed by Keycloak from realm to recipient, to the
// tenant's admin it is for, or refuses it.
func (l SetPasswordLinks) Deliver(ctx context.Context, realm, recipient, link string) error {
	candidates, err := l.tenantsMailed(ctx, realm, recipient)
	if err != nil {
		return err
	}
	tenants := Tenants(l.Store)
	for _, tid := range candidates {
		t, err := tenants.Get(ctx, tid)
		if err == nil {
			t, err = pii.OpenTenant(ctx, l.Personal, t)
		}
		if err != nil {
			return err
		}
		if !strings.EqualFold(strings.TrimSpace(recipient), t.Contact().Email) {
			continue
		}
		if len(candidates) > 1 && t.Status() != domain.StatusProvisioning {
			continue
		}
		return l.Sender.SetPassword(ctx, t, link)
	}
	return fmt.Errorf("the recipient is not the admin of a tenant of realm %s being provisioned", realm)
}

// tenantsMailed are the tenants a set-password mail of realm to recipient
// may be for.
func (l SetPasswordLinks) tenantsMailed(ctx context.Context, realm, recipient string) ([]string, error) {
	if key, ok := strings.CutPrefix(realm, domain.RealmPrefix); ok {
		if tid := TenantIDByKey(ctx, l.Store, key); tid != "" {
			return []string{tid}, nil
		}
	}
	if realm != l.SharedRealm || l.SharedRealm == "" || l.OrganizationsOf == nil {
		return nil, fmt.Errorf("realm %s is no tenant's", realm)
	}
	keys, err := l.OrganizationsOf(ctx, realm, recipient)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, key := range keys {
		if tid := TenantIDByKey(ctx, l.Store, key); tid != "" {
			ids = append(ids, tid)
		}
	}
	return ids, nil
}
