package revocation

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	qaToken      = "qa-token-Zx81-s3cr3t"
	clientSecret = "client-secret-Pq77"
)

var oauthEnv = map[string]string{"QA_TOKEN": qaToken, "QA_CLIENT_ID": "qa-client", "QA_CLIENT_SECRET": clientSecret}

func oauthYAML(introspect, revoke string, doRevoke bool) string {
	s := fmt.Sprintf("- name: qa-oauth\n  kind: oauth2\n  token-env: QA_TOKEN\n  introspection-url: %s\n  client-id-env: QA_CLIENT_ID\n  client-secret-env: QA_CLIENT_SECRET\n", introspect)
	if revoke != "" {
		s += "  revocation-url: " + revoke + "\n"
	}
	if doRevoke {
		s += "  revoke: true\n"
	}
	return s
}

// authed checks what an RFC 7662/7009 endpoint would: client_secret_basic
// and the token in the form. It echoes the secrets back in error bodies, so
// that a checker copying bodies would leak them.
func authed(w http.ResponseWriter, r *http.Request) (string, bool) {
	id, sec, ok := r.BasicAuth()
	if !ok || id != "qa-client" || sec != url.QueryEscape(clientSecret) {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, `{"error":"invalid_client","got":%q}`, sec)
		return "", false
	}
	if err := r.ParseForm(); err != nil || r.PostForm.Get("token") == "" {
		w.WriteHeader(http.StatusBadRequest)
		return "", false
	}
	return r.PostForm.Get("token"), true
}

func TestOAuth2Answers(t *testing.T) {
	big := strings.Repeat("x", DefaultMaxBody+10)
	cases := []struct {
		name   string
		status int
		header map[string]string
		body   string
		want   Status
		detail string
	}{
		{"inactive", 200, nil, `{"active":false}`, StatusRevoked, "active=false"},
		{"active", 200, nil, `{"active":true,"sub":"qa-agent","client_id":"qa-client","iss":"https://auth.qa.example"}`, StatusActive, "active=true"},
		{"html", 200, map[string]string{"Content-Type": "text/html"}, "<html><body>Sign in</body></html>", StatusUnknown, "the body is not JSON"},
		{"empty object", 200, nil, `{}`, StatusUnknown, `no "active" member`},
		{"empty body", 200, nil, ``, StatusUnknown, "not JSON"},
		{"active string", 200, nil, `{"active":"false"}`, StatusUnknown, `"active" is not a boolean`},
		{"active null", 200, nil, `{"active":null}`, StatusUnknown, `"active" is not a boolean`},
		{"active number", 200, nil, `{"active":0}`, StatusUnknown, `"active" is not a boolean`},
		{"array", 200, nil, `[{"active":false}]`, StatusUnknown, "not a JSON object"},
		{"trailing data", 200, nil, `{"active":false}{"active":true}`, StatusUnknown, "followed by more data"},
		{"duplicate member", 200, nil, `{"active":true,"active":false}`, StatusUnknown, `member "active" twice`},
		{"truncated", 200, nil, `{"active":false`, StatusUnknown, "malformed JSON"},
		{"redirect", 302, map[string]string{"Location": "https://elsewhere.example/?token=" + qaToken}, "", StatusUnknown, "HTTP 302: redirects are not followed"},
		{"307 redirect", 307, map[string]string{"Location": "https://elsewhere.example/"}, "", StatusUnknown, "HTTP 307"},
		{"unauthorized", 401, nil, `{"error":"invalid_client"}`, StatusUnknown, "refused airlock's client authentication"},
		{"not found", 404, nil, `{"active":false}`, StatusUnknown, "HTTP 404 (expected 200)"},
		{"500", 500, nil, `{"active":false}`, StatusUnknown, "HTTP 500 after 3 attempts"},
		{"503", 503, nil, qaToken, StatusUnknown, "HTTP 503 after 3 attempts"},
		{"429 long retry-after", 429, map[string]string{"Retry-After": "3600"}, "", StatusUnknown, "HTTP 429 (asked to retry after 1h0m0s, more than the 10s airlock waits)"},
		{"body too large", 200, nil, big, StatusUnknown, "body larger than"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var hits atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				if _, ok := authed(w, r); !ok {
					return
				}
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				fmt.Fprint(w, tc.body)
			}))
			defer srv.Close()
			c := one(t, oauthYAML(srv.URL+"/oauth2/introspect", "", false), oauthEnv)
			r := checkers(t, 5*time.Second).ByKind[KindOAuth2].Check(context.Background(), c)
			t.Logf("%s: %s", r.Status, r.Detail)
			if r.Status != tc.want || !strings.Contains(r.Detail, tc.detail) {
				t.Errorf("expected %s with detail containing %q, got %s: %q", tc.want, tc.detail, r.Status, r.Detail)
			}
			if r.HTTPStatus != tc.status && tc.name != "body too large" {
				t.Errorf("expected http_status %d, got %d", tc.status, r.HTTPStatus)
			}
			if r.Name != "qa-oauth" || r.Kind != KindOAuth2 || r.CheckedAt.IsZero() || r.IssuerHost != strings.TrimPrefix(srv.URL, "http://") {
				t.Errorf("unexpected identification %+v", r)
			}
			if tc.want == StatusActive && (r.Subject != "qa-agent" || r.ClientID != "qa-client" || r.Issuer != "https://auth.qa.example") {
				t.Errorf("expected identity from introspection, got sub=%q client=%q iss=%q", r.Subject, r.ClientID, r.Issuer)
			}
			if tc.status >= 300 && tc.status < 400 && hits.Load() != 1 {
				t.Errorf("expected the redirect not to be followed or retried, got %d requests", hits.Load())
			}
			assertNoSecrets(t, []string{qaToken, clientSecret, url.QueryEscape(clientSecret)}, r)
		})
	}
}

// hangingServer never answers until release is closed. It reads the body
// first: only then does net/http notice the client hanging up.
func hangingServer() (*httptest.Server, chan struct{}) {
	release := make(chan struct{})
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})), release
}

func TestOAuth2TransportFaults(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		c := one(t, oauthYAML(refusedURL(t)+"/introspect", "", false), oauthEnv)
		r := checkers(t, time.Second).ByKind[KindOAuth2].Check(context.Background(), c)
		if r.Status != StatusUnknown || !strings.Contains(r.Detail, "connection refused after 3 attempts") {
			t.Errorf("expected unknown/connection refused, got %s: %q", r.Status, r.Detail)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		srv, release := hangingServer()
		defer srv.Close()
		defer close(release)
		c := one(t, oauthYAML(srv.URL+"/introspect", "", false), oauthEnv)
		r := checkers(t, 100*time.Millisecond).ByKind[KindOAuth2].Check(context.Background(), c)
		if r.Status != StatusUnknown || !strings.Contains(r.Detail, "timed out after 3 attempts") {
			t.Errorf("expected unknown/timed out, got %s: %q", r.Status, r.Detail)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		srv, release := hangingServer()
		defer srv.Close()
		defer close(release)
		c := one(t, oauthYAML(srv.URL+"/introspect", "", false), oauthEnv)
		ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
		defer cancel()
		r := checkers(t, 10*time.Second).ByKind[KindOAuth2].Check(ctx, c)
		if r.Status != StatusUnknown || !strings.Contains(r.Detail, "no answer before the deadline") {
			t.Errorf("expected unknown/deadline, got %s: %q", r.Status, r.Detail)
		}
	})
	t.Run("reset", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
		}))
		defer srv.Close()
		c := one(t, oauthYAML(srv.URL+"/introspect", "", false), oauthEnv)
		r := checkers(t, time.Second).ByKind[KindOAuth2].Check(context.Background(), c)
		if r.Status != StatusUnknown || !strings.Contains(r.Detail, "after 3 attempts") {
			t.Errorf("expected unknown after retries, got %s: %q", r.Status, r.Detail)
		}
	})
}

// A server that fails transiently and then answers: the retry must reach
// the answer, and Retry-After must be honoured.
func TestOAuth2RetriesTransientThenAnswers(t *testing.T) {
	for _, tc := range []struct {
		name      string
		fail      func(w http.ResponseWriter)
		failures  int
		minGap    time.Duration
		wantHits  int32
		wantState Status
	}{
		{"500 then inactive", func(w http.ResponseWriter) { w.WriteHeader(500) }, 2, 0, 3, StatusRevoked},
		{"429 retry-after 1", func(w http.ResponseWriter) { w.Header().Set("Retry-After", "1"); w.WriteHeader(429) }, 1, time.Second, 2, StatusRevoked},
		{"429 three times", func(w http.ResponseWriter) { w.Header().Set("Retry-After", "0"); w.WriteHeader(429) }, 3, 0, 3, StatusUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var times []time.Time
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				times = append(times, time.Now())
				n := len(times)
				mu.Unlock()
				if _, ok := authed(w, r); !ok {
					return
				}
				if n <= tc.failures {
					tc.fail(w)
					return
				}
				fmt.Fprint(w, `{"active":false}`)
			}))
			defer srv.Close()
			c := one(t, oauthYAML(srv.URL+"/introspect", "", false), oauthEnv)
			r := checkers(t, 5*time.Second).ByKind[KindOAuth2].Check(context.Background(), c)
			mu.Lock()
			defer mu.Unlock()
			if r.Status != tc.wantState || int32(len(times)) != tc.wantHits {
				t.Fatalf("expected %s after %d requests, got %s after %d: %q", tc.wantState, tc.wantHits, r.Status, len(times), r.Detail)
			}
			// Not a timing assertion on our speed: the server saw the client
			// wait at least as long as it was told to.
			if tc.minGap > 0 && times[1].Sub(times[0]) < tc.minGap-50*time.Millisecond {
				t.Errorf("Retry-After %s not honoured: retried after %s", tc.minGap, times[1].Sub(times[0]))
			}
		})
	}
}

func TestOAuth2RetryAfterBeyondDeadline(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Retry-After", "5")
		w.WriteHeader(429)
	}))
	defer srv.Close()
	c := one(t, oauthYAML(srv.URL+"/introspect", "", false), oauthEnv)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	r := checkers(t, 5*time.Second).ByKind[KindOAuth2].Check(ctx, c)
	if r.Status != StatusUnknown || !strings.Contains(r.Detail, "HTTP 429 (retrying after 5s would pass the deadline)") || hits.Load() != 1 {
		t.Errorf("expected unknown without waiting past the deadline, got %s after %d requests: %q", r.Status, hits.Load(), r.Detail)
	}
}

func TestOAuth2RevokeThenIntrospect(t *testing.T) {
	for _, tc := range []struct {
		name         string
		revokeStatus int
		want         Status
		revoked      bool
		detail       string
	}{
		{"revocation accepted", 200, StatusRevoked, true, "revocation at"},
		{"revocation refused, token stays live", 401, StatusActive, false, "HTTP 401 (expected 200; not revoked by airlock)"},
		{"revocation broken", 500, StatusActive, false, "HTTP 500 after 3 attempts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var live atomic.Bool
			live.Store(true)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				tok, ok := authed(w, r)
				if !ok {
					return
				}
				switch r.URL.Path {
				case "/revoke":
					if tc.revokeStatus != 200 {
						w.WriteHeader(tc.revokeStatus)
						return
					}
					if tok == qaToken {
						live.Store(false)
					}
				case "/introspect":
					if tok == qaToken && live.Load() {
						fmt.Fprint(w, `{"active":true,"sub":"qa-agent","client_id":"qa-client","iss":"https://auth.qa.example"}`)
						return
					}
					fmt.Fprint(w, `{"active":false}`)
				}
			}))
			defer srv.Close()
			c := one(t, oauthYAML(srv.URL+"/introspect", srv.URL+"/revoke", true), oauthEnv)
			r := checkers(t, 5*time.Second).ByKind[KindOAuth2].Check(context.Background(), c)
			if r.Status != tc.want || r.Revoked != tc.revoked || r.RevokeHTTPStatus != tc.revokeStatus || !strings.Contains(r.Detail, tc.detail) {
				t.Errorf("expected %s revoked=%v revoke_http=%d detail~%q, got %s %v %d %q", tc.want, tc.revoked, tc.revokeStatus, tc.detail, r.Status, r.Revoked, r.RevokeHTTPStatus, r.Detail)
			}
			// The identity is learnt before revoking (a dead token introspects to nothing).
			if r.Subject != "qa-agent" || r.ClientID != "qa-client" || r.Issuer != "https://auth.qa.example" {
				t.Errorf("expected the QA identity from the first introspection, got sub=%q client=%q iss=%q", r.Subject, r.ClientID, r.Issuer)
			}
			assertNoSecrets(t, []string{qaToken, clientSecret}, r)
		})
	}
}

func TestOAuth2BearerClientAuth(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer introspector-s3cr3t" {
			w.WriteHeader(401)
			return
		}
		_ = r.ParseForm()
		if r.PostForm.Get("token") != qaToken {
			w.WriteHeader(400)
			return
		}
		fmt.Fprint(w, `{"active":false}`)
	}))
	defer srv.Close()
	y := fmt.Sprintf("- name: b\n  kind: oauth2\n  token-env: QA_TOKEN\n  introspection-url: %s\n  client-auth: bearer\n  bearer-token-env: INTRO\n", srv.URL)
	c := one(t, y, map[string]string{"QA_TOKEN": qaToken, "INTRO": "introspector-s3cr3t"})
	if r := checkers(t, 5*time.Second).ByKind[KindOAuth2].Check(context.Background(), c); r.Status != StatusRevoked {
		t.Errorf("expected revoked with bearer client auth, got %s: %q", r.Status, r.Detail)
	}
}

func TestUnresolvedCredentialIsUnknown(t *testing.T) {
	d, err := ParseCredentials("qa-credentials", []byte(oauthYAML("https://x.example/i", "", false)))
	if err != nil {
		t.Fatal(err)
	}
	r := checkers(t, time.Second).ByKind[KindOAuth2].Check(context.Background(), d.Credentials[0])
	if r.Status != StatusUnknown || !strings.Contains(r.Detail, "not resolved") {
		t.Errorf("expected unknown for an unresolved credential, got %s: %q", r.Status, r.Detail)
	}
}

func TestNewCheckersRejectsUnsafeClients(t *testing.T) {
	if _, err := NewCheckers(Options{}); err == nil {
		t.Error("expected an error without a client")
	}
	if _, err := NewCheckers(Options{Client: &http.Client{}}); err == nil {
		t.Error("expected an error for a client without timeout")
	}
}
