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
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/internal/pii"
)

// eraseCmd honours an erasure request by crypto-shredding (internal/pii):
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
	store, vault, done, err := openStoreAndVault(ctx)
	if err != nil {
		return err
	}
	defer done()
	var keyID string
	if c.Contact != "" {
		keyID, err = vault.KeyOf(ctx, c.Contact)
	} else {
		if keyID, err = app.LeadKey(ctx, store, c.Lead); err != nil {
			err = fmt.Errorf("--lead: %w", err)
		}
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
