package cli

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/internal/testsvc"
)

// TestBadInputFailsBeforeAnySideEffect: every input of a run is parsed
// before the first request. A run configured for every side effect the gate
// has (the job's token, GitHub's API, probing and revoking a QA token at a
// real Hydra, keyless signing at Fulcio and a TSA, a release upload) and
// one bad input ends in exit 2 naming that input, with no request made to
// any of them, nothing revoked and nothing written. The last case is the
// control: the same run without a bad input reaches all of them.
func TestBadInputFailsBeforeAnySideEffect(t *testing.T) {
	hydra := testsvc.StartHydra(t)
	client := hydra.CreateClient(t)
	token := hydra.Token(t, client)

	type rig struct {
		r       *signedRun
		proxies map[string]*testsvc.FaultProxy
	}
	newRig := func(t *testing.T) rig {
		r := newSignedRun(t)
		g := rig{r: r, proxies: map[string]*testsvc.FaultProxy{}}
		proxy := func(name, upstream string) string {
			p := testsvc.StartFaultProxy(t, upstream)
			g.proxies[name] = p
			return p.URL
		}
		intro := proxy("hydra admin (introspection)", hydra.AdminURL)
		rev := proxy("hydra public (revocation)", hydra.PublicURL)
		r.env["INPUT_FULCIO-URL"] = proxy("fulcio", r.ss.FulcioURL())
		r.env["INPUT_TSA-URL"] = proxy("tsa", strings.TrimSuffix(r.ss.TSAURL(), "/api/v1/timestamp")) + "/api/v1/timestamp"
		r.env["QA_TOKEN"], r.env["QA_CLIENT_ID"], r.env["QA_CLIENT_SECRET"] = token, client.ID, client.Secret
		r.env["INPUT_QA-CREDENTIALS"] = "- name: qa-hydra\n  kind: oauth2\n  token-env: QA_TOKEN\n  introspection-url: " + intro + "/admin/oauth2/introspect" +
			"\n  revocation-url: " + rev + "/oauth2/revoke\n  client-id-env: QA_CLIENT_ID\n  client-secret-env: QA_CLIENT_SECRET\n  revoke: true\n"
		return g
	}
	policyDir := func(r *signedRun, file, body string) string {
		d := filepath.Join(r.dir, "workspace", "pol")
		if err := os.MkdirAll(filepath.Join(d, filepath.Dir(file)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, file), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return "pol"
	}
	set := func(kv ...string) func(*signedRun) {
		return func(r *signedRun) {
			for i := 0; i < len(kv); i += 2 {
				r.env[kv[i]] = kv[i+1]
			}
		}
	}
	tests := []struct {
		name   string
		mutate func(*signedRun)
		says   string
	}{
		{"mistyped signer", set("INPUT_SIGNER", "sigstor"), `input signer: "sigstor"`},
		{"bad decision-ttl", set("INPUT_DECISION-TTL", "soon"), "input decision-ttl"},
		{"subjects without a release", set("INPUT_RELEASE-TAG", ""), "input subjects"},
		{"bad subjects glob", set("INPUT_SUBJECTS", "[.tar.gz"), "input subjects"},
		{"bad transparency-log", set("INPUT_TRANSPARENCY-LOG", "ledger"), "input transparency-log"},
		{"missing trusted-root", set("INPUT_TRUSTED-ROOT", "no-such-root.json"), "input trusted-root"},
		{"tuf-url without tuf-root", set("INPUT_TRUSTED-ROOT", "", "INPUT_TUF-URL", "https://tuf.example.com"), "tuf-root"},
		{"bad attest-deny", set("INPUT_ATTEST-DENY", "yes"), "input attest-deny"},
		{"bad publish-attestation", set("INPUT_PUBLISH-ATTESTATION", "maybe"), "input publish-attestation"},
		{"key signer without its key", set("INPUT_SIGNER", "key"), "AIRLOCK_SIGNING_KEY is empty"},
		{"key signer with a malformed key", set("INPUT_SIGNER", "key", "AIRLOCK_SIGNING_KEY", "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n"), "signing key"},
		{"trusted-root that is not one", func(r *signedRun) {
			if err := os.WriteFile(filepath.Join(r.dir, "bad-root.json"), []byte(`{"mediaType": 7}`), 0o600); err != nil {
				panic(err)
			}
			r.env["INPUT_TRUSTED-ROOT"] = "bad-root.json"
		}, "input trusted-root"},
		{"mint input without mint-token-url", set("INPUT_MINT-GRANT", "jwt-bearer"), "mint-token-url is not"},
		{"mint-token-url over http to another host", set("INPUT_MINT-TOKEN-URL", "http://auth.example.com/oauth2/token", "INPUT_MINT-GRANT", "jwt-bearer"), "mint-token-url"},
		{"bad mode", set("INPUT_MODE", "deploy"), "input mode"},
		{"check: mistyped signer", set("INPUT_MODE", "check", "INPUT_MANIFEST-PATHS", "agent/", "INPUT_SIGNER", "sigstor"), `input signer: "sigstor"`},
		{"check: bad manifest-paths", set("INPUT_MODE", "check", "INPUT_MANIFEST-PATHS", "../agent.yaml"), "manifest-paths[0]"},
		{"bad timeout", set("INPUT_TIMEOUT", "forever"), "input timeout"},
		{"bad min-approvals", set("INPUT_MIN-APPROVALS", "two"), "input min-approvals"},
		{"bad approval-source", set("INPUT_APPROVAL-SOURCE", "email"), "input approval-source"},
		{"unknown key in qa-credentials", func(r *signedRun) {
			r.env["INPUT_QA-CREDENTIALS"] = strings.Replace(r.env["INPUT_QA-CREDENTIALS"], "revoke: true", "revoke: true\n  revokee: true", 1)
		}, "revokee"},
		{"mistyped policy param", func(r *signedRun) {
			r.env["INPUT_POLICY"] = policyDir(r, "params/agent.json", `{"max_credential_ttl_secs": 600}`)
		}, "max_credential_ttl_secs"},
		{"policy syntax error", func(r *signedRun) {
			r.env["INPUT_POLICY"] = policyDir(r, "extra.rego", "package airlock\n\ndeny contains x if {\n")
		}, "extra.rego:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newRig(t)
			tt.mutate(g.r)
			o := g.r.gate()
			if o.code != ExitUsage {
				t.Fatalf("exit %d, want %d (a bad input)\n%s", o.code, ExitUsage, o.stderr)
			}
			if !strings.Contains(o.stderr, tt.says) {
				t.Errorf("the error does not name the input (%q):\n%s", tt.says, o.stderr)
			}
			if n := len(g.r.sim.Requests()); n != 0 {
				t.Errorf("githubsim got %d request(s) before the bad input was refused: %+v", n, g.r.sim.Requests())
			}
			for name, p := range g.proxies {
				if n := p.Requests(); n != 0 {
					t.Errorf("%s got %d request(s) before the bad input was refused", name, n)
				}
			}
			if _, err := os.Stat(filepath.Join(g.r.env["GITHUB_WORKSPACE"], outputDirName)); !os.IsNotExist(err) {
				t.Errorf("the workspace has %s after a bad input (err %v)", outputDirName, err)
			}
			if len(o.outputs) != 0 {
				t.Errorf("outputs written after a bad input: %v", o.outputs)
			}
			g.r.assertNoSecrets(o, token, client.Secret)
		})
	}
	if !hydraActive(t, hydra, token) {
		t.Fatal("the QA token was revoked by a run whose input was refused")
	}
	t.Run("control: the same run without a bad input reaches every service", func(t *testing.T) {
		g := newRig(t)
		o := g.r.gate()
		if o.code != ExitAllow || o.outputs["attested"] != "true" {
			t.Fatalf("exit %d attested %q\n%s", o.code, o.outputs["attested"], o.stderr)
		}
		if len(g.r.sim.Requests()) == 0 {
			t.Error("githubsim got no request")
		}
		for name, p := range g.proxies {
			if p.Requests() == 0 {
				t.Errorf("%s got no request", name)
			}
		}
		if hydraActive(t, hydra, token) {
			t.Error("revoke: true did not revoke the QA token")
		}
		g.r.assertNoSecrets(o, token, client.Secret)
	})
}

// hydraActive asks Hydra's admin API (RFC 7662) whether token is active.
func hydraActive(t *testing.T, h *testsvc.Hydra, token string) bool {
	t.Helper()
	resp, err := http.PostForm(h.IntrospectionURL(), url.Values{"token": {token}})
	if err != nil {
		t.Fatalf("introspect: %v", err)
	}
	defer resp.Body.Close()
	var out struct {
		Active bool `json:"active"`
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("introspect: %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("introspect: %v", err)
	}
	return out.Active
}
