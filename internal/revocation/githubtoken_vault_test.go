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
// (a real Vault cannot be built from the module proxy here). Only Vault's
// "invalid token", or "invalid accessor" to an operator's lookup by
// accessor, proves a token revoked: a bare 403 "permission denied" is also
// what a live token whose policy lacks lookup-self gets.
func TestVault(t *testing.T) {
	type world struct {
		v             *testsvc.Vault
		tok, operator string
	}
	revoke := func(w world) { w.v.RevokeToken(w.tok) }
	legacy := func(w world) { w.v.SetLegacyErrors(true) }
	both := func(fs ...func(world)) func(world) {
		return func(w world) {
			for _, f := range fs {
				f(w)
			}
		}
	}
	for _, tc := range []struct {
		name string
		info testsvc.VaultToken // the QA token's
		// operator: the entry names the accessor and an operator token;
		// opCannot: whose policy lacks lookup-accessor.
		operator, opCannot bool
		setup              func(world)
		revoke             bool
		want               Status
		revoked            bool
		detail             string
		subject            string
	}{
		{name: "live token", want: StatusActive, detail: "HTTP 200 (the token is live)", subject: "ent-qa-1"},
		{name: "revoked by operator: invalid token", setup: revoke, want: StatusRevoked, detail: "HTTP 403 (invalid token: Vault says the token is not valid)"},
		{name: "revoke-self then lookup", revoke: true, want: StatusRevoked, revoked: true,
			detail: "lookup-self: HTTP 200 before revoking, then POST", subject: "ent-qa-1"},
		{name: "legacy 403 is unknown", setup: both(revoke, legacy), want: StatusUnknown,
			detail: `permission denied, without "invalid token"`},
		{name: "live token without lookup-self is unknown, not revoked", info: testsvc.VaultToken{NoLookupSelf: true}, want: StatusUnknown,
			detail: "unknown: name the token's accessor and an operator token"},
		{name: "legacy 403, accessor invalid: revoked", operator: true, setup: both(revoke, legacy), want: StatusRevoked,
			detail: "lookup-accessor (operator token): HTTP 400 (invalid accessor: the token is not valid)"},
		{name: "no lookup-self, accessor live: active", info: testsvc.VaultToken{NoLookupSelf: true, EntityID: "ent-qa-1"}, operator: true, want: StatusActive,
			detail: "HTTP 200 (the accessor's token is live)", subject: "ent-qa-1"},
		{name: "operator may not look up accessors", operator: true, opCannot: true, setup: both(revoke, legacy), want: StatusUnknown,
			detail: "lookup-accessor (operator token): HTTP 403 (the operator token may not read lookup-accessor"},
		{name: "revoke-self, legacy, accessor invalid", operator: true, setup: legacy, revoke: true, want: StatusRevoked, revoked: true,
			detail: "invalid accessor", subject: "ent-qa-1"},
		{name: "sealed", setup: func(w world) { w.v.SetSealed(true) }, want: StatusUnknown, detail: "HTTP 503 after 3 attempts"},
		{name: "sealed, revoke", setup: func(w world) { w.v.SetSealed(true) }, revoke: true, want: StatusUnknown, detail: "expected 204; not revoked by airlock"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := testsvc.StartVault(t)
			info := tc.info
			info.DisplayName = "token-qa-agent"
			if info.EntityID == "" {
				info.EntityID = "ent-qa-1"
			}
			w := world{v: v, tok: v.CreateToken(info), operator: v.CreateToken(testsvc.VaultToken{DisplayName: "operator", LookupAccessor: !tc.opCannot})}
			accessor := v.Accessor(w.tok)
			if tc.setup != nil {
				tc.setup(w)
			}
			y := fmt.Sprintf("- name: qa-vault\n  kind: vault\n  token-env: VT\n  api-url: %s\n  revoke: %v\n", v.URL, tc.revoke)
			if tc.operator {
				y += "  accessor: " + accessor + "\n  operator-token-env: VAULT_OPERATOR\n"
			}
			c := one(t, y, map[string]string{"VT": w.tok, "VAULT_OPERATOR": w.operator})
			r := checkers(t, 5*time.Second).ByKind[KindVault].Check(context.Background(), c)
			t.Logf("%s: %s", r.Status, r.Detail)
			if r.Status != tc.want || r.Revoked != tc.revoked || !strings.Contains(r.Detail, tc.detail) {
				t.Errorf("expected %s revoked=%v detail~%q, got %s %v %q", tc.want, tc.revoked, tc.detail, r.Status, r.Revoked, r.Detail)
			}
			if r.Subject != tc.subject {
				t.Errorf("expected subject %q, got %q", tc.subject, r.Subject)
			}
			if n := v.Calls("/v1/auth/token/lookup-accessor"); (n > 0) != tc.operator {
				t.Errorf("lookup-accessor asked %d time(s)", n)
			}
			// lookup-self echoes the token (data.id): it must not be copied;
			// nor may the operator token show anywhere.
			assertNoSecrets(t, []string{w.tok, w.operator}, r)
		})
	}
}

// TestVaultAccessorOfAnotherToken: with revoke: true airlock learns the
// token's own accessor before revoking it; an entry naming another
// (revoked) token's accessor is not taken as proof.
func TestVaultAccessorOfAnotherToken(t *testing.T) {
	v := testsvc.StartVault(t)
	v.SetLegacyErrors(true)
	tok := v.CreateToken(testsvc.VaultToken{EntityID: "ent-qa"})
	old := v.CreateToken(testsvc.VaultToken{})
	oldAccessor := v.Accessor(old)
	v.RevokeToken(old)
	op := v.CreateToken(testsvc.VaultToken{LookupAccessor: true})
	y := fmt.Sprintf("- name: qa-vault\n  kind: vault\n  token-env: VT\n  api-url: %s\n  revoke: true\n  accessor: %s\n  operator-token-env: OP\n", v.URL, oldAccessor)
	c := one(t, y, map[string]string{"VT": tok, "OP": op})
	r := checkers(t, 5*time.Second).ByKind[KindVault].Check(context.Background(), c)
	if r.Status != StatusUnknown || !strings.Contains(r.Detail, "(its accessor is not the entry's accessor)") || !strings.Contains(r.Detail, "lookup-accessor was not asked") {
		t.Errorf("expected unknown naming the accessor mismatch, got %s: %q", r.Status, r.Detail)
	}
	if n := v.Calls("/v1/auth/token/lookup-accessor"); n != 0 {
		t.Errorf("lookup-accessor asked %d time(s)", n)
	}
}

// TestVaultErrorWordsMustBeVaults: only Vault's exact messages count.
func TestVaultErrorWordsMustBeVaults(t *testing.T) {
	for _, body := range []string{`{"errors":["not an invalid token, just denied"]}`, `{"errors":"invalid token"}`, `{"message":"invalid token"}`} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, body)
		}))
		c := one(t, fmt.Sprintf("- name: v\n  kind: vault\n  token-env: VT\n  api-url: %s\n", srv.URL), map[string]string{"VT": "hvs.x"})
		r := checkers(t, time.Second).ByKind[KindVault].Check(context.Background(), c)
		srv.Close()
		if r.Status != StatusUnknown {
			t.Errorf("%s: expected unknown, got %s: %q", body, r.Status, r.Detail)
		}
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
