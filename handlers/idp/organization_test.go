package idp_test

import (
	"context"
	"slices"
	"testing"

	"github.com/Nerzal/gocloak/v13"
	"github.com/tenantflow/tenantflow/adapters/keycloak"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/internal/testkit/devsteps"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
)

// Two organizations of the shared realm administered by one person, and a
// user of the realm that tenantflow did not make added to one of them: the
// undo of one tenant removes its organization and client, keeps the
// person (now the other tenant's alone) and never deletes the stranger;
// the undo of the other removes the person.
func TestOrganizationUndoRemovesOnlyWhatIsItsOwn(t *testing.T) {
	id, admin := devsteps.Identity(t)
	ctx := context.Background()
	email := testenv.UniqueKey("p") + "@example.com"
	a := testenv.NewTenantWithAdmin(t, testenv.UniqueKey("oa"), "basic", email)
	b := testenv.NewTenantWithAdmin(t, testenv.UniqueKey("ob"), "basic", email)
	realm := devsteps.SharedRealm
	token, err := admin.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if (keycloak.Tenants{SharedRealm: id.SharedRealm}).RealmOf(a) != realm {
		t.Fatalf("a tenant of tier basic lives in realm %q, want %q", (keycloak.Tenants{SharedRealm: id.SharedRealm}).RealmOf(a), realm)
	}
	for _, tn := range []*domain.Tenant{a, b} {
		t.Cleanup(func() {
			_ = devsteps.AdminUser(id).Undo(context.Background(), tn)
			_ = id.RealmStep().Undo(context.Background(), tn)
		})
		if _, err := id.RealmStep().Do(ctx, tn); err != nil {
			t.Fatal(err)
		}
		if _, err := devsteps.AdminUser(id).Do(ctx, tn); err != nil {
			t.Fatal(err)
		}
	}
	kc := admin.Client()
	person := func() *gocloak.User {
		t.Helper()
		users, err := kc.GetUsers(ctx, token, realm, gocloak.GetUsersParams{Username: gocloak.StringP(email), Exact: gocloak.BoolP(true)})
		if err != nil {
			t.Fatal(err)
		}
		if len(users) == 0 {
			return nil
		}
		return users[0]
	}
	memberOf := func(u *gocloak.User) []string {
		t.Helper()
		orgs, err := admin.MemberOrganizations(ctx, token, realm, *u.ID)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, o := range orgs {
			keys = append(keys, o.Name)
		}
		slices.Sort(keys)
		return keys
	}
	both := []string{a.Key(), b.Key()}
	slices.Sort(both)
	u := person()
	if u == nil || !slices.Equal(memberOf(u), both) {
		t.Fatalf("the person administering both: %+v", u)
	}
	roles, err := kc.GetRealmRolesByUserID(ctx, token, realm, *u.ID)
	if err != nil || !slices.ContainsFunc(roles, func(r *gocloak.Role) bool { return *r.Name == keycloak.TenantAdminRole }) {
		t.Fatalf("realm roles %v (%v), want %s", roles, err, keycloak.TenantAdminRole)
	}
	clients, err := kc.GetClients(ctx, token, realm, gocloak.GetClientsParams{ClientID: gocloak.StringP(a.ClientName())})
	if err != nil || len(clients) != 1 || !slices.Contains(*clients[0].DefaultClientScopes, "organization") {
		t.Fatalf("client %s: %v (%v), want one whose tokens carry the organization", a.ClientName(), clients, err)
	}

	orgA, err := admin.OrganizationByName(ctx, token, realm, a.Key())
	if err != nil || orgA == nil {
		t.Fatalf("organization %s: %v", a.Key(), err)
	}
	stranger, err := kc.CreateUser(ctx, token, realm, gocloak.User{Username: gocloak.StringP(testenv.UniqueKey("s") + "@example.org"), Enabled: gocloak.BoolP(true)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kc.DeleteUser(context.Background(), token, realm, stranger) })
	if err := admin.AddOrganizationMember(ctx, token, realm, orgA.ID, stranger); err != nil {
		t.Fatal(err)
	}

	if err := devsteps.AdminUser(id).Undo(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := id.RealmStep().Undo(ctx, a); err != nil {
		t.Fatal(err)
	}
	if org, err := admin.OrganizationByName(ctx, token, realm, a.Key()); err != nil || org != nil {
		t.Errorf("organization %s after its undo: %v %v", a.Key(), org, err)
	}
	if cs, _ := kc.GetClients(ctx, token, realm, gocloak.GetClientsParams{ClientID: gocloak.StringP(a.ClientName())}); len(cs) != 0 {
		t.Errorf("client %s survived its tenant's undo", a.ClientName())
	}
	if _, err := kc.GetUserByID(ctx, token, realm, stranger); err != nil {
		t.Errorf("the stranger was deleted with organization %s: %v", a.Key(), err)
	}
	if u := person(); u == nil || !slices.Equal(memberOf(u), []string{b.Key()}) {
		t.Fatalf("after a's undo the person is %+v, want b's alone", u)
	}
	orgB, err := admin.OrganizationByName(ctx, token, realm, b.Key())
	if err != nil || orgB == nil {
		t.Fatalf("organization %s of the other tenant: %v", b.Key(), err)
	}
	members, err := admin.OrganizationMembers(ctx, token, realm, orgB.ID, 10)
	if err != nil || len(members) != 1 || *members[0].Username != email {
		t.Fatalf("members of %s: %v (%v), want the person", b.Key(), members, err)
	}

	if err := devsteps.AdminUser(id).Undo(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := id.RealmStep().Undo(ctx, b); err != nil {
		t.Fatal(err)
	}
	if u := person(); u != nil {
		t.Errorf("the person outlived both tenants: %+v", u)
	}
}

// One person made the admin of several organizations at once: each
// admin_user step adds one membership (Keycloak adds them one at a time,
// where it would replace a user's attributes whole), so every tenant's
// organization keeps the person.
func TestOrganizationAdminAdoptedConcurrentlyKeepsEveryTenant(t *testing.T) {
	id, admin := devsteps.Identity(t)
	ctx := context.Background()
	email := testenv.UniqueKey("q") + "@example.com"
	var tenants []*domain.Tenant
	for range 4 {
		tn := testenv.NewTenantWithAdmin(t, testenv.UniqueKey("oc"), "basic", email)
		tenants = append(tenants, tn)
		t.Cleanup(func() {
			_ = devsteps.AdminUser(id).Undo(context.Background(), tn)
			_ = id.RealmStep().Undo(context.Background(), tn)
		})
		if _, err := id.RealmStep().Do(ctx, tn); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := devsteps.AdminUser(id).Do(ctx, tenants[0]); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, len(tenants)-1)
	for _, tn := range tenants[1:] {
		go func() {
			var err error
			for range 10 { // the engine's retries
				if _, err = devsteps.AdminUser(id).Do(ctx, tn); err == nil {
					break
				}
			}
			errs <- err
		}()
	}
	for range tenants[1:] {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	token, err := admin.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	users, err := admin.Client().GetUsers(ctx, token, devsteps.SharedRealm, gocloak.GetUsersParams{Username: &email, Exact: gocloak.BoolP(true)})
	if err != nil || len(users) != 1 {
		t.Fatalf("the person: %v %v", users, err)
	}
	orgs, err := admin.MemberOrganizations(ctx, token, devsteps.SharedRealm, *users[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	var got, want []string
	for _, o := range orgs {
		got = append(got, o.Name)
	}
	for _, tn := range tenants {
		want = append(want, tn.Key())
	}
	slices.Sort(got)
	if slices.Sort(want); !slices.Equal(got, want) {
		t.Fatalf("the person is a member of %v, want every tenant's organization %v", got, want)
	}
}
