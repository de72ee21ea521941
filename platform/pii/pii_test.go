package pii

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
)

func TestSealOpenErase(t *testing.T) {
	ctx := context.Background()
	pool := testenv.NewMigratedPool(t)
	master := bytes.Repeat([]byte{7}, 32)
	v, err := NewVault(pool, master)
	if err != nil {
		t.Fatal(err)
	}
	lead := []byte(`{"leadId":"l1","contact":{"email":"Ada@Example.com","firstName":"Ada","lastName":"Lovelace","communicationEmail":"office@engines.example"},` +
		`"companyName":"Engines","address":{"address":"12 St James's Square","city":"London","country":"GB"},"tokenHash":"h"}`)
	sealed, err := v.SealEvent(ctx, lead)
	if err != nil {
		t.Fatal(err)
	}
	for _, plain := range []string{"Ada@Example.com", "Lovelace", "St James", "London", "office@engines"} {
		if strings.Contains(string(sealed), plain) {
			t.Errorf("sealed data still holds %q: %s", plain, sealed)
		}
	}
	if !strings.Contains(string(sealed), `"companyName":"Engines"`) || !strings.Contains(string(sealed), `"tokenHash":"h"`) ||
		!strings.Contains(string(sealed), `"country":"GB"`) {
		t.Errorf("fields that are not personal changed: %s", sealed)
	}
	again, _ := v.SealEvent(ctx, lead)
	if !bytes.Equal(again, sealed) {
		t.Error("sealing is not deterministic: a retried append would not be recognised")
	}
	if twice, _ := v.SealEvent(ctx, sealed); !bytes.Equal(twice, sealed) {
		t.Error("sealed fields were sealed again")
	}
	// The same person in another event (a different case of the address) shares the key.
	tenant, _ := v.SealEvent(ctx, []byte(`{"contacts":[{"email":"ada@example.com","firstName":"Ada","lastName":"L","primary":true},{"email":"bob@example.com","firstName":"Bob","lastName":"B","primary":false}]}`))
	ids := KeyIDs(tenant)
	if len(ids) != 2 || ids[0] != KeyIDs(sealed)[0] || !strings.Contains(string(tenant), `"primary":true`) {
		t.Errorf("contacts: keys %v (lead's %v): %s", ids, KeyIDs(sealed), tenant)
	}

	opened, err := v.OpenJSON(ctx, sealed)
	if err != nil || !strings.Contains(string(opened), `"email":"Ada@Example.com"`) || !strings.Contains(string(opened), `"address":"12 St James's Square"`) ||
		!strings.Contains(string(opened), `"city":"London"`) || !strings.Contains(string(opened), `"communicationEmail":"office@engines.example"`) {
		t.Fatalf("opened: %s %v", opened, err)
	}
	var stored []byte
	if err := pool.QueryRow(ctx, `select key from personal_keys limit 1`).Scan(&stored); err != nil || len(stored) <= 32 {
		t.Errorf("keys are not wrapped with the master key: %d bytes (%v)", len(stored), err)
	}
	other, _ := NewVault(pool, bytes.Repeat([]byte{8}, 32))
	if _, err := other.OpenJSON(ctx, sealed); err == nil {
		t.Error("another master key opened the fields")
	}

	id, err := v.KeyOf(ctx, " ADA@example.com ")
	if err != nil || id != KeyIDs(sealed)[0] {
		t.Fatalf("KeyOf: %s %v", id, err)
	}
	if err := v.EraseKey(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := v.EraseKey(ctx, id); !errors.Is(err, ErrUnknownPerson) {
		t.Errorf("erasing twice: %v", err)
	}
	erased, err := v.OpenJSON(ctx, tenant)
	if err != nil || strings.Count(string(erased), `"`+Erased+`"`) != 3 || !strings.Contains(string(erased), `"bob@example.com"`) {
		t.Fatalf("after erasing Ada: %s %v", erased, err)
	}
	// Ada signing up again gets a new key: the old fields stay erased.
	if _, err := v.SealEvent(ctx, lead); err != nil {
		t.Fatal(err)
	}
	if still, _ := v.OpenJSON(ctx, sealed); strings.Contains(string(still), "Ada@Example.com") {
		t.Errorf("an erased field opened again with the person's new key: %s", still)
	}
}
