package revocation

// Tests against a real Ory Hydra v2.3.0 (internal/testsvc starts it; build
// it once with `scripts/tool.sh hydra`).

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/testsvc"
)

// hydraCred is the qa-credentials entry for a Hydra client's token.
func hydraCred(name, introspect string, h *testsvc.Hydra, revoke bool) string {
	s := fmt.Sprintf("- name: %s\n  kind: oauth2\n  token-env: %s_TOKEN\n  introspection-url: %s\n  revocation-url: %s\n  client-id-env: %s_ID\n  client-secret-env: %s_SECRET\n",
		name, envPrefix(name), introspect, h.RevocationURL(), envPrefix(name), envPrefix(name))
	if revoke {
		s += "  revoke: true\n"
	}
	return s
}

func envPrefix(name string) string { return strings.ToUpper(strings.ReplaceAll(name, "-", "_")) }

func hydraEnv(env map[string]string, name string, c testsvc.HydraClient, token string) {
	env[envPrefix(name)+"_TOKEN"], env[envPrefix(name)+"_ID"], env[envPrefix(name)+"_SECRET"] = token, c.ID, c.Secret
}

func TestHydraOpaqueToken(t *testing.T) {
	h := testsvc.StartHydra(t)
	client := h.CreateClient(t)
	token := h.Token(t, client)
	env := map[string]string{}
	hydraEnv(env, "qa-hydra", client, token)
	c := one(t, hydraCred("qa-hydra", h.IntrospectionURL(), h, false), env)
	chk := checkers(t, 5*time.Second).ByKind[KindOAuth2]

	r := chk.Check(context.Background(), c)
	t.Logf("before revocation: %s: %s", r.Status, r.Detail)
	if r.Status != StatusActive || r.HTTPStatus != 200 {
		t.Fatalf("expected a live token to be active, got %s: %s", r.Status, r.Detail)
	}
	if r.ClientID != client.ID || r.Subject != client.ID || strings.TrimRight(r.Issuer, "/") != h.PublicURL {
		t.Errorf("expected Hydra's identity claims (client %q, issuer %q), got sub=%q client_id=%q iss=%q", client.ID, h.PublicURL, r.Subject, r.ClientID, r.Issuer)
	}

	h.Revoke(t, client, token)
	r = chk.Check(context.Background(), c)
	t.Logf("after revocation: %s: %s", r.Status, r.Detail)
	if r.Status != StatusRevoked || r.Revoked {
		t.Fatalf("expected revoked (not by airlock), got %s revoked_by_airlock=%v: %s", r.Status, r.Revoked, r.Detail)
	}
	assertNoSecrets(t, []string{token, client.Secret}, r)
}

func TestHydraRevokeThenVerify(t *testing.T) {
	h := testsvc.StartHydra(t)
	client := h.CreateClient(t)
	token := h.Token(t, client)
	other := h.Token(t, client) // a second token of the same client must stay live
	env := map[string]string{}
	hydraEnv(env, "qa-hydra", client, token)
	hydraEnv(env, "qa-other", client, other)
	d := resolve(t, hydraCred("qa-hydra", h.IntrospectionURL(), h, true)+hydraCred("qa-other", h.IntrospectionURL(), h, false), env)
	prod := &ProductionIdentity{Issuer: h.PublicURL + "/", ClientID: "prod-agent"}
	rep := CheckAll(context.Background(), d, prod, checkers(t, 5*time.Second), time.Now().Add(20*time.Second))

	r := rep.Credentials[0]
	t.Logf("%s: %s", r.Status, r.Detail)
	if r.Status != StatusRevoked || !r.Revoked || r.RevokeHTTPStatus != 200 {
		t.Errorf("expected revoked by airlock, got %s revoked=%v revoke_http=%d: %s", r.Status, r.Revoked, r.RevokeHTTPStatus, r.Detail)
	}
	if r.ClientID != client.ID {
		t.Errorf("expected the QA client id learnt before revoking, got %q", r.ClientID)
	}
	if o := rep.Credentials[1]; o.Status != StatusActive {
		t.Errorf("expected the other token to stay active, got %s: %s", o.Status, o.Detail)
	}
	// C3: same issuer for QA and production is recorded; the ids differ.
	if !rep.SharedIssuer || len(rep.SharedIssuerWith) != 2 || rep.IdentityReuse {
		t.Errorf("expected shared issuer with both credentials and no reuse, got %+v", rep)
	}
	prod.ClientID = client.ID
	rep = CheckAll(context.Background(), d, prod, checkers(t, 5*time.Second), time.Now().Add(20*time.Second))
	if !rep.IdentityReuse {
		t.Errorf("expected identity reuse when production uses the QA client id, got %+v", rep.IdentityReuseWith)
	}
	assertNoSecrets(t, []string{token, other, client.Secret}, rep)
}

// TestHydraJWTAccessTokens shows why kind jwt cannot see revocation: Hydra
// issues JWT access tokens, one is revoked, its signature still verifies
// against Hydra's own JWKS and it has not expired, so the offline check
// says active, while introspection says revoked.
func TestHydraJWTAccessTokens(t *testing.T) {
	h := testsvc.StartHydra(t, testsvc.WithJWTAccessTokens())
	client := h.CreateClient(t)
	token := h.Token(t, client)
	if strings.Count(token, ".") != 2 {
		t.Fatalf("expected a JWT access token, got %d dot-separated parts", strings.Count(token, ".")+1)
	}
	env := map[string]string{}
	hydraEnv(env, "qa-introspect", client, token)
	env["QA_JWT"] = token
	y := hydraCred("qa-introspect", h.IntrospectionURL(), h, false) +
		fmt.Sprintf("- name: qa-offline\n  kind: jwt\n  token-env: QA_JWT\n  jwks-url: %s\n  issuer: %s\n", h.JWKSURL(), h.PublicURL)
	d := resolve(t, y, env)
	cs := checkers(t, 5*time.Second)

	before := CheckAll(context.Background(), d, nil, cs, time.Now().Add(20*time.Second))
	for _, r := range before.Credentials {
		t.Logf("before revocation: %s %s: %s", r.Name, r.Status, r.Detail)
		if r.Status != StatusActive {
			t.Fatalf("expected %s active before revocation, got %s: %s", r.Name, r.Status, r.Detail)
		}
	}
	if jr := before.Credentials[1]; !strings.Contains(jr.Detail, "verified against the JWKS") || jr.ClientID != client.ID {
		t.Errorf("expected the JWT verified against Hydra's JWKS with client_id %q, got %q (client_id %q)", client.ID, jr.Detail, jr.ClientID)
	}

	h.Revoke(t, client, token)
	after := CheckAll(context.Background(), d, nil, cs, time.Now().Add(20*time.Second))
	intro, offline := after.Credentials[0], after.Credentials[1]
	t.Logf("after revocation: %s %s: %s", intro.Name, intro.Status, intro.Detail)
	t.Logf("after revocation: %s %s: %s", offline.Name, offline.Status, offline.Detail)
	if intro.Status != StatusRevoked {
		t.Errorf("expected introspection to see the revocation, got %s: %s", intro.Status, intro.Detail)
	}
	if offline.Status != StatusActive || !strings.Contains(offline.Detail, "verified against the JWKS") {
		t.Errorf("expected the offline JWT check to still see a valid token (the documented blind spot), got %s: %s", offline.Status, offline.Detail)
	}
	assertNoSecrets(t, []string{token, client.Secret}, before, after)
}

// faultProxy sits in front of Hydra's admin API and breaks the first
// `failures` introspection requests (or all, when failures < 0).
type faultProxy struct {
	hits     atomic.Int32
	failures int32
	fault    func(w http.ResponseWriter)
	upstream http.Handler
}

func (p *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := p.hits.Add(1)
	if p.failures < 0 || n <= p.failures {
		_, _ = io.Copy(io.Discard, r.Body)
		p.fault(w)
		return
	}
	p.upstream.ServeHTTP(w, r)
}

func TestHydraIntrospectionFaults(t *testing.T) {
	h := testsvc.StartHydra(t)
	client := h.CreateClient(t)
	token := h.Token(t, client)
	h.Revoke(t, client, token)
	admin, err := url.Parse(h.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	hydraEnv(env, "qa-hydra", client, token)

	status := func(code int, hdr ...string) func(w http.ResponseWriter) {
		return func(w http.ResponseWriter) {
			for i := 0; i+1 < len(hdr); i += 2 {
				w.Header().Set(hdr[i], hdr[i+1])
			}
			w.WriteHeader(code)
		}
	}
	body := func(ctype, b string) func(w http.ResponseWriter) {
		return func(w http.ResponseWriter) { w.Header().Set("Content-Type", ctype); fmt.Fprint(w, b) }
	}
	for _, tc := range []struct {
		name     string
		failures int32
		fault    func(w http.ResponseWriter)
		want     Status
		detail   string
	}{
		{"no fault", 0, nil, StatusRevoked, "active=false"},
		{"500 always", -1, status(500), StatusUnknown, "HTTP 500 after 3 attempts"},
		{"500 twice, then Hydra", 2, status(500), StatusRevoked, "active=false"},
		{"429 Retry-After always", -1, status(429, "Retry-After", "1"), StatusUnknown, "HTTP 429 after 3 attempts"},
		{"429 Retry-After once, then Hydra", 1, status(429, "Retry-After", "1"), StatusRevoked, "active=false"},
		{"HTML login page", -1, body("text/html", "<html><form>Sign in</form></html>"), StatusUnknown, "the body is not JSON"},
		{"empty object", -1, body("application/json", "{}"), StatusUnknown, `no "active" member`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &faultProxy{failures: tc.failures, fault: tc.fault, upstream: httputil.NewSingleHostReverseProxy(admin)}
			srv := httptest.NewServer(p)
			defer srv.Close()
			c := one(t, hydraCred("qa-hydra", srv.URL+"/admin/oauth2/introspect", h, false), env)
			r := checkers(t, 5*time.Second).ByKind[KindOAuth2].Check(context.Background(), c)
			t.Logf("%s: %s", r.Status, r.Detail)
			if r.Status != tc.want || !strings.Contains(r.Detail, tc.detail) {
				t.Errorf("expected %s with detail containing %q, got %s: %q", tc.want, tc.detail, r.Status, r.Detail)
			}
			assertNoSecrets(t, []string{token, client.Secret}, r)
		})
	}
	t.Run("refused", func(t *testing.T) {
		c := one(t, hydraCred("qa-hydra", refusedURL(t)+"/admin/oauth2/introspect", h, false), env)
		r := checkers(t, 5*time.Second).ByKind[KindOAuth2].Check(context.Background(), c)
		if r.Status != StatusUnknown || !strings.Contains(r.Detail, "connection refused") {
			t.Errorf("expected unknown/connection refused, got %s: %q", r.Status, r.Detail)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		srv, release := hangingServer()
		defer srv.Close()
		defer close(release)
		c := one(t, hydraCred("qa-hydra", srv.URL+"/admin/oauth2/introspect", h, false), env)
		r := checkers(t, 200*time.Millisecond).ByKind[KindOAuth2].Check(context.Background(), c)
		if r.Status != StatusUnknown || !strings.Contains(r.Detail, "timed out") {
			t.Errorf("expected unknown/timed out, got %s: %q", r.Status, r.Detail)
		}
	})
}

// TestHydraConcurrentProbes measures 20 credentials probed concurrently
// against one Hydra: CheckAll's wall time against the slowest of the same
// probes run one at a time. Once straight to Hydra on loopback (the probes
// are then CPU work on a shared 2-core machine, and Hydra's in-memory SQLite
// serialises them), once through a proxy adding 100 ms per request, the
// latency of a real issuer across a network. It logs the numbers and
// asserts only results, never timing (see docs/BENCHMARKS.md). Run:
//
//	go test -run TestHydraConcurrentProbes -v ./internal/revocation/
func TestHydraConcurrentProbes(t *testing.T) {
	const n = 20
	h := testsvc.StartHydra(t)
	admin, err := url.Parse(h.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(admin)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(100 * time.Millisecond)
		proxy.ServeHTTP(w, r)
	}))
	defer slow.Close()

	clients := make([]testsvc.HydraClient, n)
	tokens := make([]string, n)
	for i := range clients {
		clients[i] = h.CreateClient(t)
		tokens[i] = h.Token(t, clients[i])
		if i%2 == 0 {
			h.Revoke(t, clients[i], tokens[i])
		}
	}
	for _, tc := range []struct{ name, introspect string }{
		{"loopback", h.IntrospectionURL()},
		{"100ms latency", slow.URL + "/admin/oauth2/introspect"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{}
			var y strings.Builder
			for i := range clients {
				name := fmt.Sprintf("qa-%02d", i)
				hydraEnv(env, name, clients[i], tokens[i])
				y.WriteString(hydraCred(name, tc.introspect, h, false))
			}
			d := resolve(t, y.String(), env)
			cs := checkers(t, 5*time.Second)
			chk := cs.ByKind[KindOAuth2]
			chk.Check(context.Background(), d.Credentials[0]) // warm up

			const rounds = 5
			var walls, slowests []time.Duration
			for round := 0; round < rounds; round++ {
				var slowest time.Duration
				for _, c := range d.Credentials {
					start := time.Now()
					chk.Check(context.Background(), c)
					if e := time.Since(start); e > slowest {
						slowest = e
					}
				}
				start := time.Now()
				rep := CheckAll(context.Background(), d, nil, cs, time.Now().Add(30*time.Second))
				wall := time.Since(start)
				for i, r := range rep.Credentials {
					want := StatusActive
					if i%2 == 0 {
						want = StatusRevoked
					}
					if r.Status != want {
						t.Fatalf("%s: expected %s, got %s: %s", r.Name, want, r.Status, r.Detail)
					}
				}
				walls, slowests = append(walls, wall.Round(100*time.Microsecond)), append(slowests, slowest.Round(100*time.Microsecond))
			}
			med := func(ds []time.Duration) time.Duration {
				s := append([]time.Duration(nil), ds...)
				sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
				return s[len(s)/2]
			}
			t.Logf("%s, %d credentials, %d rounds: CheckAll wall %v (median %v); slowest single probe %v (median %v); ratio of medians %.2f",
				tc.name, n, rounds, walls, med(walls), slowests, med(slowests), float64(med(walls))/float64(med(slowests)))
		})
	}
}
