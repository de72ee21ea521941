package api

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/internal/testkit/wait"
	"github.com/tenantflow/tenantflow/platform/auth"
	"github.com/tenantflow/tenantflow/platform/pii"
	"github.com/tenantflow/tenantflow/projections"
)

// GET /tenants/{id} reads the tenant's document (the documents
// projection), the log's head and the keys of its personal data in one
// statement, and opens the fields with those keys: every contact's with their own key, the address with the
// owner's, and an erased person's fields as [erased] on the very next read,
// with no event in between.
func TestTenantDetailOpensWithKeysReadBesideIt(t *testing.T) {
	e := newAPI(t, withSealer())
	admin := e.token(t, auth.CreateTenant, auth.ViewTenant, auth.UpdateTenant)
	r := e.do(t, "POST", "/tenants", admin, js, arcOnboarding("7acme", "ada@acme.example", true))
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %v", r.status, r.body)
	}
	id, _ := r.body["id"].(string)
	second := `{"email":"grace@acme.example","firstName":"Grace","lastName":"Hopper","primary":false}`
	if r := e.do(t, "PATCH", "/tenants/"+id, admin, js, []byte(`{"contacts":[`+
		`{"email":"ada@acme.example","firstName":"Ada","lastName":"Lovelace","primary":true},`+second+`]}`)); r.status != http.StatusOK {
		t.Fatalf("PATCH contacts: %d %v", r.status, r.body)
	}
	// Wait until the document holds the whole stream: from then on the
	// answer comes from it, not from the log.
	list := &projections.Engine{Pool: e.pool, Log: e.store, Projectors: projections.All()}
	wait.For(t, 10*time.Second, func() error {
		d, err := list.Document(context.Background(), id)
		if err != nil || d.Version < d.Head || len(d.Personal.Contacts) != 2 {
			return fmt.Errorf("document behind: version %d, head %d, %v", d.Version, d.Head, err)
		}
		if len(d.Keys) != 2 {
			return fmt.Errorf("keys read beside the detail: %d, want 2 (one a person)", len(d.Keys))
		}
		return nil
	})
	get := func() string {
		t.Helper()
		r := e.do(t, "GET", "/tenants/"+id, admin, "", nil)
		if r.status != http.StatusOK {
			t.Fatalf("GET: %d %v", r.status, r.body)
		}
		return fmt.Sprint(r.body)
	}
	got := get()
	for _, plain := range []string{"ada@acme.example", "Lovelace", "grace@acme.example", "Hopper", "12 Main Street", "62701", "US"} {
		if !strings.Contains(got, plain) {
			t.Errorf("GET does not show %q opened: %s", plain, got)
		}
	}
	if strings.Contains(got, "pii:1:") {
		t.Errorf("GET shows a sealed field: %s", got)
	}
	// The answer from the document is the one the log's fold gives.
	// Without its document, GET answers from the log's fold.
	if _, err := e.pool.Exec(context.Background(), `delete from `+projections.SchemaName(projections.NameDocuments, 1)+`.documents`); err != nil {
		t.Fatal(err)
	}
	if fromLog := get(); fromLog != got {
		t.Errorf("GET from the document and from the log differ:\n%s\n%s", got, fromLog)
	}
	// A changed stream is rendered again.
	if r := e.do(t, "PATCH", "/tenants/"+id, admin, js, []byte(`{"name":"Acme Renamed"}`)); r.status != http.StatusOK {
		t.Fatalf("PATCH name: %d %v", r.status, r.body)
	}
	wait.For(t, 10*time.Second, func() error {
		d, err := list.Document(context.Background(), id)
		if err != nil || d.Version < d.Head || !bytes.Contains(d.Members, []byte(`"name":"Acme Renamed"`)) {
			return fmt.Errorf("document behind the rename: version %d, head %d, %v", d.Version, d.Head, err)
		}
		return nil
	})
	if got = get(); !strings.Contains(got, "name:Acme Renamed") || !strings.Contains(got, "ada@acme.example") {
		t.Errorf("after the rename GET shows %s", got)
	}

	vault, err := pii.NewVault(e.pool, bytes.Repeat([]byte{0x5e}, 32))
	if err != nil {
		t.Fatal(err)
	}
	key, err := vault.KeyOf(context.Background(), "ada@acme.example")
	if err != nil {
		t.Fatal(err)
	}
	if err := vault.EraseKey(context.Background(), key); err != nil {
		t.Fatal(err)
	}
	got = get()
	for _, gone := range []string{"ada@acme.example", "Lovelace", "12 Main Street", "62701"} {
		if strings.Contains(got, gone) {
			t.Errorf("GET still shows %q after the key was erased: %s", gone, got)
		}
	}
	if !strings.Contains(got, pii.Erased) || !strings.Contains(got, "grace@acme.example") || !strings.Contains(got, "Hopper") {
		t.Errorf("after Ada's erasure GET shows %s, want her fields %s and Grace's opened", got, pii.Erased)
	}
}
