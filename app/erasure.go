package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/platform/pii"
)

// Shredder destroys the key a person's fields are sealed with (pii.Vault).
type Shredder interface {
	EraseKey(ctx context.Context, keyID string) error
}

// Erase honours an erasure request by crypto-shredding: person.erased is
// recorded on the person's stream, then the key destroyed. The log is not
// touched and still verifies; the person's fields read "[erased]" from then
// on. Recorded first, then destroyed: a run cut off between the two is
// simply run again (the key is still there, the erasure recorded twice).
func Erase(ctx context.Context, store eventstore.Streams, keys Shredder, keyID, reason string, md eventstore.Metadata) error {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return &domain.ValidationError{Fields: map[string]string{"reason": "must say why (the erasure request's reference)"}}
	}
	e := domain.PersonErased{KeyID: keyID, Reason: reason, At: time.Now().UTC()}
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if _, err := store.Append(ctx, "person-"+keyID, eventstore.Any, eventstore.NewEvent{ID: uuid.NewString(),
		Type: e.EventType(), SchemaVersion: domain.SchemaVersion(e.EventType()), Data: data, Metadata: md}); err != nil {
		return fmt.Errorf("record the erasure: %w (nothing destroyed yet)", err)
	}
	return keys.EraseKey(ctx, keyID)
}

// PersonForgetter removes a person from a system outside the log that keeps
// them in the clear — Keycloak's users, Novu's subscribers, recorded
// idempotent answers — given their address and the tenants they are a
// contact of (their fields in those tenants' logs are sealed with their
// key). It says what it removed; what is gone already is nothing to do.
type PersonForgetter interface {
	ForgetPerson(ctx context.Context, email string, tenants []*domain.Tenant) ([]string, error)
}

// ForgetEverywhere runs every forgetter before an erasure destroys the key
// (after it, nobody could tell which user or subscriber was the person's).
// The first failure stops it, nothing erased yet: run the erasure again.
func ForgetEverywhere(ctx context.Context, email string, tenants []*domain.Tenant, forgetters ...PersonForgetter) ([]string, error) {
	var done []string
	for _, f := range forgetters {
		d, err := f.ForgetPerson(ctx, email, tenants)
		done = append(done, d...)
		if err != nil {
			return done, fmt.Errorf("%w (the key is not destroyed yet: fix this and run the erasure again)", err)
		}
	}
	return done, nil
}

// LeadKey is the key a lead's personal fields are sealed with, read from its
// lead.created event (sealed strings name their key).
func LeadKey(ctx context.Context, store eventstore.Streams, leadID string) (string, error) {
	if _, err := uuid.Parse(leadID); err != nil {
		return "", fmt.Errorf("%q is not a lead id (a UUID)", leadID)
	}
	events, err := store.Load(ctx, Leads(store).Stream(leadID))
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
	return "", fmt.Errorf("no lead %s", leadID)
}
