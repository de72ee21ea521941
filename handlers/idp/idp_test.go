package idp_test

import (
	"context"
	"slices"
	"testing"

	"github.com/Nerzal/gocloak/v13"
	"github.com/google/uuid"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/internal/testkit/devsteps"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
)

// The realm client accepts the tenant's platform name and every domain it
// brings, inside the platform's zone or not; a tenant with no domains still
// gets a usable client, on its platform name.
func TestRealmClientAcceptsThePlatformNameAndEveryDomain(t *testing.T) {
	id, admin := devsteps.Identity(t)
	ctx := context.Background()
	for name, domains := range map[string][]string{"no domains": nil, "own and platform domains": {"shop.acme.io", "eu.tenants.example.net"}} {
		t.Run(name, func(t *testing.T) {
			key := testenv.UniqueKey("k")
			tn, _, err := domain.NewTenant(uuid.NewString(), "", domain.TenantInput{Key: key, Name: "K",
				Contact: domain.Contact{Email: "k@example.com", FirstName: "K", LastName: "K"}, Domains: domains})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = id.RealmStep().Undo(context.Background(), tn) })
			if _, err := id.RealmStep().Do(ctx, tn); err != nil {
				t.Fatal(err)
			}
			token, err := admin.Token(ctx)
			if err != nil {
				t.Fatal(err)
			}
			cs, err := admin.Client().GetClients(ctx, token, tn.RealmName(), gocloak.GetClientsParams{ClientID: gocloak.StringP(tn.ClientName())})
			if err != nil || len(cs) != 1 {
				t.Fatalf("client: %v %v", cs, err)
			}
			want := append([]string{key + ".tenants.example.net"}, domains...)
			if len(*cs[0].RedirectURIs) != len(want) || len(*cs[0].WebOrigins) != len(want) {
				t.Fatalf("redirects %v, origins %v, want one each for %v", *cs[0].RedirectURIs, *cs[0].WebOrigins, want)
			}
			for _, host := range want {
				if !slices.Contains(*cs[0].RedirectURIs, "https://"+host+"/*") || !slices.Contains(*cs[0].WebOrigins, "https://"+host) {
					t.Errorf("%s missing: redirects %v, origins %v", host, *cs[0].RedirectURIs, *cs[0].WebOrigins)
				}
			}
		})
	}
}
