package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/google/uuid"
	"github.com/tenantflow/tenantflow/app"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/eventstore/wire"
	"github.com/tenantflow/tenantflow/handlers/notify"
	"github.com/tenantflow/tenantflow/internal/config"
	"github.com/tenantflow/tenantflow/internal/service"
	"github.com/tenantflow/tenantflow/platform/idempotency"
	"github.com/tenantflow/tenantflow/platform/pii"
)

// eraseCmd honours an erasure request by crypto-shredding (platform/pii):
// the person's key is destroyed and person.erased recorded. The log is not
// touched and still verifies; from then on the person's fields read
// "[erased]" in the API, the console, exports and projections, and the
// sealed copies on the topic and in the analytics stream cannot be opened.
type eraseCmd struct {
	Lead    string `xor:"who" required:"" help:"Erase the person behind this lead (its id)."`
	Contact string `xor:"who" required:"" help:"Erase the person with this email address (as a lead or any tenant's contact)."`
	Reason  string `required:"" help:"Why (the request's reference): recorded with the erasure."`
	Actor   string `env:"USER" default:"operator" help:"Who erases (recorded as tenantctl:<actor>); default: $USER."`
}

func (c eraseCmd) Run() error { return c.run(context.Background(), os.Stdout) }

func (c eraseCmd) run(ctx context.Context, out io.Writer) error {
	if strings.TrimSpace(c.Reason) == "" {
		return errors.New("--reason must say why (the erasure request's reference)")
	}
	store, vault, cfg, done, err := openStoreAndVault(ctx)
	if err != nil {
		return err
	}
	defer done()
	var keyID, email string
	if c.Contact != "" {
		email = c.Contact
		keyID, err = vault.KeyOf(ctx, c.Contact)
	} else {
		if keyID, err = app.LeadKey(ctx, store, c.Lead); err != nil {
			err = fmt.Errorf("--lead: %w", err)
		} else {
			email, err = leadEmail(ctx, store, vault, c.Lead)
		}
	}
	if err != nil {
		return err
	}
	// Outside the log the person is kept in the clear: remove them there
	// first, while their key still says which tenants were theirs.
	tenants, err := tenantsOfKey(ctx, store, keyID)
	if err != nil {
		return err
	}
	removed, err := app.ForgetEverywhere(ctx, email, tenants, forgetters(cfg, store, vault)...)
	for _, r := range removed {
		fmt.Fprintln(out, "removed:", r)
	}
	if err != nil {
		return err
	}
	md := eventstore.Metadata{Actor: "tenantctl:" + c.Actor, CorrelationID: uuid.NewString()}
	if err := app.Erase(ctx, store, vault, keyID, c.Reason, md); err != nil {
		return err
	}
	fmt.Fprintf(out, "erased: key %s destroyed; its fields now read %q everywhere\n", keyID, pii.Erased)
	return nil
}

// leadEmail is the lead's address, opened.
func leadEmail(ctx context.Context, store *eventstore.Postgres, vault *pii.Vault, leadID string) (string, error) {
	lead, err := app.Leads(store).Get(ctx, leadID)
	if err != nil {
		return "", fmt.Errorf("--lead: %w", err)
	}
	contact, err := vault.Open(ctx, lead.Contact())
	return contact.Email, err
}

// tenantsOfKey are the tenants whose log holds fields sealed with keyID:
// those the person is, or was, a contact of.
func tenantsOfKey(ctx context.Context, store *eventstore.Postgres, keyID string) ([]*domain.Tenant, error) {
	streams, err := store.StreamsMentioning(ctx, wire.TenantPrefix, pii.SealedWith(keyID))
	if err != nil {
		return nil, err
	}
	var out []*domain.Tenant
	for _, s := range streams {
		id, _ := wire.TenantOf(s)
		t, err := app.Tenants(store).Get(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// idempotentAnswers forgets the recorded answers that hold the person.
type idempotentAnswers struct{ store *idempotency.Store }

func (i idempotentAnswers) ForgetPerson(ctx context.Context, email string, _ []*domain.Tenant) ([]string, error) {
	n, err := i.store.ForgetPerson(ctx, email)
	if n == 0 || err != nil {
		return nil, err
	}
	return []string{fmt.Sprintf("%d recorded idempotent answers", n)}, nil
}

// forgetters are the places outside the log this installation keeps people
// in: recorded answers always, Keycloak's users and Novu's subscribers when
// configured.
func forgetters(cfg config.Config, store *eventstore.Postgres, vault *pii.Vault) []app.PersonForgetter {
	out := []app.PersonForgetter{idempotentAnswers{idempotency.New(store.Pool(), cfg.IdempotencyTTL)}}
	if cfg.KeycloakConfigured() {
		out = append(out, service.AdminUser(service.Identity(cfg, ""), vault))
	}
	if cfg.Notifier == "novu" {
		out = append(out, notify.Novu{BaseURL: cfg.NovuURL, APIKey: cfg.NovuAPIKey})
	}
	return out
}
