package revocation

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/testsvc"
)

const ghToken = "ghs_16C7e42F292c6912E7710c838347Ae178B4a"

// githubAPI answers like api.github.com: /rate_limit 200 for a live token,
// 401 {"message":"Bad credentials",…} otherwise; DELETE
// /installation/token 204 for a live installation token.
type githubAPI struct {
	mu     sync.Mutex
	live   map[string]bool
	status int // when not 0, every answer has this status and an HTML body
}

func (g *githubAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.status != 0 {
		w.WriteHeader(g.status)
		fmt.Fprint(w, "<html>proxy says no</html>")
		return
	}
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !g.live[tok] {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, `{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest","status":"401","token":%q}`, tok)
		return
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/rate_limit":
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		fmt.Fprint(w, `{"resources":{"core":{"limit":5000,"remaining":4999}}}`)
	case r.Method == http.MethodDelete && r.URL.Path == "/installation/token":
		delete(g.live, tok)
		w.WriteHeader(http.StatusNoContent)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func TestGitHubToken(t *testing.T) {
	for _, tc := range []struct {
		name    string
		live    bool
		revoke  bool
		status  int
		want    Status
		revoked bool
		detail  string
	}{
		{"live token", true, false, 0, StatusActive, false, "HTTP 200 (the token is accepted)"},
		{"dead token", false, false, 0, StatusRevoked, false, "HTTP 401 (bad credentials)"},
		{"revoke then check", true, true, 0, StatusRevoked, true, "DELETE 127.0.0.1"},
		{"401 without GitHub's shape", true, false, 401, StatusUnknown, false, "but not GitHub's error shape"},
		{"403 rate limited", true, false, 403, StatusUnknown, false, "HTTP 403 (expected 401 for a revoked token)"},
		{"502", true, false, 502, StatusUnknown, false, "HTTP 502 after 3 attempts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := &githubAPI{live: map[string]bool{}, status: tc.status}
			if tc.live {
				api.live[ghToken] = true
			}
			srv := httptest.NewServer(api)
			defer srv.Close()
			y := fmt.Sprintf("- name: qa-gh\n  kind: github-token\n  token-env: GH\n  api-url: %s\n  revoke: %v\n", srv.URL, tc.revoke)
			c := one(t, y, map[string]string{"GH": ghToken})
			r := checkers(t, 5*time.Second).ByKind[KindGitHubToken].Check(context.Background(), c)
			t.Logf("%s: %s", r.Status, r.Detail)
			if r.Status != tc.want || r.Revoked != tc.revoked || !strings.Contains(r.Detail, tc.detail) {
				t.Errorf("expected %s revoked=%v detail~%q, got %s %v %q", tc.want, tc.revoked, tc.detail, r.Status, r.Revoked, r.Detail)
			}
			if r.Issuer != srv.URL {
				t.Errorf("expected the API URL as issuer, got %q", r.Issuer)
			}
			assertNoSecrets(t, []string{ghToken}, r)
		})
	}
}

// TestVault runs the vault checker against the Vault token-API simulator
// (a real Vault cannot be built from the module proxy here).
func TestVault(t *testing.T) {
	for _, tc := range []struct {
		name    string
		setup   func(v *testsvc.Vault, tok string)
		revoke  bool
		want    Status
		revoked bool
		detail  string
	}{
		{"live token", nil, false, StatusActive, false, "HTTP 200 (the token is live)"},
		{"revoked by operator", func(v *testsvc.Vault, tok string) { v.RevokeToken(tok) }, false, StatusRevoked, false, "HTTP 403 (permission denied"},
		{"revoke-self then lookup", nil, true, StatusRevoked, true, "revoke-self: HTTP 204, then GET"},
		{"sealed", func(v *testsvc.Vault, _ string) { v.SetSealed(true) }, false, StatusUnknown, false, "HTTP 503 after 3 attempts"},
		{"sealed, revoke", func(v *testsvc.Vault, _ string) { v.SetSealed(true) }, true, StatusUnknown, false, "expected 204; not revoked by airlock"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := testsvc.StartVault(t)
			tok := v.CreateToken(testsvc.VaultToken{DisplayName: "token-qa-agent", EntityID: "ent-qa-1"})
			if tc.setup != nil {
				tc.setup(v, tok)
			}
			y := fmt.Sprintf("- name: qa-vault\n  kind: vault\n  token-env: VT\n  api-url: %s\n  revoke: %v\n", v.URL, tc.revoke)
			c := one(t, y, map[string]string{"VT": tok})
			r := checkers(t, 5*time.Second).ByKind[KindVault].Check(context.Background(), c)
			t.Logf("%s: %s", r.Status, r.Detail)
			if r.Status != tc.want || r.Revoked != tc.revoked || !strings.Contains(r.Detail, tc.detail) {
				t.Errorf("expected %s revoked=%v detail~%q, got %s %v %q", tc.want, tc.revoked, tc.detail, r.Status, r.Revoked, r.Detail)
			}
			if tc.want == StatusActive && r.Subject != "ent-qa-1" {
				t.Errorf("expected the entity id as subject, got %q", r.Subject)
			}
			// lookup-self echoes the token (data.id): it must not be copied.
			assertNoSecrets(t, []string{tok}, r)
		})
	}
}

func TestVault403WithoutVaultShapeIsUnknown(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, "<html>WAF</html>")
	}))
	defer srv.Close()
	c := one(t, fmt.Sprintf("- name: v\n  kind: vault\n  token-env: VT\n  api-url: %s\n", srv.URL), map[string]string{"VT": "hvs.x"})
	r := checkers(t, time.Second).ByKind[KindVault].Check(context.Background(), c)
	if r.Status != StatusUnknown || !strings.Contains(r.Detail, "not Vault's error shape") {
		t.Errorf("expected unknown, got %s: %q", r.Status, r.Detail)
	}
}
