package identity_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/identity"
)

func staticVerifier(tb testing.TB, jwks []byte, issuer, aud string, now func() time.Time, leeway time.Duration) *identity.Verifier {
	tb.Helper()
	v, err := identity.NewVerifier(identity.Config{Issuer: issuer, Audience: aud, JWKS: jwks, Now: now, Leeway: leeway})
	if err != nil {
		tb.Fatalf("NewVerifier: %v", err)
	}
	return v
}

func TestVerifyRealBeaconToken(t *testing.T) {
	token := realToken(t)
	var payload map[string]any
	dec := json.NewDecoder(strings.NewReader(string(readData(t, beaconClaims))))
	dec.UseNumber()
	if err := dec.Decode(&payload); err != nil {
		t.Fatal(err)
	}

	for _, jwks := range []string{jwksCurrent, jwksOlder} {
		for _, at := range []time.Time{beaconNbf, beaconIat, beaconExp.Add(-time.Second)} {
			t.Run(fmt.Sprintf("%s@%s", jwks, at.Format(time.RFC3339)), func(t *testing.T) {
				v := staticVerifier(t, readData(t, jwks), githubIssuer, "sigstore", fixedNow(at), 0)
				c, err := v.Verify(context.Background(), token)
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				assertClaimsMatchPayload(t, c, payload)
				want := &identity.Subject{
					Owner:   "sigstore-conformance",
					Repo:    "extremely-dangerous-public-oidc-beacon",
					Context: "ref",
					Value:   "refs/heads/main",
				}
				if !reflect.DeepEqual(c.ParsedSubject, want) {
					t.Errorf("ParsedSubject = %+v, want %+v", c.ParsedSubject, want)
				}
				if c.Environment != "" {
					t.Errorf("Environment = %q: the beacon job has no environment", c.Environment)
				}
			})
		}
	}
}

// assertClaimsMatchPayload compares every claim of the real payload with the
// Claims field carrying the same json name, and fails on any claim that has
// no field: nothing GitHub signed may be silently dropped.
func assertClaimsMatchPayload(t *testing.T, c *identity.Claims, payload map[string]any) {
	t.Helper()
	fields := map[string]reflect.Value{}
	rv := reflect.ValueOf(c).Elem()
	for i := 0; i < rv.NumField(); i++ {
		name, _, _ := strings.Cut(rv.Type().Field(i).Tag.Get("json"), ",")
		fields[name] = rv.Field(i)
	}
	for name, want := range payload {
		f, ok := fields[name]
		if !ok {
			t.Errorf("claim %q has no Claims field", name)
			continue
		}
		var got any
		switch want.(type) {
		case json.Number:
			got = json.Number(fmt.Sprint(f.Int()))
		default:
			got = f.Interface()
			if name == "aud" {
				want = []string{want.(string)}
				got = []string(f.Interface().(identity.Audience))
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("claim %q: got %#v, want %#v", name, got, want)
		}
	}
	// Spot-check the immutable ids explicitly so a reflection slip cannot hide them.
	if c.RepositoryID != "632596897" || c.RepositoryOwnerID != "131804563" || c.CheckRunID != "81215574497" ||
		c.RunID != "27476101517" || c.RunAttempt != "1" || c.Expiry != beaconExp.Unix() {
		t.Errorf("ids: %+v", c)
	}
}

func TestVerifyRealBeaconTimeWindow(t *testing.T) {
	token := realToken(t)
	jwks := readData(t, jwksCurrent)
	tests := []struct {
		name   string
		at     time.Time
		leeway time.Duration
		reason string // "" = valid
	}{
		{"exp+1s", beaconExp.Add(time.Second), 0, "expired at 2026-06-13T19:06:04Z"},
		{"at exp", beaconExp, 0, "expired at 2026-06-13T19:06:04Z"},
		{"a year later", beaconExp.AddDate(1, 0, 0), 0, "expired at 2026-06-13T19:06:04Z"},
		{"nbf-1s", beaconNbf.Add(-time.Second), 0, "not valid before 2026-06-13T18:56:04Z"},
		{"long before", beaconNbf.Add(-time.Hour), 0, "not valid before 2026-06-13T18:56:04Z"},
		{"exp+10s within leeway", beaconExp.Add(10 * time.Second), 30 * time.Second, ""},
		{"exp+30s at leeway", beaconExp.Add(30 * time.Second), 30 * time.Second, "expired at 2026-06-13T19:06:04Z"},
		{"nbf-10s within leeway", beaconNbf.Add(-10 * time.Second), 30 * time.Second, ""},
		{"nbf-31s beyond leeway", beaconNbf.Add(-31 * time.Second), 30 * time.Second, "not valid before 2026-06-13T18:56:04Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := staticVerifier(t, jwks, githubIssuer, "sigstore", fixedNow(tt.at), tt.leeway)
			c, err := v.Verify(context.Background(), token)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			if c != nil {
				t.Fatalf("got claims for an invalid token")
			}
			ve := verificationError(t, err)
			if ve.Reason != tt.reason {
				t.Errorf("Reason = %q, want %q", ve.Reason, tt.reason)
			}
			assertNoTokenLeak(t, err, token)
		})
	}
}

func TestVerifyRejectsTamperedSignature(t *testing.T) {
	token := realToken(t)
	v := staticVerifier(t, readData(t, jwksCurrent), githubIssuer, "sigstore", fixedNow(beaconIat), 0)
	if _, err := v.Verify(context.Background(), token); err != nil {
		t.Fatalf("untampered token must verify: %v", err)
	}
	sigStart := strings.LastIndex(token, ".") + 1
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	// Every position of the signature, including the last character whose
	// spare bits a lenient base64 decoder would ignore.
	for pos := sigStart; pos < len(token); pos++ {
		for _, shift := range []int{1, 32} {
			i := strings.IndexByte(alphabet, token[pos])
			if i < 0 {
				t.Fatalf("signature char %q not base64url", token[pos])
			}
			tampered := token[:pos] + string(alphabet[(i+shift)%len(alphabet)]) + token[pos+1:]
			c, err := v.Verify(context.Background(), tampered)
			if err == nil || c != nil {
				t.Fatalf("signature char %d shifted by %d: accepted", pos-sigStart, shift)
			}
			ve := verificationError(t, err)
			if ve.Reason != "bad signature" && !strings.Contains(ve.Reason, "not canonical base64url") {
				t.Fatalf("signature char %d: unexpected reason %q", pos-sigStart, ve.Reason)
			}
			assertNoTokenLeak(t, err, tampered)
		}
	}
}

func TestVerifyRejects(t *testing.T) {
	token := realToken(t)
	jwks := readData(t, jwksCurrent)
	header := decodeHeader(t, token)
	withAlg := func(alg string) map[string]any {
		h := map[string]any{}
		for k, v := range header {
			h[k] = v
		}
		h["alg"] = alg
		return h
	}
	parts := strings.Split(token, ".")
	// A different real payload spliced onto the real signature.
	otherPayload := strings.Split(signClaims(t, testKey(), beaconKid, map[string]any{"repository": "evil/repo"}), ".")[1]

	tests := []struct {
		name   string
		token  string
		issuer string
		aud    string
		jwks   []byte
		reason string
	}{
		{name: "wrong audience (default-audience form)", aud: "https://github.com/sigstore-conformance",
			reason: `audience expected "https://github.com/sigstore-conformance" got ["sigstore"]`},
		{name: "issuer with trailing slash", issuer: githubIssuer + "/",
			reason: `issuer expected "https://token.actions.githubusercontent.com/" got "https://token.actions.githubusercontent.com"`},
		{name: "http issuer form on loopback", issuer: "http://127.0.0.1",
			reason: `issuer expected "http://127.0.0.1" got "https://token.actions.githubusercontent.com"`},
		{name: "alg none", token: withHeader(t, token, withAlg("none")), reason: `alg not RS256: got "none"`},
		{name: "alg none, no signature", token: strings.Join([]string{strings.Split(withHeader(t, token, withAlg("none")), ".")[0], parts[1], ""}, "."),
			reason: `alg not RS256: got "none"`},
		{name: "alg HS256", token: withHeader(t, token, withAlg("HS256")), reason: `alg not RS256: got "HS256"`},
		{name: "alg RS512", token: withHeader(t, token, withAlg("RS512")), reason: `alg not RS256: got "RS512"`},
		{name: "no kid", token: withHeader(t, token, map[string]any{"alg": "RS256", "typ": "JWT"}), reason: "missing kid"},
		{name: "kid removed from jwks", jwks: jwksWith(t, jwks, []string{beaconKid}, nil),
			reason: `unknown kid "38826b17-6a30-5f9b-b169-8beb8202f723"`},
		{
			// The right key is still present, under another kid: a verifier
			// that tried every key would accept.
			name: "kid points at another real key",
			jwks: jwksWith(t, jwks, nil, map[string]string{
				beaconKid: "moved",
				"38E9B30B3A023A1B72309921A69A42FCC496C42C": beaconKid,
			}),
			reason: "bad signature",
		},
		{
			name: "kid points at the older snapshot's other key",
			jwks: jwksWith(t, readData(t, jwksOlder), []string{beaconKid}, map[string]string{
				"cc413527-173f-5a05-976e-9c52b1d7b431": beaconKid,
			}),
			reason: "bad signature",
		},
		{name: "payload swapped", token: parts[0] + "." + otherPayload + "." + parts[2], reason: "bad signature"},
		{name: "two segments", token: parts[0] + "." + parts[1], reason: "malformed token: expected three dot-separated segments"},
		{name: "empty", token: "..", reason: "malformed token: header is not canonical base64url"},
		{name: "garbage", token: "not-a-jwt", reason: "malformed token: expected three dot-separated segments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, iss, aud, set := tt.token, tt.issuer, tt.aud, tt.jwks
			if tok == "" {
				tok = token
			}
			if iss == "" {
				iss = githubIssuer
			}
			if aud == "" {
				aud = "sigstore"
			}
			if set == nil {
				set = jwks
			}
			v := staticVerifier(t, set, iss, aud, fixedNow(beaconIat), 0)
			c, err := v.Verify(context.Background(), tok)
			if c != nil || err == nil {
				t.Fatal("invalid token accepted")
			}
			ve := verificationError(t, err)
			if ve.Reason != tt.reason {
				t.Errorf("Reason = %q, want %q", ve.Reason, tt.reason)
			}
			if k := fault.KindOf(err); k == fault.KindOperational {
				t.Errorf("an invalid token must not be an operational failure")
			}
			assertNoTokenLeak(t, err, tok)
		})
	}
}

// Tokens signed by our own key cover the claim rules that no real token can
// exercise; the JWKS is the real one plus our key.
func TestVerifyClaimRules(t *testing.T) {
	key := testKey()
	jwks := jwksWith(t, readData(t, jwksCurrent), nil, nil, publicJWK(key, "test-kid"))
	now := beaconIat
	base := map[string]any{"iat": now.Unix(), "nbf": now.Add(-5 * time.Minute).Unix(), "exp": now.Add(5 * time.Minute).Unix()}
	with := func(kv ...any) map[string]any {
		m := map[string]any{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name      string
		overrides map[string]any
		reason    string
	}{
		{"valid", with(), ""},
		{"aud array containing audience", with("aud", []string{"other", "sigstore"}), ""},
		{"immutable sub", with("sub", "repo:sigstore-conformance@131804563/extremely-dangerous-public-oidc-beacon@632596897:environment:prod%3Aeu"), ""},
		{"aud array without audience", with("aud", []string{"other"}), `audience expected "sigstore" got ["other"]`},
		{"aud number", with("aud", 7), "malformed claims"},
		{"repository_id as number", with("repository_id", 632596897), "malformed claims"},
		{"iat after exp", with("iat", now.Add(6*time.Minute).Unix()), "issued at 2026-06-13T19:07:04Z, after expiry 2026-06-13T19:06:04Z"},
		{"garbage sub", with("sub", "repo:no-slash:ref:refs/heads/main"), "unparseable sub"},
		{"no nbf is allowed", with("nbf", nil), ""},
	}
	for _, name := range []string{"iss", "sub", "aud", "exp", "iat", "repository", "repository_id", "repository_owner_id",
		"ref", "sha", "run_id", "run_attempt", "actor", "runner_environment"} {
		tests = append(tests, struct {
			name      string
			overrides map[string]any
			reason    string
		}{"missing " + name, with(name, nil), fmt.Sprintf("missing required claim %q", name)})
		if name != "exp" && name != "iat" {
			tests = append(tests, struct {
				name      string
				overrides map[string]any
				reason    string
			}{"empty " + name, with(name, ""), fmt.Sprintf("missing required claim %q", name)})
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// with(name, nil) sets a nil value, which signClaims deletes.
			tok := signClaims(t, key, "test-kid", tt.overrides)
			v := staticVerifier(t, jwks, githubIssuer, "sigstore", fixedNow(now), 0)
			c, err := v.Verify(context.Background(), tok)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if c.ParsedSubject == nil {
					t.Fatal("ParsedSubject not filled")
				}
				return
			}
			if c != nil {
				t.Fatal("invalid token accepted")
			}
			ve := verificationError(t, err)
			if ve.Reason != tt.reason {
				t.Errorf("Reason = %q, want %q (err %v)", ve.Reason, tt.reason, err)
			}
			assertNoTokenLeak(t, err, tok)
		})
	}
}

func TestVerifyRejectsUnusableKeys(t *testing.T) {
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	rs512 := publicJWK(testKey(), "k")
	rs512.Algorithm = "RS512"
	now := beaconIat
	real := readData(t, jwksCurrent)
	tests := []struct {
		name   string
		signer *rsa.PrivateKey
		jwks   []byte
		reason string
	}{
		{"rsa 1024", weak, jwksWith(t, real, nil, nil, publicJWK(weak, "k")), `key "k" is not usable: RSA key of 1024 bits, minimum 2048`},
		{"duplicate kid", testKey(), jwksWith(t, real, nil, nil, publicJWK(testKey(), "k"), publicJWK(testKey(), "k")), `key "k" is not usable: kid published more than once`},
		{"alg RS512 on the key", testKey(), jwksWith(t, real, nil, nil, rs512), `key "k" is not usable: alg "RS512", expected RS256`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := signClaims(t, tt.signer, "k", map[string]any{"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Minute).Unix()})
			v := staticVerifier(t, tt.jwks, githubIssuer, "sigstore", fixedNow(now), 0)
			_, err := v.Verify(context.Background(), tok)
			ve := verificationError(t, err)
			if ve.Reason != tt.reason {
				t.Errorf("Reason = %q, want %q", ve.Reason, tt.reason)
			}
		})
	}
}

func TestNewVerifierRejectsUnsafeConfig(t *testing.T) {
	jwks := readData(t, jwksCurrent)
	now := fixedNow(beaconIat)
	tests := []struct {
		name string
		cfg  identity.Config
	}{
		{"http issuer (not loopback)", identity.Config{Issuer: "http://token.actions.githubusercontent.com", Audience: "a", JWKS: jwks, Now: now}},
		{"ftp issuer", identity.Config{Issuer: "ftp://x", Audience: "a", JWKS: jwks, Now: now}},
		{"issuer without scheme", identity.Config{Issuer: "token.actions.githubusercontent.com", Audience: "a", JWKS: jwks, Now: now}},
		{"issuer with query", identity.Config{Issuer: githubIssuer + "?x=1", Audience: "a", JWKS: jwks, Now: now}},
		{"issuer with user info", identity.Config{Issuer: "https://u:p@example.com", Audience: "a", JWKS: jwks, Now: now}},
		{"empty issuer", identity.Config{Audience: "a", JWKS: jwks, Now: now}},
		{"empty audience", identity.Config{Issuer: githubIssuer, JWKS: jwks, Now: now}},
		{"no clock", identity.Config{Issuer: githubIssuer, Audience: "a", JWKS: jwks}},
		{"no client, no jwks", identity.Config{Issuer: githubIssuer, Audience: "a", Now: now}},
		{"leeway over 5m", identity.Config{Issuer: githubIssuer, Audience: "a", JWKS: jwks, Now: now, Leeway: 5*time.Minute + time.Second}},
		{"negative leeway", identity.Config{Issuer: githubIssuer, Audience: "a", JWKS: jwks, Now: now, Leeway: -time.Second}},
		{"malformed static jwks", identity.Config{Issuer: githubIssuer, Audience: "a", JWKS: []byte("{"), Now: now}},
		{"empty static jwks", identity.Config{Issuer: githubIssuer, Audience: "a", JWKS: []byte(`{"keys":[]}`), Now: now}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := identity.NewVerifier(tt.cfg)
			if err == nil || v != nil {
				t.Fatal("accepted")
			}
			if k := fault.KindOf(err); k != fault.KindConfig {
				t.Errorf("kind = %v, want config (%v)", k, err)
			}
		})
	}
	for _, iss := range []string{"http://127.0.0.1:8080", "http://127.9.9.9", "http://[::1]:1", "http://localhost:99", githubIssuer, githubIssuer + "/"} {
		if _, err := identity.NewVerifier(identity.Config{Issuer: iss, Audience: "a", JWKS: jwks, Now: now, Leeway: 5 * time.Minute}); err != nil {
			t.Errorf("issuer %q rejected: %v", iss, err)
		}
	}
}

func TestVerificationErrorIsNotOperational(t *testing.T) {
	err := error(&identity.VerificationError{Reason: "bad signature", Err: errors.New("x")})
	if !identity.IsVerificationError(fmt.Errorf("wrapped: %w", err)) {
		t.Fatal("IsVerificationError false through wrapping")
	}
	if identity.IsVerificationError(fault.Operationalf("x")) {
		t.Fatal("operational error read as verification error")
	}
	if got := err.Error(); got != "oidc token rejected: bad signature: x" {
		t.Errorf("Error() = %q", got)
	}
}

func BenchmarkVerify(b *testing.B) {
	token := realToken(b)
	v := staticVerifier(b, readData(b, jwksCurrent), githubIssuer, "sigstore", fixedNow(beaconIat), 0)
	ctx := context.Background()
	for b.Loop() {
		if _, err := v.Verify(ctx, token); err != nil {
			b.Fatal(err)
		}
	}
}
