package attest_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/attest"
	"github.com/airlock-dev/airlock/internal/evidence"
	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/githubsim"
	"github.com/airlock-dev/airlock/internal/identity"
	"github.com/airlock-dev/airlock/internal/policy"
	"github.com/airlock-dev/airlock/internal/sigstoresim"
)

// world is a GitHub (the OIDC issuer) and a Sigstore (Fulcio + TSA), both
// in-process over loopback.
type world struct {
	gh     *githubsim.Server
	ss     *sigstoresim.Server
	hc     *http.Client
	token  string
	claims map[string]any
	root   []byte
}

func newWorld(t *testing.T) *world {
	t.Helper()
	gh := githubsim.NewForTest(t)
	gh.Seed("acme", "support-agent")
	hc := &http.Client{Timeout: 10 * time.Second}
	ss, err := sigstoresim.New(sigstoresim.Config{Issuer: gh.IssuerURL(), HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ss.Close)
	tok, err := identity.Fetch(t.Context(), hc, gh.TokenRequestURL(), gh.TokenRequestToken(), "sigstore")
	if err != nil {
		t.Fatal(err)
	}
	root, err := ss.TrustedRootJSON()
	if err != nil {
		t.Fatal(err)
	}
	return &world{gh: gh, ss: ss, hc: hc, token: tok, claims: githubsim.DefaultRunClaims("acme", "support-agent"), root: root}
}

func (w *world) keyless(t *testing.T, mutate func(*attest.KeylessConfig)) *attest.KeylessSigner {
	t.Helper()
	cfg := attest.KeylessConfig{
		Services:        attest.Services{FulcioURL: w.ss.FulcioURL(), TSAURL: w.ss.TSAURL()},
		IDToken:         w.token,
		TrustedRootJSON: w.root,
		SAN:             sigstoresim.SANBase + w.claims["job_workflow_ref"].(string),
		Issuer:          w.gh.IssuerURL(),
		HTTPClient:      w.hc,
		Now:             time.Now,
		Retry:           attest.Retry{PerAttempt: 300 * time.Millisecond, Sleep: func(context.Context, time.Duration) error { return nil }},
	}
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := attest.NewKeylessSigner(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func sampleStatement(t *testing.T, allow bool) []byte {
	t.Helper()
	dec := policy.Decision{Allow: allow, PolicyDigest: "sha256:" + strings.Repeat("a", 64), PolicySources: []string{"policies"}}
	if !allow {
		dec.Reasons = []policy.Reason{{Control: "C1", Message: "environment claim is staging"}}
	}
	for _, c := range policy.Controls {
		dec.Controls = append(dec.Controls, policy.ControlResult{Control: c, Result: policy.ResultNotChecked})
	}
	ev := evidence.Evidence{Schema: evidence.SchemaURI, CollectedAt: time.Now().UTC(), Identity: evidence.Identity{Issuer: "https://issuer", Audience: "airlock", Verified: true}}
	v, err := attest.NewValidity(time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	p := attest.NewPredicate(ev, dec, &identity.Claims{Issuer: "https://issuer", Repository: "acme/support-agent", RunID: "7", RunAttempt: "1", SHA: strings.Repeat("b", 40)}, "test", v)
	st, err := attest.NewStatement([]attest.Subject{{Name: "agent.tar.gz", Digest: map[string]string{"sha256": strings.Repeat("c", 64)}}}, p)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestKeylessSignVerifies(t *testing.T) {
	w := newWorld(t)
	s := w.keyless(t, nil)
	st := sampleStatement(t, true)
	signed, err := s.Sign(t.Context(), st)
	if err != nil {
		t.Fatal(err)
	}
	p, err := attest.Verify(signed, s.Expectation(), "allow")
	if err != nil {
		t.Fatal(err)
	}
	if p.Decision != "allow" || p.Run.RunID != "7" {
		t.Errorf("predicate %+v", p)
	}
	if strings.Contains(string(signed.Bundle), w.token) {
		t.Error("the OIDC token is in the bundle")
	}
	var b map[string]any
	if err := json.Unmarshal(signed.Bundle, &b); err != nil || b["mediaType"] != "application/vnd.dev.sigstore.bundle.v0.3+json" {
		t.Errorf("bundle media type: %v %v", b["mediaType"], err)
	}
	// The verdict is checked: an allow bundle is not a deny and vice versa.
	if _, err := attest.Verify(signed, s.Expectation(), "deny"); err == nil {
		t.Error("an allow bundle verified as a deny")
	}
}

func TestVerifyRejects(t *testing.T) {
	w := newWorld(t)
	s := w.keyless(t, nil)
	st := sampleStatement(t, false)
	signed, err := s.Sign(t.Context(), st)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := attest.Verify(signed, s.Expectation(), "deny"); err != nil {
		t.Fatalf("the untouched bundle must verify: %v", err)
	}
	tamper := func(f func(m map[string]any)) *attest.Signed {
		var m map[string]any
		if err := json.Unmarshal(signed.Bundle, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, _ := json.Marshal(m)
		return &attest.Signed{Bundle: b, Statement: signed.Statement}
	}
	other := w.keyless(t, nil).Expectation()
	other.SAN = sigstoresim.SANBase + "acme/support-agent/.github/workflows/other.yml@refs/heads/main"
	tests := []struct {
		name   string
		signed *attest.Signed
		exp    attest.Expectation
		want   string
	}{
		{"payload swapped for an allow", tamper(func(m map[string]any) {
			m["dsseEnvelope"].(map[string]any)["payload"] = b64(sampleStatement(t, true))
		}), s.Expectation(), "not the statement"},
		{"statement expected differs", &attest.Signed{Bundle: signed.Bundle, Statement: sampleStatement(t, true)}, s.Expectation(), "not the statement"},
		{"signature changed", tamper(func(m map[string]any) {
			sig := m["dsseEnvelope"].(map[string]any)["signatures"].([]any)[0].(map[string]any)
			sig["sig"] = b64([]byte(strings.Repeat("x", 70)))
		}), s.Expectation(), "verif"},
		{"timestamp removed", tamper(func(m map[string]any) {
			delete(m["verificationMaterial"].(map[string]any), "timestampVerificationData")
		}), s.Expectation(), "timestamp"},
		{"wrong identity", signed, other, "SAN"},
		{"untrusted root", signed, func() attest.Expectation {
			e := s.Expectation()
			w2 := newWorld(t)
			e.Material = w2.keyless(t, nil).Expectation().Material
			return e
		}(), "verif"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := attest.Verify(tt.signed, tt.exp, "deny")
			if err == nil {
				t.Fatal("verified")
			}
			if fault.KindOf(err) != fault.KindOperational {
				t.Errorf("kind %v", fault.KindOf(err))
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// TestSigningFaults: every signing service failure ends in an operational
// error naming the service, after bounded retries for transient ones only.
func TestSigningFaults(t *testing.T) {
	tests := []struct {
		name     string
		service  string
		fault    sigstoresim.Fault
		want     []string
		requests int
	}{
		{"fulcio refuses", sigstoresim.Fulcio, sigstoresim.Fault{Status: 401, Message: "There was an error processing the identity token"}, []string{"fulcio", "HTTP 401", "refused", "identity token"}, 1},
		{"fulcio 500", sigstoresim.Fulcio, sigstoresim.Fault{Status: 500}, []string{"fulcio", "HTTP 500", "3 attempts"}, 3},
		{"fulcio 429", sigstoresim.Fulcio, sigstoresim.Fault{Status: 429, RetryAfter: "1"}, []string{"fulcio", "HTTP 429", "3 attempts"}, 3},
		{"fulcio 429 asks too long", sigstoresim.Fulcio, sigstoresim.Fault{Status: 429, RetryAfter: "3600"}, []string{"fulcio", "HTTP 429", "more than"}, 1},
		{"fulcio timeout", sigstoresim.Fulcio, sigstoresim.Fault{Delay: 2 * time.Second}, []string{"fulcio", "timeout"}, 3},
		{"tsa refuses", sigstoresim.TSA, sigstoresim.Fault{Status: 400}, []string{"timestamp authority", "HTTP 400", "refused"}, 1},
		{"tsa 500", sigstoresim.TSA, sigstoresim.Fault{Status: 503}, []string{"timestamp authority", "HTTP 503", "3 attempts"}, 3},
		{"tsa 429", sigstoresim.TSA, sigstoresim.Fault{Status: 429}, []string{"timestamp authority", "HTTP 429"}, 3},
		{"tsa timeout", sigstoresim.TSA, sigstoresim.Fault{Delay: 2 * time.Second}, []string{"timestamp authority", "timeout"}, 3},
	}
	w := newWorld(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := w.ss.Requests(tt.service)
			w.ss.InjectFault(tt.service, sigstoresim.Fault{Status: tt.fault.Status, Delay: tt.fault.Delay, RetryAfter: tt.fault.RetryAfter, Message: tt.fault.Message, Times: tt.requests})
			var waits []time.Duration
			s := w.keyless(t, func(c *attest.KeylessConfig) {
				c.Retry.Sleep = func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }
			})
			_, err := s.Sign(t.Context(), sampleStatement(t, true))
			if err == nil {
				t.Fatal("signed despite the fault")
			}
			if fault.KindOf(err) != fault.KindOperational {
				t.Errorf("kind %v, expected operational: %v", fault.KindOf(err), err)
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
			if strings.Contains(err.Error(), w.token) {
				t.Error("the token leaked into the error")
			}
			var se *attest.ServiceError
			if !errors.As(err, &se) {
				t.Errorf("no ServiceError in %v", err)
			}
			if got := w.ss.Requests(tt.service) - before; got != tt.requests {
				t.Errorf("%d requests to %s, expected %d", got, tt.service, tt.requests)
			}
			if tt.fault.RetryAfter == "1" && (len(waits) == 0 || waits[0] != time.Second) {
				t.Errorf("Retry-After: 1 not honoured: waits %v", waits)
			}
		})
	}
	// A transient fault that clears is retried into a success.
	w.ss.InjectFault(sigstoresim.Fulcio, sigstoresim.Fault{Status: 502, Times: 1})
	w.ss.InjectFault(sigstoresim.TSA, sigstoresim.Fault{Status: 429, Times: 2})
	s := w.keyless(t, nil)
	signed, err := s.Sign(t.Context(), sampleStatement(t, true))
	if err != nil {
		t.Fatalf("transient faults: %v", err)
	}
	if _, err := attest.Verify(signed, s.Expectation(), "allow"); err != nil {
		t.Fatal(err)
	}
}

func TestKeySigner(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	s, err := attest.NewKeySigner(attest.KeyConfig{PrivateKeyPEM: pemKey, HTTPClient: http.DefaultClient, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	signed, err := s.Sign(t.Context(), sampleStatement(t, true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := attest.Verify(signed, s.Expectation(), "allow"); err != nil {
		t.Fatal(err)
	}
	var b struct {
		VerificationMaterial struct {
			PublicKey struct {
				Hint string `json:"hint"`
			} `json:"publicKey"`
		} `json:"verificationMaterial"`
	}
	if err := json.Unmarshal(signed.Bundle, &b); err != nil || b.VerificationMaterial.PublicKey.Hint == "" {
		t.Errorf("bundle carries no public key hint: %s", signed.Bundle)
	}
	for _, secret := range []string{string(pemKey), strings.Split(string(pemKey), "\n")[1]} {
		if strings.Contains(string(signed.Bundle), secret) {
			t.Error("the private key is in the bundle")
		}
	}
	// Another key does not verify it.
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der2, _ := x509.MarshalPKCS8PrivateKey(other)
	s2, err := attest.NewKeySigner(attest.KeyConfig{PrivateKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der2}), HTTPClient: http.DefaultClient, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := attest.Verify(signed, s2.Expectation(), "allow"); err == nil {
		t.Error("verified with another key")
	}

	bad := []struct {
		name string
		pem  []byte
	}{
		{"not pem", []byte("hello")},
		{"encrypted", pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED SIGSTORE PRIVATE KEY", Bytes: []byte{1, 2, 3}})},
		{"garbage der", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("secret-bytes-that-must-not-leak")})},
		{"public key", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1}})},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := attest.NewKeySigner(attest.KeyConfig{PrivateKeyPEM: tt.pem, HTTPClient: http.DefaultClient, Now: time.Now})
			if err == nil || fault.KindOf(err) != fault.KindConfig {
				t.Fatalf("expected a config error, got %v", err)
			}
			if strings.Contains(err.Error(), "secret-bytes") {
				t.Error("key bytes leaked into the error")
			}
		})
	}
}

// TestRekorFaults: the Rekor client goes through the same transport, so its
// failures are bounded and named. (No Rekor server builds here, so a
// successful entry is not tested.)
func TestRekorFaults(t *testing.T) {
	w := newWorld(t)
	tests := []struct {
		name     string
		status   int
		want     []string
		requests int
	}{
		{"rekor 503", 503, []string{"rekor", "HTTP 503", "3 attempts"}, 3},
		{"rekor 429", 429, []string{"rekor", "HTTP 429"}, 3},
		{"rekor refuses", 400, []string{"rekor", "HTTP 400", "refused"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n atomic.Int32
			rekor := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
				n.Add(1)
				rw.Header().Set("Content-Type", "application/json")
				rw.WriteHeader(tt.status)
				_, _ = rw.Write([]byte(`{"code":` + strconv.Itoa(tt.status) + `,"message":"rekor says no"}`))
			}))
			defer rekor.Close()
			root, err := w.ss.TrustedRootWithRekorJSON(rekor.URL)
			if err != nil {
				t.Fatal(err)
			}
			s := w.keyless(t, func(c *attest.KeylessConfig) {
				c.Services = attest.Services{FulcioURL: w.ss.FulcioURL(), RekorURL: rekor.URL}
				c.TrustedRootJSON = root
			})
			if e := s.Expectation(); e.TlogEntries != 1 || e.Timestamps != 0 {
				t.Errorf("expectation %+v", e)
			}
			_, err = s.Sign(t.Context(), sampleStatement(t, true))
			if err == nil {
				t.Fatal("signed without Rekor")
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
			if got := int(n.Load()); got != tt.requests {
				t.Errorf("%d requests to rekor, expected %d", got, tt.requests)
			}
		})
	}
}
