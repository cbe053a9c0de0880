package identity_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/identity"
)

// issuerServer is a loopback OIDC issuer: the real discovery document
// rewritten to the server's own URL, and a JWKS the test can swap.
type issuerServer struct {
	*httptest.Server
	mu         sync.Mutex
	jwks       []byte
	discovery  func(w http.ResponseWriter, r *http.Request) // override
	jwksHook   func(w http.ResponseWriter, r *http.Request) bool
	discoHits  atomic.Int32
	jwksHits   atomic.Int32
	docRewrite func(doc map[string]any)
}

func newIssuerServer(t *testing.T, jwks []byte) *issuerServer {
	t.Helper()
	s := &issuerServer{jwks: jwks}
	realDoc := readData(t, "openid-configuration.json")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		s.discoHits.Add(1)
		if s.discovery != nil {
			s.discovery(w, r)
			return
		}
		var doc map[string]any
		if err := json.Unmarshal(realDoc, &doc); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		doc["issuer"] = s.URL
		doc["jwks_uri"] = s.URL + "/.well-known/jwks"
		if s.docRewrite != nil {
			s.docRewrite(doc)
		}
		_ = json.NewEncoder(w).Encode(doc)
	})
	mux.HandleFunc("GET /.well-known/jwks", func(w http.ResponseWriter, r *http.Request) {
		s.jwksHits.Add(1)
		if s.jwksHook != nil && s.jwksHook(w, r) {
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		_, _ = w.Write(s.jwks)
	})
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

func (s *issuerServer) setJWKS(b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.jwks = b
}

func discoveryVerifier(t *testing.T, issuer string, hc *http.Client, now func() time.Time) *identity.Verifier {
	t.Helper()
	v, err := identity.NewVerifier(identity.Config{Issuer: issuer, Audience: "sigstore", HTTPClient: hc, Now: now})
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

func loopbackClient() *http.Client { return &http.Client{Timeout: 2 * time.Second} }

// The real discovery document and JWKS, byte for byte, served by a loopback
// TLS server that answers for token.actions.githubusercontent.com: the real
// token verifies through discovery with the real issuer, without GitHub.
func TestVerifyDiscoveryRealIssuerOverLoopbackTLS(t *testing.T) {
	doc, jwks := readData(t, "openid-configuration.json"), readData(t, jwksCurrent)
	var hits atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = w.Write(doc)
	})
	mux.HandleFunc("GET /.well-known/jwks", func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = w.Write(jwks)
	})
	srv := httptest.NewUnstartedServer(mux)
	cert, pool := selfSignedCert(t, "token.actions.githubusercontent.com")
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)

	addr := srv.Listener.Addr().String()
	hc := &http.Client{
		Timeout: 2 * time.Second,
		Transport: &http.Transport{
			// Every dial goes to the loopback server, whatever the host.
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, addr)
			},
			TLSClientConfig: &tls.Config{RootCAs: pool},
		},
	}
	v := discoveryVerifier(t, githubIssuer, hc, fixedNow(beaconIat))
	for range 2 {
		c, err := v.Verify(context.Background(), realToken(t))
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if c.Repository != "sigstore-conformance/extremely-dangerous-public-oidc-beacon" {
			t.Errorf("Repository = %q", c.Repository)
		}
	}
	if got := hits.Load(); got != 2 {
		t.Errorf("requests = %d, want 2 (discovery and JWKS fetched once, then cached)", got)
	}
}

func selfSignedCert(t *testing.T, host string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: host},
		DNSNames:              []string{host},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

func TestVerifyDiscoveryLoopbackIssuer(t *testing.T) {
	key := testKey()
	srv := newIssuerServer(t, jwksWith(t, readData(t, jwksCurrent), nil, nil, publicJWK(key, "test-kid")))
	v := discoveryVerifier(t, srv.URL, loopbackClient(), fixedNow(beaconIat))

	own := signClaims(t, key, "test-kid", map[string]any{"iss": srv.URL})
	c, err := v.Verify(context.Background(), own)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if c.Issuer != srv.URL {
		t.Errorf("Issuer = %q", c.Issuer)
	}

	// The real token's signature verifies against the served real JWKS; it
	// is refused only because it names GitHub, not this issuer.
	_, err = v.Verify(context.Background(), realToken(t))
	ve := verificationError(t, err)
	if want := `issuer expected "` + srv.URL + `" got "` + githubIssuer + `"`; ve.Reason != want {
		t.Errorf("Reason = %q, want %q", ve.Reason, want)
	}
	if d, j := srv.discoHits.Load(), srv.jwksHits.Load(); d != 1 || j != 1 {
		t.Errorf("discovery hits %d, jwks hits %d: want 1 and 1 (cached)", d, j)
	}
}

func TestVerifyDiscoveryFailuresAreOperational(t *testing.T) {
	tests := []struct {
		name  string
		setup func(s *issuerServer)
		want  string
	}{
		{"discovery 500", func(s *issuerServer) {
			s.discovery = func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", 500) }
		}, "unexpected status 500"},
		{"discovery 503 three times", func(s *issuerServer) {
			s.discovery = func(w http.ResponseWriter, r *http.Request) { http.Error(w, "busy", 503) }
		}, "unexpected status 503"},
		{"discovery malformed json", func(s *issuerServer) {
			s.discovery = func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(`{"issuer":`)) }
		}, "malformed discovery document"},
		{"discovery issuer mismatch", func(s *issuerServer) {
			s.docRewrite = func(doc map[string]any) { doc["issuer"] = githubIssuer }
		}, "discovery document issuer: expected"},
		{"discovery issuer with trailing slash", func(s *issuerServer) {
			s.docRewrite = func(doc map[string]any) { doc["issuer"] = s.URL + "/" }
		}, "discovery document issuer: expected"},
		{"jwks_uri plain http off loopback", func(s *issuerServer) {
			s.docRewrite = func(doc map[string]any) {
				doc["jwks_uri"] = "http://token.actions.githubusercontent.com/.well-known/jwks"
			}
		}, "plain http is allowed only to loopback"},
		{"no jwks_uri", func(s *issuerServer) {
			s.docRewrite = func(doc map[string]any) { delete(doc, "jwks_uri") }
		}, "no jwks_uri"},
		{"discovery body over 1 MiB", func(s *issuerServer) {
			s.discovery = func(w http.ResponseWriter, r *http.Request) {
				_, _ = w.Write([]byte(`{"issuer":"` + strings.Repeat("a", 1<<20) + `"}`))
			}
		}, "exceeds 1048576 bytes"},
		{"jwks 500", func(s *issuerServer) {
			s.jwksHook = func(w http.ResponseWriter, r *http.Request) bool { http.Error(w, "boom", 500); return true }
		}, "unexpected status 500"},
		{"jwks malformed json", func(s *issuerServer) {
			s.jwksHook = func(w http.ResponseWriter, r *http.Request) bool { _, _ = w.Write([]byte("<html>")); return true }
		}, "malformed jwks"},
		{"jwks without keys", func(s *issuerServer) {
			s.jwksHook = func(w http.ResponseWriter, r *http.Request) bool { _, _ = w.Write([]byte(`{"keys":[]}`)); return true }
		}, "no keys"},
		{"discovery timeout", func(s *issuerServer) {
			s.discovery = func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }
		}, "Client.Timeout"},
		{"jwks timeout", func(s *issuerServer) {
			s.jwksHook = func(w http.ResponseWriter, r *http.Request) bool { <-r.Context().Done(); return true }
		}, "Client.Timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newIssuerServer(t, readData(t, jwksCurrent))
			tt.setup(srv)
			hc := testClient(tt.name)
			v := discoveryVerifier(t, srv.URL, hc, fixedNow(beaconIat))
			token := realToken(t)
			c, err := v.Verify(context.Background(), token)
			if c != nil || err == nil {
				t.Fatal("verified without a usable key set")
			}
			if k := fault.KindOf(err); k != fault.KindOperational {
				t.Errorf("kind = %v, want operational: %v", k, err)
			}
			if identity.IsVerificationError(err) {
				t.Errorf("an unreachable issuer must not read as an invalid token: %v", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			assertNoTokenLeak(t, err, token)
		})
	}
}

func TestVerifyDiscoveryRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	v := discoveryVerifier(t, url, loopbackClient(), fixedNow(beaconIat))
	_, err := v.Verify(context.Background(), realToken(t))
	if k := fault.KindOf(err); k != fault.KindOperational || identity.IsVerificationError(err) {
		t.Fatalf("kind = %v, err %v: want operational", k, err)
	}
}

func TestVerifyDiscoveryRetriesTransient(t *testing.T) {
	srv := newIssuerServer(t, readData(t, jwksCurrent))
	var n atomic.Int32
	srv.jwksHook = func(w http.ResponseWriter, r *http.Request) bool {
		if n.Add(1) == 1 {
			w.Header().Set("Retry-After", "0")
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return true
		}
		return false
	}
	v := discoveryVerifier(t, srv.URL, loopbackClient(), fixedNow(beaconIat))
	own := signClaims(t, testKey(), "test-kid", map[string]any{"iss": srv.URL})
	srv.setJWKS(jwksWith(t, readData(t, jwksCurrent), nil, nil, publicJWK(testKey(), "test-kid")))
	if _, err := v.Verify(context.Background(), own); err != nil {
		t.Fatalf("Verify after one 503: %v", err)
	}
	if got := srv.jwksHits.Load(); got != 2 {
		t.Errorf("jwks hits = %d, want 2", got)
	}
}

// Key rotation: a token naming a kid the cached JWKS lacks triggers one
// refetch; refetches are rate-limited so invented kids cannot hammer the issuer.
func TestVerifyRotation(t *testing.T) {
	key := testKey()
	real := readData(t, jwksCurrent)
	srv := newIssuerServer(t, real)
	clk := newClock(beaconIat)
	v := discoveryVerifier(t, srv.URL, loopbackClient(), clk.Now)

	// Prime the cache with the real key set.
	first := signClaims(t, key, "rotated-kid", map[string]any{"iss": srv.URL})
	_, err := v.Verify(context.Background(), first)
	ve := verificationError(t, err)
	if ve.Reason != `unknown kid "rotated-kid"` {
		t.Fatalf("Reason = %q", ve.Reason)
	}
	if got := srv.jwksHits.Load(); got != 1 {
		t.Fatalf("jwks hits = %d, want 1: an unknown kid right after a fetch must not refetch", got)
	}

	// The issuer rotates; within 10 s of the last fetch we still refuse.
	srv.setJWKS(jwksWith(t, real, nil, nil, publicJWK(key, "rotated-kid")))
	clk.Advance(5 * time.Second)
	_, err = v.Verify(context.Background(), first)
	if ve := verificationError(t, err); ve.Reason != `unknown kid "rotated-kid"` {
		t.Fatalf("Reason = %q", ve.Reason)
	}
	if got := srv.jwksHits.Load(); got != 1 {
		t.Fatalf("jwks hits = %d, want 1 (rate-limited)", got)
	}

	// After the interval: one refetch, the rotated key is found.
	clk.Advance(6 * time.Second)
	c, err := v.Verify(context.Background(), first)
	if err != nil {
		t.Fatalf("Verify after rotation: %v", err)
	}
	if c.Issuer != srv.URL {
		t.Errorf("Issuer = %q", c.Issuer)
	}
	if d, j := srv.discoHits.Load(), srv.jwksHits.Load(); d != 1 || j != 2 {
		t.Errorf("discovery hits %d, jwks hits %d: want 1 and 2", d, j)
	}

	// A known kid never refetches.
	if _, err := v.Verify(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	if got := srv.jwksHits.Load(); got != 2 {
		t.Errorf("jwks hits = %d, want 2", got)
	}

	// Keys the issuer withdraws are gone after the next refetch.
	srv.setJWKS(real)
	clk.Advance(11 * time.Second)
	_, err = v.Verify(context.Background(), signClaims(t, key, "other-new-kid", map[string]any{"iss": srv.URL}))
	verificationError(t, err)
	if _, err := v.Verify(context.Background(), first); err == nil {
		t.Error("token under a withdrawn key still verifies")
	}
}

// alg none / HS256 are refused before any key lookup: no request reaches
// the issuer on behalf of such a token.
func TestVerifyRejectsAlgBeforeKeyLookup(t *testing.T) {
	srv := newIssuerServer(t, readData(t, jwksCurrent))
	v := discoveryVerifier(t, srv.URL, loopbackClient(), fixedNow(beaconIat))
	token := realToken(t)
	h := decodeHeader(t, token)
	for _, alg := range []string{"none", "HS256", "ES256", ""} {
		h["alg"] = alg
		_, err := v.Verify(context.Background(), withHeader(t, token, h))
		ve := verificationError(t, err)
		if !strings.HasPrefix(ve.Reason, "alg not RS256") {
			t.Errorf("alg %q: Reason = %q", alg, ve.Reason)
		}
	}
	if d, j := srv.discoHits.Load(), srv.jwksHits.Load(); d != 0 || j != 0 {
		t.Errorf("discovery hits %d, jwks hits %d: want none", d, j)
	}
}

func TestVerifyConcurrentFirstUse(t *testing.T) {
	key := testKey()
	srv := newIssuerServer(t, jwksWith(t, readData(t, jwksCurrent), nil, nil, publicJWK(key, "test-kid")))
	v := discoveryVerifier(t, srv.URL, loopbackClient(), fixedNow(beaconIat))
	tok := signClaims(t, key, "test-kid", map[string]any{"iss": srv.URL})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			_, err := v.Verify(context.Background(), tok)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if j := srv.jwksHits.Load(); j != 1 {
		t.Errorf("jwks hits = %d, want 1", j)
	}
}
