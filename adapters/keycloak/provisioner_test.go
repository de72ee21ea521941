package keycloak

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/Nerzal/gocloak/v13"
	"github.com/google/uuid"
)

// TestProvisionerAdministersOnlyTheRealmsItMade: the service account tenantd
// signs in with creates a realm and, with the same token, its client and
// user, then deletes it; it cannot read the users of the master realm or of
// a realm someone else made, nor delete that realm. Its tokens stay small
// however many realms it holds.
func TestProvisionerAdministersOnlyTheRealmsItMade(t *testing.T) {
	admin := devAdmin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := Provisioner{Realm: "master", ClientID: "test-provisioner-" + uuid.NewString()[:8], Secret: uuid.NewString()}
	if err := EnsureProvisioner(ctx, admin, p); err != nil {
		t.Fatal(err)
	}
	if err := EnsureProvisioner(ctx, admin, p); err != nil { // the dev stack runs it at every start
		t.Fatalf("second run: %v", err)
	}
	adminToken, err := admin.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		found, err := admin.Client().GetClients(context.Background(), adminToken, "master", gocloak.GetClientsParams{ClientID: &p.ClientID})
		if err == nil && len(found) == 1 {
			_ = admin.Client().DeleteClient(context.Background(), adminToken, "master", *found[0].ID)
		}
	})
	others := "others-" + uuid.NewString()[:8]
	if _, err := admin.Client().CreateRealm(ctx, adminToken, gocloak.RealmRepresentation{Realm: &others, Enabled: gocloak.BoolP(true)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Client().DeleteRealm(context.Background(), adminToken, others) })

	sa := NewServiceAccount(admin.BaseURL(), "master", p.ClientID, p.Secret)
	token, err := sa.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kc := sa.Client()
	own := "own-" + uuid.NewString()[:8]
	if _, err := kc.CreateRealm(ctx, token, gocloak.RealmRepresentation{Realm: &own, Enabled: gocloak.BoolP(true)}); err != nil {
		t.Fatalf("create realm: %v", err)
	}
	t.Cleanup(func() { _ = admin.Client().DeleteRealm(context.Background(), adminToken, own) })
	if _, err := kc.CreateClient(ctx, token, own, gocloak.Client{ClientID: gocloak.StringP("app")}); err != nil {
		t.Errorf("create a client in the realm it made, same token: %v", err)
	}
	if _, err := kc.CreateUser(ctx, token, own, gocloak.User{Username: gocloak.StringP("admin"), Enabled: gocloak.BoolP(true)}); err != nil {
		t.Errorf("create a user in the realm it made: %v", err)
	}

	forbidden := func(what string, err error) {
		t.Helper()
		var api *gocloak.APIError
		if !errors.As(err, &api) || api.Code != http.StatusForbidden {
			t.Errorf("%s: want 403, got %v", what, err)
		}
	}
	_, err = kc.GetUsers(ctx, token, "master", gocloak.GetUsersParams{})
	forbidden("list the master realm's users", err)
	_, err = kc.GetUsers(ctx, token, others, gocloak.GetUsersParams{})
	forbidden("list the users of a realm someone else made", err)
	_, err = kc.GetClients(ctx, token, others, gocloak.GetClientsParams{})
	forbidden("list the clients of a realm someone else made", err)
	forbidden("delete a realm someone else made", kc.DeleteRealm(ctx, token, others))
	_, err = kc.CreateClient(ctx, token, "master", gocloak.Client{ClientID: gocloak.StringP("sneaky-" + uuid.NewString()[:8])})
	forbidden("create a client in the master realm", err)

	if len(token) > 4096 {
		t.Errorf("the service account's token is %d bytes: its realms' roles are in it (lightweight tokens off?)", len(token))
	}
	if err := kc.DeleteRealm(ctx, token, own); err != nil {
		t.Errorf("delete the realm it made: %v", err)
	}
}
