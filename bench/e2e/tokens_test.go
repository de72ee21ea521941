package e2e

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// operators stands in for Keycloak's operators' realm: an RSA key, its
// public half served as a JSON Web Key Set (tenantd fetches it as it
// fetches Keycloak's certs endpoint), and operators' RS256 tokens signed
// with it. The benchmark's own stand-in, so that no Keycloak round trip is
// measured; the verifier's behaviour against the real Keycloak is tested in
// platform/auth.
type operators struct {
	key *rsa.PrivateKey
	set []byte
}

func newOperators() (*operators, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	set, err := json.Marshal(map[string]any{"keys": []map[string]string{{"kty": "RSA", "kid": "bench", "alg": "RS256", "use": "sig",
		"n": base64.RawURLEncoding.EncodeToString(key.N.Bytes()), "e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes())}}})
	return &operators{key: key, set: set}, err
}

func (o *operators) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(o.set)
}

// mint signs an operator's token granting permissions for a day.
func (o *operators) mint(permissions []string) (string, error) {
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"iss": issuer, "aud": audience, "sub": "bench-operator",
		"permissions": permissions, "exp": time.Now().Add(24 * time.Hour).Unix(), "iat": time.Now().Unix()})
	tok.Header["kid"] = "bench"
	return tok.SignedString(o.key)
}
