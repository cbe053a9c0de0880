package identity_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/airlock-dev/airlock/internal/identity"
	"github.com/airlock-dev/airlock/internal/testsvc"
)

const (
	githubIssuer = "https://token.actions.githubusercontent.com"
	beaconKid    = "38826b17-6a30-5f9b-b169-8beb8202f723"
	beaconToken  = "tokens/beacon-sigstore-conformance-2026-06-13.jwt"
	beaconClaims = "tokens/beacon-sigstore-conformance-2026-06-13.payload.json"
	jwksCurrent  = "jwks/github-actions-jwks.json"
	jwksOlder    = "jwks/github-actions-jwks.older-snapshot.json"
)

// The beacon token's window, from its payload (SOURCE.md, expected.tsv).
var (
	beaconNbf = time.Unix(1781376964, 0).UTC() // 2026-06-13T18:56:04Z
	beaconIat = time.Unix(1781377264, 0).UTC() // 2026-06-13T19:01:04Z
	beaconExp = time.Unix(1781377564, 0).UTC() // 2026-06-13T19:06:04Z
)

// oidcData returns ../shared/realdata/03-github-oidc (see testsvc.RealData).
func oidcData(tb testing.TB) string {
	tb.Helper()
	return testsvc.RealData(tb, "03-github-oidc")
}

func readData(tb testing.TB, rel string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(oidcData(tb), rel))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func realToken(tb testing.TB) string {
	return strings.TrimSpace(string(readData(tb, beaconToken)))
}

// clock is a settable injected clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func fixedNow(t time.Time) func() time.Time { return func() time.Time { return t } }

// jwksWith edits a real JWKS: drop removes kids, rename maps old kid → new
// kid, extra appends keys.
func jwksWith(tb testing.TB, base []byte, drop []string, rename map[string]string, extra ...jose.JSONWebKey) []byte {
	tb.Helper()
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(base, &set); err != nil {
		tb.Fatal(err)
	}
	var out []any
	for _, k := range set.Keys {
		kid, _ := k["kid"].(string)
		if contains(drop, kid) {
			continue
		}
		if nk, ok := rename[kid]; ok {
			k["kid"] = nk
		}
		out = append(out, k)
	}
	for _, k := range extra {
		out = append(out, k)
	}
	b, err := json.Marshal(map[string]any{"keys": out})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// testKey is our own RSA key for tokens the real data cannot provide (a
// loopback issuer, a rotated kid). Generated once per test binary.
var testKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func publicJWK(k *rsa.PrivateKey, kid string) jose.JSONWebKey {
	return jose.JSONWebKey{Key: &k.PublicKey, KeyID: kid, Algorithm: string(jose.RS256), Use: "sig"}
}

// signClaims signs the real beacon payload with overrides (nil value deletes
// the claim) under our key.
func signClaims(tb testing.TB, k *rsa.PrivateKey, kid string, overrides map[string]any) string {
	tb.Helper()
	var claims map[string]any
	if err := json.Unmarshal(readData(tb, beaconClaims), &claims); err != nil {
		tb.Fatal(err)
	}
	for name, v := range overrides {
		if v == nil {
			delete(claims, name)
			continue
		}
		claims[name] = v
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		tb.Fatal(err)
	}
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: k}, opts)
	if err != nil {
		tb.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// withHeader replaces the protected header of token, keeping payload and
// signature: what an attacker rewriting alg would send.
func withHeader(tb testing.TB, token string, header map[string]any) string {
	tb.Helper()
	parts := strings.Split(token, ".")
	h, err := json.Marshal(header)
	if err != nil {
		tb.Fatal(err)
	}
	parts[0] = base64.RawURLEncoding.EncodeToString(h)
	return strings.Join(parts, ".")
}

func decodeHeader(tb testing.TB, token string) map[string]any {
	tb.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	if err != nil {
		tb.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(b, &h); err != nil {
		tb.Fatal(err)
	}
	return h
}

// assertNoTokenLeak fails when err's text carries the token or any of its
// segments.
func assertNoTokenLeak(tb testing.TB, err error, token string) {
	tb.Helper()
	if err == nil {
		return
	}
	msg := err.Error()
	for _, seg := range append([]string{token}, strings.Split(token, ".")...) {
		if len(seg) >= 16 && strings.Contains(msg, seg) {
			tb.Fatalf("error leaks token material: %q", msg)
		}
	}
}

func verificationError(tb testing.TB, err error) *identity.VerificationError {
	tb.Helper()
	var ve *identity.VerificationError
	if !errors.As(err, &ve) {
		tb.Fatalf("expected *VerificationError, got %T: %v", err, err)
	}
	return ve
}

// testClient is the HTTP client of a fault-table case. Cases about timeouts
// get a short client timeout so they end quickly; every other case gets a
// generous one, so a loaded CI machine (-race, two cores) cannot turn "body
// too large" or "status 500" into a timeout.
func testClient(caseName string) *http.Client {
	if strings.Contains(caseName, "timeout") {
		return &http.Client{Timeout: 300 * time.Millisecond}
	}
	return &http.Client{Timeout: 20 * time.Second}
}
