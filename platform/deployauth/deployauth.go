// Package deployauth is the trust between the control plane and the
// application plane's agent. Each tenant (and attempt) has a report-signing
// secret derived from a key only the control plane holds; the deployment
// request carries it sealed (AES-256-GCM) with the agent's key, so it never
// travels in the clear, and bound to the tenant, attempt and key it was
// made for (associated data), so it cannot be moved to another request. The
// agent signs its report with it: HMAC-SHA256 over "<timestamp>.<body>",
// checked in constant time within a tolerance. The other way, the control
// plane signs each request (SignRequest) with a key derived from the agent's,
// and the agent acts only on requests whose signature holds: whoever can
// write to the topic cannot make the agent deploy or remove anything.
package deployauth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Headers of a signed report.
const (
	HeaderSignature = "X-Signature"
	HeaderTimestamp = "X-Timestamp"
)

// Tolerance is how far a report's timestamp may be from the receiver's clock.
const Tolerance = 5 * time.Minute

// Secret derives the report secret of a tenant's attempt.
func Secret(signingKey []byte, tenantID string, attempt int) []byte {
	m := hmac.New(sha256.New, signingKey)
	fmt.Fprintf(m, "deploy-report|%s|%d", tenantID, attempt)
	return m.Sum(nil)
}

// Binding is the associated data a sealed secret is bound to.
func Binding(tenantID string, attempt int, tenantKey string) []byte {
	return fmt.Appendf(nil, "tenantflow-deploy|%s|%d|%s", tenantID, attempt, tenantKey)
}

// Seal encrypts secret for the agent holding agentKey (32 bytes), bound to
// binding (Binding): it unseals only with the same.
func Seal(agentKey, secret, binding []byte) (string, error) {
	gcm, err := newGCM(agentKey)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(gcm.Seal(nonce, nonce, secret, binding)), nil
}

// Unseal is Seal's inverse; a secret sealed for another binding (another
// tenant, attempt or key) does not open.
func Unseal(agentKey []byte, sealed string, binding []byte) ([]byte, error) {
	gcm, err := newGCM(agentKey)
	if err != nil {
		return nil, err
	}
	raw, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil || len(raw) < gcm.NonceSize() {
		return nil, errors.New("sealed secret is malformed")
	}
	return gcm.Open(nil, raw[:gcm.NonceSize()], raw[gcm.NonceSize():], binding)
}

func newGCM(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("the agent key must be 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Sign returns the signature of body sent at ts.
func Sign(secret []byte, ts time.Time, body []byte) (timestamp, signature string) {
	timestamp = strconv.FormatInt(ts.Unix(), 10)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp + "."))
	m.Write(body)
	return timestamp, hex.EncodeToString(m.Sum(nil))
}

// ErrBadSignature covers every way a report fails to authenticate.
var ErrBadSignature = errors.New("the report's signature or timestamp is not valid")

// Verify checks a report's timestamp (within Tolerance of now) and signature.
func Verify(secret []byte, timestamp, signature string, body []byte, now time.Time) error {
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return ErrBadSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > Tolerance || d < -Tolerance {
		return fmt.Errorf("%w: the timestamp is %s away", ErrBadSignature, d.Round(time.Second))
	}
	got, err := hex.DecodeString(signature)
	if err != nil {
		return ErrBadSignature
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp + "."))
	m.Write(body)
	if !hmac.Equal(got, m.Sum(nil)) {
		return ErrBadSignature
	}
	return nil
}

// ParseKey reads a 32-byte key given as 64 hex characters.
func ParseKey(s string) ([]byte, error) {
	k, err := hex.DecodeString(s)
	if err != nil || len(k) != 32 {
		return nil, errors.New("want 64 hex characters (32 bytes)")
	}
	return k, nil
}

// Request is a deployment or removal request as its signature covers it:
// every field the agent acts on.
type Request struct {
	Type, TenantID, TenantKey     string
	Attempt, Round                int
	Tier, Isolation, PipelineName string
	// Size and SizeConfig (the plan's, SizeConfig as the event's JSON
	// text) are covered when set; requests without them sign as before.
	Size, SizeConfig       string
	Domains                []string
	Deadline, SealedSecret string // as the event carries them (RFC 3339, base64)
	// Action, Step, Undo and RequestedAt are an application-plane
	// request's (tenant.appplane.requested), covered when Action is set.
	Action, Step, RequestedAt string
	Undo                      bool
}

func (r Request) mac(agentKey []byte) []byte {
	k := hmac.New(sha256.New, agentKey)
	k.Write([]byte("tenantflow-request-signing"))
	m := hmac.New(sha256.New, k.Sum(nil))
	fields := []string{r.Type, r.TenantID, r.TenantKey, strconv.Itoa(r.Attempt), strconv.Itoa(r.Round), r.Tier, r.Isolation,
		r.PipelineName, strconv.Itoa(len(r.Domains))}
	fields = append(append(fields, r.Domains...), r.Deadline, r.SealedSecret)
	if r.Size != "" || r.SizeConfig != "" {
		fields = append(fields, "size", r.Size, canonicalJSON(r.SizeConfig))
	}
	if r.Action != "" {
		fields = append(fields, "action", r.Action, r.Step, strconv.FormatBool(r.Undo), r.RequestedAt)
	}
	for _, f := range fields {
		m.Write([]byte(strconv.Itoa(len(f)) + ":" + f + ";")) // length-prefixed: no two requests share a text
	}
	return m.Sum(nil)
}

// canonicalJSON is doc as Go writes it back (keys sorted, numbers as
// float64, no spaces): the control plane signs the JSON it appends, the
// agent verifies what PostgreSQL's jsonb kept of it (key order, spacing
// and number spelling normalised), and both read the same text here.
func canonicalJSON(doc string) string {
	var v any
	if json.Unmarshal([]byte(doc), &v) != nil {
		return doc
	}
	out, _ := json.Marshal(v)
	return string(out)
}

// SignRequest is the control plane's signature of r.
func SignRequest(agentKey []byte, r Request) string { return hex.EncodeToString(r.mac(agentKey)) }

// ErrBadRequestSignature refuses a request the control plane did not sign.
var ErrBadRequestSignature = errors.New("the request's signature is missing or not the control plane's")

// VerifyRequest checks r's signature in constant time.
func VerifyRequest(agentKey []byte, r Request, signature string) error {
	got, err := hex.DecodeString(signature)
	if err != nil || signature == "" || !hmac.Equal(got, r.mac(agentKey)) {
		return ErrBadRequestSignature
	}
	return nil
}
