package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/tenantflow/tenantflow/app"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
	"github.com/tenantflow/tenantflow/platform/pii"
)

// `tenantctl erase --lead` finds the key in the lead's sealed sign-up,
// records person.erased with actor and reason, then destroys the key: the
// lead's fields open as [erased], a second erasure finds nothing, and a
// lead id that is no UUID or no lead is refused without a change.
func TestEraseLead(t *testing.T) {
	ctx := context.Background()
	pool := testenv.NewMigratedPool(t)
	t.Setenv("TENANTFLOW_DATABASE_URL", pool.Config().ConnString()) // the command opens the same database
	t.Setenv("TENANTFLOW_PII_KEY", strings.Repeat("ab", 32))
	vault, err := pii.NewVault(pool, bytes.Repeat([]byte{0xab}, 32))
	if err != nil {
		t.Fatal(err)
	}
	store := eventstore.NewPostgres(pool, nil)
	t.Cleanup(store.Close)
	store.SetDataSealer(vault.SealEvent)
	id := uuid.NewString()
	lead, evs, err := domain.NewLead(id, domain.LeadInput{FirstName: "Ada", LastName: "Lovelace", Email: "ada@engines.example.com",
		CompanyName: "Engines", Address: domain.AddressInput{Address: "12 St James's Square", City: "London", Country: "GB"}}, "hash", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Leads(store).Create(ctx, lead.ID(), eventstore.Metadata{Actor: "lead"}, evs); err != nil {
		t.Fatal(err)
	}

	for _, bad := range []eraseCmd{{Lead: "nope", Reason: "r"}, {Lead: uuid.NewString(), Reason: "r"}, {Lead: id, Reason: "  "}} {
		if err := bad.run(ctx, &bytes.Buffer{}); err == nil {
			t.Errorf("%+v: want an error", bad)
		}
	}
	if v, _ := store.StreamVersion(ctx, "person-"+pii.KeyIDs(mustData(t, store, id))[0]); v != 0 {
		t.Fatalf("a refused erasure recorded something: version %d", v)
	}

	var out bytes.Buffer
	if err := (eraseCmd{Lead: id, Reason: "GDPR 12", Actor: "dpo"}).run(ctx, &out); err != nil {
		t.Fatal(err)
	}
	data := mustData(t, store, id)
	opened, err := vault.OpenJSON(ctx, data)
	// Email, names, street and city are the person's; the country is not.
	if err != nil || strings.Contains(string(opened), "Lovelace") || strings.Count(string(opened), pii.Erased) != 5 ||
		!strings.Contains(string(opened), `"country":"GB"`) {
		t.Fatalf("the lead after erasure: %s %v", opened, err)
	}
	keyID := pii.KeyIDs(data)[0]
	erasure, err := store.Load(ctx, "person-"+keyID)
	var recorded domain.PersonErased
	if err == nil && len(erasure) == 1 {
		err = json.Unmarshal(erasure[0].Data, &recorded)
	}
	if err != nil || len(erasure) != 1 || erasure[0].Type != domain.TypePersonErased || erasure[0].Metadata.Actor != "tenantctl:dpo" ||
		recorded.Reason != "GDPR 12" || recorded.KeyID != keyID {
		t.Fatalf("person.erased: %+v %+v %v", erasure, recorded, err)
	}
	if err := (eraseCmd{Lead: id, Reason: "again"}).run(ctx, &out); !errors.Is(err, pii.ErrUnknownPerson) {
		t.Errorf("a second erasure: %v", err)
	}
}

// mustData is the data of the lead's sign-up as stored.
func mustData(t *testing.T, store *eventstore.Postgres, id string) []byte {
	t.Helper()
	evs, err := store.Load(context.Background(), "lead-"+id)
	if err != nil || len(evs) == 0 {
		t.Fatalf("lead %s: %v", id, err)
	}
	if !strings.Contains(string(evs[0].Data), "pii:1:") {
		t.Fatalf("the lead's sign-up is not sealed: %s", evs[0].Data)
	}
	return evs[0].Data
}
