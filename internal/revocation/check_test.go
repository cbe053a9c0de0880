package revocation

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/testsvc"
)

func TestCheckAllMixedKindsInOrder(t *testing.T) {
	vault := testsvc.StartVault(t)
	liveVault := vault.CreateToken(testsvc.VaultToken{EntityID: "ent-qa"})
	deadVault := vault.CreateToken(testsvc.VaultToken{})
	vault.RevokeToken(deadVault)
	gh := httptest.NewServer(&githubAPI{live: map[string]bool{}})
	defer gh.Close()
	intro := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := authed(w, r); ok {
			fmt.Fprint(w, `{"active":false}`)
		}
	}))
	defer intro.Close()
	hang, release := hangingServer()
	defer hang.Close()
	defer close(release)

	y := oauthYAML(intro.URL, "", false) +
		fmt.Sprintf("- name: vault-live\n  kind: vault\n  token-env: V1\n  api-url: %s\n", vault.URL) +
		fmt.Sprintf("- name: vault-dead\n  kind: vault\n  token-env: V2\n  api-url: %s\n", vault.URL) +
		fmt.Sprintf("- name: gh-dead\n  kind: github-token\n  token-env: GH\n  api-url: %s\n", gh.URL) +
		fmt.Sprintf("- name: hangs\n  kind: oauth2\n  token-env: QA_TOKEN\n  introspection-url: %s\n", hang.URL) +
		"- name: jwt-junk\n  kind: jwt\n  token-env: J\n"
	env := map[string]string{"V1": liveVault, "V2": deadVault, "GH": ghToken, "J": "not-a-jwt"}
	for k, v := range oauthEnv {
		env[k] = v
	}
	d := resolve(t, y, env)
	cs := checkers(t, 10*time.Second)
	// The deadline ends the hanging probe; the others answer over loopback
	// long before it, even on a loaded 2-core CI machine under -race.
	rep := CheckAll(context.Background(), d, nil, cs, time.Now().Add(2*time.Second))

	want := []struct {
		name   string
		status Status
	}{
		{"qa-oauth", StatusRevoked}, {"vault-live", StatusActive}, {"vault-dead", StatusRevoked},
		{"gh-dead", StatusRevoked}, {"hangs", StatusUnknown}, {"jwt-junk", StatusUnknown},
	}
	if len(rep.Credentials) != len(want) {
		t.Fatalf("expected %d results, got %d", len(want), len(rep.Credentials))
	}
	for i, w := range want {
		r := rep.Credentials[i]
		if r.Name != w.name || r.Status != w.status {
			t.Errorf("[%d]: expected %s=%s, got %s=%s (%s)", i, w.name, w.status, r.Name, r.Status, r.Detail)
		}
	}
	if d := rep.Credentials[4].Detail; !strings.Contains(d, "deadline") {
		t.Errorf("expected the hanging probe to end at the deadline, got %q", d)
	}
	if rep.Declared != DeclaredList {
		t.Errorf("expected declared list, got %q", rep.Declared)
	}
	secrets := []string{qaToken, clientSecret, liveVault, deadVault, ghToken, "not-a-jwt"}
	assertNoSecrets(t, secrets, rep)
}

// stubChecker misbehaves in the ways CheckAll must contain.
type stubChecker func(ctx context.Context, c Credential) Result

func (f stubChecker) Check(ctx context.Context, c Credential) Result { return f(ctx, c) }

var _ Checker = stubChecker(nil)

func TestCheckAllContainsMisbehavingCheckers(t *testing.T) {
	y := "- name: a\n  kind: oauth2\n  token-env: T\n  introspection-url: https://a.example/i\n" +
		"- name: b\n  kind: vault\n  token-env: T\n  api-url: https://v.example\n" +
		"- name: c\n  kind: github-token\n  token-env: T\n" +
		"- name: d\n  kind: jwt\n  token-env: T\n"
	d := resolve(t, y, map[string]string{"T": "tok-s3cr3t-value"})
	block := make(chan struct{})
	defer close(block)
	cs := Checkers{Now: func() time.Time { return jwtNow }, ByKind: map[Kind]Checker{
		KindOAuth2: stubChecker(func(context.Context, Credential) Result { panic("boom") }),
		KindVault: stubChecker(func(_ context.Context, c Credential) Result {
			return Result{Name: "renamed", Status: "revoked-ish", Detail: "echo " + c.sec.token.reveal()}
		}),
		KindGitHubToken: stubChecker(func(context.Context, Credential) Result { <-block; return Result{Status: StatusRevoked} }),
		// KindJWT: no checker
	}}
	rep := CheckAll(context.Background(), d, nil, cs, time.Now().Add(200*time.Millisecond))
	for i, w := range []struct{ name, detail string }{
		{"a", "the checker failed unexpectedly"},
		{"b", `the checker returned status "revoked-ish"`},
		{"c", "no answer before the overall deadline"},
		{"d", `no checker for kind "jwt"`},
	} {
		r := rep.Credentials[i]
		if r.Name != w.name || r.Status != StatusUnknown || !strings.Contains(r.Detail, w.detail) || r.CheckedAt.IsZero() {
			t.Errorf("[%d]: expected %s unknown %q, got %+v", i, w.name, w.detail, r)
		}
	}
	assertNoSecrets(t, []string{"tok-s3cr3t-value"}, rep)
}

func TestCheckAllScrubsSecretsFromDetail(t *testing.T) {
	d := resolve(t, "- name: a\n  kind: vault\n  token-env: T\n  api-url: https://v.example\n", map[string]string{"T": "tok-s3cr3t-value"})
	cs := Checkers{ByKind: map[Kind]Checker{KindVault: stubChecker(func(_ context.Context, c Credential) Result {
		return Result{Status: StatusActive, Detail: "server said tok-s3cr3t-value is fine", Subject: "tok-s3cr3t-value"}
	})}}
	rep := CheckAll(context.Background(), d, nil, cs, time.Now().Add(time.Second))
	if r := rep.Credentials[0]; r.Detail != "server said [redacted] is fine" || r.Subject != "[redacted]" {
		t.Errorf("expected the secret scrubbed, got %+v", r)
	}
}

func TestCheckAllDeclaredNoneAndEmpty(t *testing.T) {
	rep := CheckAll(context.Background(), Declaration{None: true}, nil, Checkers{}, time.Now().Add(time.Second))
	b, _ := json.Marshal(rep)
	want := `{"declared":"none","credentials":[],"production_identity":null,"identity_reuse":false,"identity_reuse_with":[],"shared_issuer":false,"shared_issuer_with":[],"identity_unknown_for":[],"identity_declared_for":[]}`
	if string(b) != want {
		t.Errorf("expected\n%s\ngot\n%s", want, b)
	}
	rep = CheckAll(context.Background(), Declaration{Credentials: []Credential{}}, nil, Checkers{}, time.Now().Add(time.Second))
	if rep.Declared != DeclaredList || rep.Credentials == nil || len(rep.Credentials) != 0 {
		t.Errorf("expected an empty list declared as list, got %+v", rep)
	}
}

func TestCompareIdentity(t *testing.T) {
	qa := []Result{
		{Name: "hydra", Subject: "qa-client", ClientID: "qa-client", Issuer: "https://auth.example.com/"},
		{Name: "vault", Subject: "ent-1", Issuer: "https://vault.qa.example"},
		{Name: "dead-opaque"},
	}
	for _, tc := range []struct {
		name       string
		prod       *ProductionIdentity
		reuse      []string
		shared     []string
		unknownFor []string
	}{
		{"no production identity", nil, []string{}, []string{}, []string{"dead-opaque"}},
		{"separate", &ProductionIdentity{Issuer: "https://auth.prod.example", ClientID: "prod-client", Subject: "prod"}, []string{}, []string{}, []string{"dead-opaque"}},
		{"client id reused", &ProductionIdentity{ClientID: "qa-client"}, []string{"hydra.subject=production.client_id", "hydra.client_id=production.client_id"}, []string{}, []string{"dead-opaque"}},
		{"subject reused as spiffe id", &ProductionIdentity{SPIFFEID: "ent-1"}, []string{"vault.subject=production.spiffe_id"}, []string{}, []string{"dead-opaque"}},
		{"shared issuer, slash and case", &ProductionIdentity{Issuer: "HTTPS://Auth.Example.com", Subject: "prod"}, []string{}, []string{"hydra"}, []string{"dead-opaque"}},
		{"issuer path differs", &ProductionIdentity{Issuer: "https://auth.example.com/prod", Subject: "prod"}, []string{}, []string{}, []string{"dead-opaque"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := Report{Credentials: qa, ProductionIdentity: tc.prod, IdentityReuseWith: []string{}, SharedIssuerWith: []string{}, IdentityUnknownFor: []string{}}
			rep.compareIdentity()
			if !reflect.DeepEqual(rep.IdentityReuseWith, tc.reuse) || rep.IdentityReuse != (len(tc.reuse) > 0) {
				t.Errorf("reuse: expected %v, got %v (%v)", tc.reuse, rep.IdentityReuseWith, rep.IdentityReuse)
			}
			if !reflect.DeepEqual(rep.SharedIssuerWith, tc.shared) || rep.SharedIssuer != (len(tc.shared) > 0) {
				t.Errorf("shared issuer: expected %v, got %v (%v)", tc.shared, rep.SharedIssuerWith, rep.SharedIssuer)
			}
			if !reflect.DeepEqual(rep.IdentityUnknownFor, tc.unknownFor) {
				t.Errorf("unknown for: expected %v, got %v", tc.unknownFor, rep.IdentityUnknownFor)
			}
		})
	}
}

// TestCheckAllDeclaredIdentity: an issuer that does not say whose a dead
// token was leaves C3 unknown, unless the entry declares it; the declared
// identity is compared with production and recorded as declared. What an
// issuer said is never replaced by a declaration.
func TestCheckAllDeclaredIdentity(t *testing.T) {
	vault := testsvc.StartVault(t)
	live := vault.CreateToken(testsvc.VaultToken{EntityID: "ent-qa"})
	dead1 := vault.CreateToken(testsvc.VaultToken{})
	dead2 := vault.CreateToken(testsvc.VaultToken{})
	vault.RevokeToken(dead1)
	vault.RevokeToken(dead2)
	entry := func(name, env, extra string) string {
		return fmt.Sprintf("- name: %s\n  kind: vault\n  token-env: %s\n  api-url: %s\n%s", name, env, vault.URL, extra)
	}
	y := entry("undeclared", "V1", "") +
		entry("declared", "V2", "  declared-subject: agent-qa\n  declared-client-id: qa-client\n") +
		entry("issuer-said", "V3", "  declared-subject: something-else\n")
	d := resolve(t, y, map[string]string{"V1": dead1, "V2": dead2, "V3": live})
	prod := &ProductionIdentity{Subject: "agent-prod", ClientID: "qa-client"}
	rep := CheckAll(context.Background(), d, prod, checkers(t, 5*time.Second), time.Now().Add(5*time.Second))

	if !reflect.DeepEqual(rep.IdentityUnknownFor, []string{"undeclared"}) || !reflect.DeepEqual(rep.IdentityDeclaredFor, []string{"declared"}) {
		t.Errorf("unknown for %v, declared for %v", rep.IdentityUnknownFor, rep.IdentityDeclaredFor)
	}
	src := map[string]string{}
	for _, r := range rep.Credentials {
		src[r.Name] = r.IdentitySource + ":" + r.Subject + "/" + r.ClientID
	}
	want := map[string]string{"undeclared": ":/", "declared": "declared:agent-qa/qa-client", "issuer-said": "issuer:ent-qa/"}
	if !reflect.DeepEqual(src, want) {
		t.Errorf("identities: expected %v, got %v", want, src)
	}
	if !rep.IdentityReuse || !reflect.DeepEqual(rep.IdentityReuseWith, []string{"declared.client_id=production.client_id"}) {
		t.Errorf("a declared identity must be compared: reuse=%v with %v", rep.IdentityReuse, rep.IdentityReuseWith)
	}
	b, _ := json.Marshal(rep)
	if !strings.Contains(string(b), `"identity_source":"declared"`) || !strings.Contains(string(b), `"identity_declared_for":["declared"]`) {
		t.Errorf("evidence does not record the declaration: %s", b)
	}
}
