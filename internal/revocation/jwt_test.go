package revocation

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

var jwtNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

type testKey struct {
	alg jose.SignatureAlgorithm
	kid string
	key any // private key
}

func (k testKey) public() jose.JSONWebKey {
	jwk := jose.JSONWebKey{Key: k.key, KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"}
	return jwk.Public()
}

func newRSAKey(t *testing.T, kid string) testKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{jose.RS256, kid, k}
}

func newECKey(t *testing.T, kid string) testKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{jose.ES256, kid, k}
}

func sign(t *testing.T, k testKey, claims map[string]any) string {
	t.Helper()
	var key any = jose.JSONWebKey{Key: k.key, KeyID: k.kid}
	if k.kid == "" {
		key = k.key
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	obj, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func jwks(keys ...testKey) []byte {
	set := jose.JSONWebKeySet{}
	for _, k := range keys {
		set.Keys = append(set.Keys, k.public())
	}
	b, _ := json.Marshal(set)
	return b
}

func TestJWT(t *testing.T) {
	rsaKey, ecKey := newRSAKey(t, "rsa-1"), newECKey(t, "ec-1")
	impostor := newRSAKey(t, "rsa-1") // same kid, different key
	noKid := newRSAKey(t, "")
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	jwksFile := write("jwks.json", jwks(rsaKey, ecKey))
	noKidJWKS := write("nokid.json", jwks(noKid))
	denyLines := write("deny.txt", []byte("# revoked QA tokens\njti-old\n\n  jti-revoked  \n"))
	denyJSON := write("deny.json", []byte(`["jti-a", "jti-revoked"]`))
	denyBad := write("deny-bad.json", []byte(`[1, 2]`))

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/jwks":
			w.Write(jwks(rsaKey, ecKey))
		case "/deny":
			fmt.Fprint(w, "jti-revoked\n")
		case "/broken":
			w.WriteHeader(500)
		case "/html":
			fmt.Fprint(w, "<html></html>")
		default:
			w.WriteHeader(404)
		}
	}))
	defer srv.Close()

	iss := "https://auth.qa.example"
	live := map[string]any{"iss": iss, "sub": "qa-agent", "client_id": "qa-client", "jti": "jti-live", "exp": jwtNow.Add(time.Hour).Unix()}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for a, b := range live {
			m[a] = b
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	hmacTok := func() string {
		s, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("0123456789abcdef0123456789abcdef")}, nil)
		p, _ := json.Marshal(with("exp", jwtNow.Add(-time.Minute).Unix()))
		o, _ := s.Sign(p)
		c, _ := o.CompactSerialize()
		return c
	}()

	for _, tc := range []struct {
		name   string
		token  string
		extra  string // YAML lines
		want   Status
		detail string
	}{
		{"live, no jwks", sign(t, rsaKey, live), "", StatusActive, "signature not checked (no jwks-url or jwks-file); no deny-list configured"},
		{"expired, no jwks", sign(t, rsaKey, with("exp", jwtNow.Add(-time.Second).Unix())), "", StatusRevoked, "expired at 2026-06-01T11:59:59Z"},
		{"exp equals now", sign(t, rsaKey, with("exp", jwtNow.Unix())), "", StatusRevoked, "expired at"},
		{"no exp", sign(t, rsaKey, with("exp", nil)), "", StatusActive, "no exp claim (never expires)"},
		{"exp string", sign(t, rsaKey, with("exp", "tomorrow")), "", StatusUnknown, "the exp claim is not a NumericDate"},
		{"verified RS256 jwks-url", sign(t, rsaKey, live), "  jwks-url: " + srv.URL + "/jwks\n", StatusActive, `signature (RS256, kid "rsa-1") verified`},
		{"verified ES256 jwks-file", sign(t, ecKey, live), "  jwks-file: " + jwksFile + "\n", StatusActive, `signature (ES256, kid "ec-1") verified`},
		{"verified, expired", sign(t, ecKey, with("exp", jwtNow.Add(-time.Hour).Unix())), "  jwks-file: " + jwksFile + "\n", StatusRevoked, "expired at"},
		{"verified without kid", sign(t, noKid, live), "  jwks-file: " + noKidJWKS + "\n", StatusActive, "verified against the JWKS"},
		{"bad signature is unknown, even if expired", sign(t, impostor, with("exp", jwtNow.Add(-time.Hour).Unix())), "  jwks-file: " + jwksFile + "\n", StatusUnknown, "does not verify against the JWKS"},
		{"unknown kid", sign(t, newRSAKey(t, "rotated"), live), "  jwks-url: " + srv.URL + "/jwks\n", StatusUnknown, `no key with kid "rotated"`},
		{"jwks 500", sign(t, rsaKey, live), "  jwks-url: " + srv.URL + "/broken\n", StatusUnknown, "HTTP 500 after 3 attempts"},
		{"jwks not a key set", sign(t, rsaKey, live), "  jwks-url: " + srv.URL + "/html\n", StatusUnknown, "is not a JSON Web Key Set"},
		{"jwks file missing", sign(t, rsaKey, live), "  jwks-file: " + filepath.Join(dir, "nope.json") + "\n", StatusUnknown, "cannot read the JWKS"},
		{"hmac with jwks", hmacTok, "  jwks-file: " + jwksFile + "\n", StatusUnknown, "HS256 (a shared secret)"},
		{"hmac without jwks, expired", hmacTok, "", StatusRevoked, "expired at"},
		{"jti on line deny list", sign(t, rsaKey, with("jti", "jti-revoked")), "  deny-list: " + denyLines + "\n", StatusRevoked, "jti is on the deny list"},
		{"jti on JSON deny list", sign(t, rsaKey, with("jti", "jti-revoked")), "  deny-list: " + denyJSON + "\n", StatusRevoked, "jti is on the deny list"},
		{"jti on URL deny list", sign(t, rsaKey, with("jti", "jti-revoked")), "  deny-list: " + srv.URL + "/deny\n", StatusRevoked, "jti is on the deny list"},
		{"jti not on deny list", sign(t, rsaKey, live), "  deny-list: " + denyLines + "\n", StatusActive, "jti not on the deny list"},
		{"no jti", sign(t, rsaKey, with("jti", nil)), "  deny-list: " + denyLines + "\n", StatusActive, "has no jti"},
		{"deny list unreachable", sign(t, rsaKey, live), "  deny-list: " + srv.URL + "/broken\n", StatusUnknown, "deny list at"},
		{"deny list malformed", sign(t, rsaKey, live), "  deny-list: " + denyBad + "\n", StatusUnknown, "not a JSON array of strings"},
		{"issuer matches", sign(t, rsaKey, live), "  issuer: " + iss + "/\n", StatusActive, "no deny-list"},
		{"issuer mismatch", sign(t, rsaKey, live), "  issuer: https://other.example\n", StatusUnknown, `the token's issuer "https://auth.qa.example" is not the configured issuer`},
		{"not a JWT", "opaque-token-value", "", StatusUnknown, "not a compact JWS"},
		{"alg none", "eyJhbGciOiJub25lIn0.eyJleHAiOjF9.", "", StatusUnknown, "not a compact JWS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := one(t, "- name: qa-jwt\n  kind: jwt\n  token-env: JWT\n"+tc.extra, map[string]string{"JWT": tc.token})
			r := checkers(t, 5*time.Second, func(o *Options) { o.Now = func() time.Time { return jwtNow } }).ByKind[KindJWT].Check(context.Background(), c)
			t.Logf("%s: %s", r.Status, r.Detail)
			if r.Status != tc.want || !strings.Contains(r.Detail, tc.detail) {
				t.Errorf("expected %s with detail containing %q, got %s: %q", tc.want, tc.detail, r.Status, r.Detail)
			}
			if tc.want != StatusUnknown && (r.Subject != "qa-agent" || r.ClientID != "qa-client" || r.Issuer != iss) {
				t.Errorf("expected identity from claims, got sub=%q client=%q iss=%q", r.Subject, r.ClientID, r.Issuer)
			}
			assertNoSecrets(t, []string{tc.token}, r)
		})
	}
}
