// Package deployauth is the trust between the control plane and the
// application plane's agent. Each tenant (and attempt) has a report-signing
// secret derived from a key only the control plane holds; the deployment
// request carries it sealed (AES-256-GCM) with the agent's key, so it never
// travels in the clear. The agent signs its report with it: HMAC-SHA256
// over "<timestamp>.<body>", checked in constant time within a tolerance.
package deployauth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
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

// Seal encrypts secret for the agent holding agentKey (32 bytes).
func Seal(agentKey, secret []byte) (string, error) {
	gcm, err := newGCM(agentKey)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(gcm.Seal(nonce, nonce, secret, nil)), nil
}

// Unseal is Seal's inverse.
func Unseal(agentKey []byte, sealed string) ([]byte, error) {
	gcm, err := newGCM(agentKey)
	if err != nil {
		return nil, err
	}
	raw, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil || len(raw) < gcm.NonceSize() {
		return nil, errors.New("sealed secret is malformed")
	}
	return gcm.Open(nil, raw[:gcm.NonceSize()], raw[gcm.NonceSize():], nil)
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
