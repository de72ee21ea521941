package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/internal/pii"
	"github.com/tenantflow/tenantflow/app"
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
		keyID, err = leadKey(ctx, store, c.Lead)
	}
	if err != nil {
		return err
	}
	// Recorded first, then destroyed: a run cut off between the two is
	// simply run again (the key is still there, the erasure recorded twice).
	e := domain.PersonErased{KeyID: keyID, Reason: strings.TrimSpace(c.Reason), At: time.Now().UTC()}
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	md := eventstore.Metadata{Actor: "tenantctl:" + c.Actor, CorrelationID: uuid.NewString()}
	if _, err := store.Append(ctx, "person-"+keyID, eventstore.Any, eventstore.NewEvent{ID: uuid.NewString(),
		Type: e.EventType(), SchemaVersion: 1, Data: data, Metadata: md}); err != nil {
		return fmt.Errorf("record the erasure: %w (nothing destroyed yet)", err)
	}
	if err := vault.EraseKey(ctx, keyID); err != nil {
		return err
	}
	fmt.Fprintf(out, "erased: key %s destroyed; its fields now read %q everywhere\n", keyID, pii.Erased)
	return nil
}

// leadKey is the key the lead's personal fields are sealed with, read from
// its lead.created event (the sealed strings name their key).
func leadKey(ctx context.Context, store *eventstore.Postgres, id string) (string, error) {
	if _, err := uuid.Parse(id); err != nil {
		return "", fmt.Errorf("--lead %q is not a lead id (a UUID)", id)
	}
	events, err := store.Load(ctx, app.Leads(store).Stream(id))
	if err != nil {
		return "", err
	}
	for _, e := range events {
		if e.Type == domain.TypeLeadCreated {
			if ids := pii.KeyIDs(e.Data); len(ids) > 0 {
				return ids[0], nil
			}
			return "", errors.New("the lead's personal fields are not sealed (recorded before sealing): nothing to erase by key")
		}
	}
	return "", fmt.Errorf("no lead %s", id)
}
