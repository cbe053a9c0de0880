package identity_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/identity"
)

// requestToken stands in for ACTIONS_ID_TOKEN_REQUEST_TOKEN; it must never
// appear in an error.
const requestToken = "ghs_requestTokenSecret0123456789abcdef"

// tokenEndpoint behaves like the Actions runtime's idtoken endpoint: bearer
// required, audience from the query, {"count":…, "value":…}.
func tokenEndpoint(t *testing.T, value string, handler func(w http.ResponseWriter, r *http.Request) bool) (*httptest.Server, *atomic.Int32) {
	srv, hits, _ := tokenEndpointAud(t, value, handler)
	return srv, hits
}

// tokenEndpointAud also reports the audience of the last good request.
func tokenEndpointAud(t *testing.T, value string, handler func(w http.ResponseWriter, r *http.Request) bool) (*httptest.Server, *atomic.Int32, *atomic.Value) {
	t.Helper()
	var hits atomic.Int32
	var aud atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if handler != nil && handler(w, r) {
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+requestToken {
			// Echo the credential back, as a careless server might: the
			// client must not put response bodies in errors.
			http.Error(w, "bad credentials: "+r.Header.Get("Authorization"), http.StatusUnauthorized)
			return
		}
		if r.URL.Query().Get("api-version") != "2.0" {
			http.Error(w, "api-version lost", http.StatusBadRequest)
			return
		}
		aud.Store(r.URL.Query().Get("audience"))
		_ = json.NewEncoder(w).Encode(map[string]any{"count": 2000, "value": value})
	}))
	t.Cleanup(srv.Close)
	return srv, &hits, &aud
}

func TestFetch(t *testing.T) {
	const jwt = "aaa.bbb.ccc"
	srv, _, seenAud := tokenEndpointAud(t, jwt, nil)
	hc := &http.Client{Timeout: 2 * time.Second}
	for _, aud := range []string{"sigstore", "https://github.com/octo-org", "a b&c=d#e"} {
		got, err := identity.Fetch(context.Background(), hc, srv.URL+"/idtoken?api-version=2.0", requestToken, aud)
		if err != nil {
			t.Fatalf("Fetch(%q): %v", aud, err)
		}
		if got != jwt {
			t.Errorf("Fetch(%q) = %q, want %q", aud, got, jwt)
		}
		if s := seenAud.Load(); s != aud {
			t.Errorf("server saw audience %q, want %q", s, aud)
		}
	}
}

func TestFetchURLForms(t *testing.T) {
	var seen atomic.Value
	srv, _ := tokenEndpoint(t, "x.y.z", func(w http.ResponseWriter, r *http.Request) bool {
		seen.Store(r.URL.RawQuery)
		_ = json.NewEncoder(w).Encode(map[string]string{"value": "x.y.z"})
		return true
	})
	hc := &http.Client{Timeout: 2 * time.Second}
	tests := []struct{ url, query string }{
		{srv.URL + "/idtoken?api-version=2.0", "api-version=2.0&audience=sig+store"},
		{srv.URL + "/idtoken", "audience=sig+store"},
		{srv.URL + "/idtoken?", "audience=sig+store"},
		{srv.URL + "/idtoken?api-version=2.0&", "api-version=2.0&audience=sig+store"},
	}
	for _, tt := range tests {
		if _, err := identity.Fetch(context.Background(), hc, tt.url, requestToken, "sig store"); err != nil {
			t.Fatalf("Fetch(%q): %v", tt.url, err)
		}
		if got := seen.Load(); got != tt.query {
			t.Errorf("Fetch(%q): query %q, want %q", tt.url, got, tt.query)
		}
	}
}

func TestFetchFailures(t *testing.T) {
	const jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzZWNyZXQtdG9rZW4tcGF5bG9hZCJ9.c2lnbmF0dXJlLXNlY3JldA"
	tests := []struct {
		name      string
		handler   func(w http.ResponseWriter, r *http.Request) bool
		reqToken  string
		wantHits  int32
		wantInErr string
	}{
		{name: "401 echoing the bearer", reqToken: "ghs_wrong-" + requestToken, wantHits: 1, wantInErr: "unexpected status 401"},
		// 500 is transient like 502-504 (the one retry rule, httpx).
		{name: "500 retried three times", handler: func(w http.ResponseWriter, r *http.Request) bool {
			http.Error(w, "oops "+r.Header.Get("Authorization"), 500)
			return true
		}, wantHits: 3, wantInErr: "unexpected status 500"},
		{name: "503 retried three times", handler: func(w http.ResponseWriter, r *http.Request) bool {
			http.Error(w, "busy", 503)
			return true
		}, wantHits: 3, wantInErr: "unexpected status 503"},
		{name: "timeout", handler: func(w http.ResponseWriter, r *http.Request) bool {
			<-r.Context().Done()
			return true
		}, wantHits: 3, wantInErr: "Client.Timeout"}, // a GET that got no answer is retried
		{name: "garbage body", handler: func(w http.ResponseWriter, r *http.Request) bool {
			_, _ = w.Write([]byte(r.Header.Get("Authorization") + " not json"))
			return true
		}, wantHits: 1, wantInErr: "malformed response"},
		{name: "value of wrong type", handler: func(w http.ResponseWriter, r *http.Request) bool {
			_, _ = w.Write([]byte(`{"value": 12}`))
			return true
		}, wantHits: 1, wantInErr: "malformed response"},
		{name: "no value", handler: func(w http.ResponseWriter, r *http.Request) bool {
			_, _ = w.Write([]byte(`{"count": 0}`))
			return true
		}, wantHits: 1, wantInErr: "response has no value"},
		{name: "value not a jwt", handler: func(w http.ResponseWriter, r *http.Request) bool {
			_ = json.NewEncoder(w).Encode(map[string]string{"value": r.Header.Get("Authorization")})
			return true
		}, wantHits: 1, wantInErr: "value is not a compact JWT"},
		{name: "body over 1 MiB", handler: func(w http.ResponseWriter, r *http.Request) bool {
			_, _ = w.Write([]byte(`{"value":"` + jwt + strings.Repeat(" ", 1<<20) + `"}`))
			return true
		}, wantHits: 1, wantInErr: "exceeds 1048576 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, hits := tokenEndpoint(t, jwt, tt.handler)
			reqToken := requestToken
			if tt.reqToken != "" {
				reqToken = tt.reqToken
			}
			hc := testClient(tt.name)
			got, err := identity.Fetch(context.Background(), hc, srv.URL+"/idtoken?api-version=2.0", reqToken, "sigstore")
			if err == nil || got != "" {
				t.Fatalf("Fetch = %q, %v: want an error", got, err)
			}
			if k := fault.KindOf(err); k != fault.KindOperational {
				t.Errorf("kind = %v, want operational: %v", k, err)
			}
			if !strings.Contains(err.Error(), tt.wantInErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantInErr)
			}
			for _, secret := range []string{requestToken, reqToken, jwt, "secret"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error leaks %q: %q", secret, err)
				}
			}
			if h := hits.Load(); h != tt.wantHits {
				t.Errorf("requests = %d, want %d", h, tt.wantHits)
			}
		})
	}
}

func TestFetchRetryAfterHonoured(t *testing.T) {
	var n atomic.Int32
	srv, hits := tokenEndpoint(t, "a.b.c", func(w http.ResponseWriter, r *http.Request) bool {
		if n.Add(1) == 1 {
			w.Header().Set("Retry-After", "0")
			http.Error(w, "slow down", http.StatusTooManyRequests)
			return true
		}
		return false
	})
	got, err := identity.Fetch(context.Background(), &http.Client{Timeout: 2 * time.Second}, srv.URL+"/?api-version=2.0", requestToken, "sigstore")
	if err != nil {
		t.Fatal(err)
	}
	if got != "a.b.c" || hits.Load() != 2 {
		t.Errorf("got %q after %d requests", got, hits.Load())
	}
}

func TestFetchBadInput(t *testing.T) {
	hc := &http.Client{Timeout: time.Second}
	tests := []struct {
		name               string
		hc                 *http.Client
		url, reqToken, aud string
	}{
		{"no client", nil, "https://x/?a=1", requestToken, "a"},
		{"no url", hc, "", requestToken, "a"},
		{"no request token", hc, "https://x/?a=1", "", "a"},
		{"no audience", hc, "https://x/?a=1", requestToken, ""},
		{"plain http off loopback", hc, "http://pipelines.example.com/idtoken?api-version=2.0", requestToken, "a"},
		{"not a url", hc, "::", requestToken, "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := identity.Fetch(context.Background(), tt.hc, tt.url, tt.reqToken, tt.aud)
			if k := fault.KindOf(err); k != fault.KindUsage {
				t.Fatalf("kind = %v, want usage: %v", k, err)
			}
			if strings.Contains(err.Error(), requestToken) {
				t.Errorf("error leaks the request token: %q", err)
			}
		})
	}
}

func TestFetchRefusesRedirectDowngrade(t *testing.T) {
	srv, _ := tokenEndpoint(t, "a.b.c", func(w http.ResponseWriter, r *http.Request) bool {
		http.Redirect(w, r, "http://pipelines.example.com/steal", http.StatusFound)
		return true
	})
	_, err := identity.Fetch(context.Background(), &http.Client{Timeout: time.Second}, srv.URL+"/?api-version=2.0", requestToken, "sigstore")
	if k := fault.KindOf(err); k != fault.KindOperational || !strings.Contains(err.Error(), "refusing the redirect from http://127.0.0.1") || !strings.Contains(err.Error(), "to http://pipelines.example.com/steal") {
		t.Fatalf("kind %v, err %v: want the redirect refused", k, err)
	}
}
