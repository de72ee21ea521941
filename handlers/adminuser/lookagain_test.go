package adminuser_test

import (
	"context"
	"errors"
	"testing"

	"github.com/Nerzal/gocloak/v13"
	"github.com/google/uuid"

	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/handlers/adminuser"
	"github.com/tenantflow/tenantflow/handlers/step"
	"github.com/tenantflow/tenantflow/internal/testkit/devsteps"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
)

// A 409 on creating the admin user means "look again", on the real
// Keycloak: a user with this tenant's mark (created by a racing twin of the
// step) is taken as done; a user with another tenant's mark is a permanent
// failure and is left as it was. An undo that finds only someone else's
// user or realm is done (nothing of ours is left): no orphan is reported
// for what this tenant never made.
func TestAdminUserConflictLooksAgain(t *testing.T) {
	id, admin := devsteps.Identity(t)
	ctx := context.Background()
	tn := testenv.NewTenant(t, testenv.UniqueKey("c"))
	t.Cleanup(func() { _ = id.RealmStep().Undo(context.Background(), tn) })
	if _, err := id.RealmStep().Do(ctx, tn); err != nil {
		t.Fatal(err)
	}
	token, err := admin.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kc, realm := admin.Client(), tn.RealmName()
	// The twin's user, made between this step's look-up and its create.
	twin := func(tenantID string) string {
		t.Helper()
		uid, err := kc.CreateUser(ctx, token, realm, gocloak.User{Username: gocloak.StringP(tn.Contact().Email),
			Email: gocloak.StringP(tn.Contact().Email), Enabled: gocloak.BoolP(true),
			Attributes: &map[string][]string{"tenantId": {tenantID}, "role": {"admin"}}})
		if err != nil {
			t.Fatal(err)
		}
		return uid
	}

	ours := twin(tn.ID())
	got, err := adminuser.CreateAdminUser(ctx, devsteps.AdminUser(id), tn)
	if err != nil || got != ours {
		t.Fatalf("409 with this tenant's user: got user %q, %v; want the existing %q, no error", got, err, ours)
	}
	if err := kc.DeleteUser(ctx, token, realm, ours); err != nil {
		t.Fatal(err)
	}

	other := uuid.NewString()
	theirs := twin(other)
	if _, err := adminuser.CreateAdminUser(ctx, devsteps.AdminUser(id), tn); !step.IsPermanent(err) {
		t.Fatalf("409 with another tenant's user: %v, want a permanent failure", err)
	}
	// The undo finds nothing of this tenant's to remove: done, not an
	// orphan, and the other tenant's user stays.
	if err := devsteps.AdminUser(id).Undo(ctx, tn); err != nil {
		t.Fatalf("undo beside another tenant's user: %v, want done", err)
	}
	u, err := kc.GetUserByID(ctx, token, realm, theirs)
	if err != nil || u.Attributes == nil || (*u.Attributes)["tenantId"][0] != other {
		t.Fatalf("the other tenant's user was touched: %+v %v", u, err)
	}
	// Likewise a realm of the same name that another tenant owns.
	impostor, _, _ := domain.NewTenant(uuid.NewString(), "", domain.TenantInput{Key: tn.Key(), Name: "I",
		Contact: domain.Contact{Email: "i@example.com", FirstName: "I", LastName: "I"}})
	if _, err := id.RealmStep().Do(ctx, impostor); !errors.Is(err, step.ErrForeign) || !step.IsPermanent(err) {
		t.Fatalf("creating another tenant's realm: %v, want a permanent ErrForeign", err)
	}
	if err := id.RealmStep().Undo(ctx, impostor); err != nil {
		t.Fatalf("undoing beside another tenant's realm: %v, want done", err)
	}
	if _, err := kc.GetRealm(ctx, token, realm); err != nil {
		t.Fatalf("another tenant's undo removed the realm: %v", err)
	}
}
