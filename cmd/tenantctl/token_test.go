package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/platform/auth"
)

func TestTokenIsVerifiableWithTheSameSecret(t *testing.T) {
	const secret = "test-secret-test-secret-test-secret"
	t.Setenv("TENANTFLOW_JWT_SECRET", secret)
	var out bytes.Buffer
	if err := (tokenCmd{Permissions: []string{"10216", "10207"}, TTL: time.Hour, Subject: "ops"}).run(&out, time.Now()); err != nil {
		t.Fatal(err)
	}
	v, _ := auth.NewHS256(secret, "tenantflow")
	c, err := v.Verify(strings.TrimSpace(out.String()))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Has(auth.ProvisionTenant) || !c.Has(auth.ViewTenant) || c.Has(auth.CreateTenant) || c.Subject != "ops" {
		t.Fatalf("claims %+v", c)
	}
}

func TestTokenRefusals(t *testing.T) {
	t.Setenv("TENANTFLOW_JWT_SECRET", "")
	if err := (tokenCmd{Permissions: []string{"10216"}, TTL: time.Hour}).run(&bytes.Buffer{}, time.Now()); err == nil {
		t.Error("minted without a secret")
	}
	t.Setenv("TENANTFLOW_JWT_SECRET", "test-secret-test-secret-test-secret")
	if err := (tokenCmd{Permissions: []string{"99999"}, TTL: time.Hour}).run(&bytes.Buffer{}, time.Now()); err == nil {
		t.Error("minted an unknown permission")
	}
	if err := (tokenCmd{Permissions: []string{"10216"}, TTL: -time.Hour}).run(&bytes.Buffer{}, time.Now()); err == nil {
		t.Error("minted an already expired token")
	}
}
