package deployauth

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func TestSealSignVerify(t *testing.T) {
	agentKey := bytes.Repeat([]byte{7}, 32)
	secret := Secret([]byte("control-plane-only-signing-key-123"), "t-1", 2)
	if bytes.Equal(secret, Secret([]byte("control-plane-only-signing-key-123"), "t-1", 3)) {
		t.Fatal("two attempts share a secret")
	}
	sealed, err := Seal(agentKey, secret)
	if err != nil || bytes.Contains([]byte(sealed), secret) {
		t.Fatalf("seal: %v", err)
	}
	back, err := Unseal(agentKey, sealed)
	if err != nil || !bytes.Equal(back, secret) {
		t.Fatalf("unseal: %v", err)
	}
	if _, err := Unseal(bytes.Repeat([]byte{8}, 32), sealed); err == nil {
		t.Fatal("another key unsealed the secret")
	}
	now := time.Now()
	body := []byte(`{"attempt":2,"status":"deployed"}`)
	ts, sig := Sign(secret, now, body)
	if err := Verify(secret, ts, sig, body, now); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]func() error{
		"other body":   func() error { return Verify(secret, ts, sig, []byte(`{"attempt":2,"status":"failed"}`), now) },
		"other secret": func() error { return Verify(Secret([]byte("x"), "t-1", 2), ts, sig, body, now) },
		"too old":      func() error { return Verify(secret, ts, sig, body, now.Add(6*time.Minute)) },
		"garbage":      func() error { return Verify(secret, "soon", "zz", body, now) },
	} {
		if err := c(); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
