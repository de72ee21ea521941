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
	binding := Binding("t-1", 2, "acme")
	sealed, err := Seal(agentKey, secret, binding)
	if err != nil || bytes.Contains([]byte(sealed), secret) {
		t.Fatalf("seal: %v", err)
	}
	back, err := Unseal(agentKey, sealed, binding)
	if err != nil || !bytes.Equal(back, secret) {
		t.Fatalf("unseal: %v", err)
	}
	if _, err := Unseal(bytes.Repeat([]byte{8}, 32), sealed, binding); err == nil {
		t.Fatal("another key unsealed the secret")
	}
	for _, other := range [][]byte{Binding("t-2", 2, "acme"), Binding("t-1", 3, "acme"), Binding("t-1", 2, "other")} {
		if _, err := Unseal(agentKey, sealed, other); err == nil {
			t.Fatalf("a secret sealed for %s opened for %s", binding, other)
		}
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

// A request's signature covers every field the agent acts on, and only the
// agent key's holder makes it.
func TestRequestSignature(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	r := Request{Type: "tenant.deployment.undo_requested", TenantID: "t-1", TenantKey: "acme", Attempt: 2, Round: 1,
		PipelineName: "p", Domains: []string{"a.example.com"}, Deadline: "2026-11-29T10:00:00Z", SealedSecret: "c2VhbGVk"}
	sig := SignRequest(key, r)
	if err := VerifyRequest(key, r, sig); err != nil {
		t.Fatal(err)
	}
	altered := []func(Request) Request{
		func(r Request) Request { r.Type = "tenant.deployment.requested"; return r },
		func(r Request) Request { r.TenantID = "t-2"; return r },
		func(r Request) Request { r.TenantKey = "other"; return r },
		func(r Request) Request { r.Attempt = 3; return r },
		func(r Request) Request { r.Round = 2; return r },
		func(r Request) Request { r.Domains = []string{"b.example.com"}; return r },
		func(r Request) Request { r.Domains = nil; r.PipelineName = "pa.example.com"; return r },
		func(r Request) Request { r.Deadline = "2026-11-30T10:00:00Z"; return r },
		func(r Request) Request { r.SealedSecret = "b3RoZXI="; return r },
	}
	for i, alter := range altered {
		if err := VerifyRequest(key, alter(r), sig); !errors.Is(err, ErrBadRequestSignature) {
			t.Errorf("alteration %d accepted", i)
		}
	}
	if err := VerifyRequest(bytes.Repeat([]byte{8}, 32), r, sig); err == nil {
		t.Error("a signature verified with another key")
	}
	if err := VerifyRequest(key, r, ""); err == nil {
		t.Error("an unsigned request accepted")
	}
}

// A sized request's signature covers the size and its configuration,
// whatever PostgreSQL's jsonb made of the JSON's spelling; a request
// without a size signs as before sizes existed.
func TestSizedRequestSignature(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	plain := Request{Type: "tenant.deployment.requested", TenantID: "t-1", TenantKey: "acme", Attempt: 1, Deadline: "2026-11-29T10:00:00Z"}
	sized := plain
	sized.Size, sized.SizeConfig = "LARGE", `{"maxUsers":1e2,"b":[1.0, "x"],"a":true}`
	sig := SignRequest(key, sized)
	stored := sized
	stored.SizeConfig = `{"a": true, "b": [1.0, "x"], "maxUsers": 100}` // as jsonb gives it back
	if err := VerifyRequest(key, stored, sig); err != nil {
		t.Errorf("the stored spelling of the same JSON: %v", err)
	}
	for name, r := range map[string]Request{
		"size stripped":  plain,
		"another size":   func() Request { r := sized; r.Size = "SMALL"; return r }(),
		"another config": func() Request { r := sized; r.SizeConfig = `{"maxUsers":101,"b":[1,"x"],"a":true}`; return r }(),
	} {
		if err := VerifyRequest(key, r, sig); !errors.Is(err, ErrBadRequestSignature) {
			t.Errorf("%s: accepted", name)
		}
	}
	if SignRequest(key, plain) == sig {
		t.Error("the size is not covered")
	}
}
