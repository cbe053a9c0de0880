package cli

import (
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/internal/githubsim"
	"github.com/airlock-dev/airlock/internal/testsvc"
)

const qaGitHubToken = "ghs_QAtokenThatMustNeverLeak0123456789"

// withQAGitHubToken declares one QA credential: a GitHub token the simulator
// knows (alive) until revoke() is called.
func (r *gateRun) withQAGitHubToken() (revoke func()) {
	r.sim.AddToken(qaGitHubToken, "contents:read")
	r.env["QA_GITHUB_TOKEN"] = qaGitHubToken
	r.env["INPUT_QA-CREDENTIALS"] = "- name: qa-deploy-token\n  kind: github-token\n  token-env: QA_GITHUB_TOKEN\n  api-url: " + r.sim.APIURL() + "\n" +
		// GitHub does not say whose a revoked token was: C3 needs it declared.
		"  declared-subject: qa-deploy-bot\n"
	return func() { r.sim.RemoveToken(qaGitHubToken) }
}

func TestGateQACredentials(t *testing.T) {
	t.Run("live QA token denies", func(t *testing.T) {
		r := newRun(t)
		r.withQAGitHubToken()
		o := r.gate()
		if o.code != ExitDeny || !strings.Contains(o.outputs["reasons"], `QA credential \"qa-deploy-token\" (github-token) is still active`) {
			t.Fatalf("exit %d reasons %s\n%s", o.code, o.outputs["reasons"], o.stderr)
		}
		r.assertNoSecrets(o, qaGitHubToken)
	})
	t.Run("revoked QA token allows", func(t *testing.T) {
		r := newRun(t)
		r.withQAGitHubToken()()
		o := r.gate()
		if o.code != ExitAllow {
			t.Fatalf("exit %d reasons %s\n%s", o.code, o.outputs["reasons"], o.stderr)
		}
		creds := o.evidence["revocation"].(map[string]any)["credentials"].([]any)
		if c := creds[0].(map[string]any); c["status"] != "revoked" || c["name"] != "qa-deploy-token" {
			t.Fatalf("revocation evidence %v", c)
		}
		r.assertNoSecrets(o, qaGitHubToken)
	})
	t.Run("issuer down is unknown, and unknown denies", func(t *testing.T) {
		r := newRun(t)
		r.withQAGitHubToken()
		r.sim.InjectFault("GET /rate_limit", githubsimFault500())
		o := r.gate()
		if o.code != ExitDeny || !strings.Contains(o.outputs["reasons"], "unknown is not revoked") {
			t.Fatalf("exit %d reasons %s\n%s", o.code, o.outputs["reasons"], o.stderr)
		}
		r.assertNoSecrets(o, qaGitHubToken)
	})
	t.Run("undeclared QA credentials deny", func(t *testing.T) {
		r := newRun(t)
		delete(r.env, "INPUT_QA-CREDENTIALS")
		o := r.gate()
		if o.code != ExitDeny || !strings.Contains(o.outputs["reasons"], "no revocation evidence") {
			t.Fatalf("exit %d reasons %s", o.code, o.outputs["reasons"])
		}
	})
	t.Run("no production identity denies", func(t *testing.T) {
		r := newRun(t)
		delete(r.env, "INPUT_PRODUCTION-IDENTITY")
		o := r.gate()
		if o.code != ExitDeny || !strings.Contains(o.outputs["reasons"], "no production-identity was given") {
			t.Fatalf("exit %d reasons %s", o.code, o.outputs["reasons"])
		}
	})
	t.Run("manifest identity stands in for production-identity", func(t *testing.T) {
		r := newRun(t)
		delete(r.env, "INPUT_PRODUCTION-IDENTITY")
		r.withManifests("same")
		r.allowScopes()
		r.withQAGitHubToken()()
		o := r.gate()
		if o.code != ExitAllow {
			t.Fatalf("exit %d reasons %s", o.code, o.outputs["reasons"])
		}
	})
}

func TestGateQACredentialsBadInput(t *testing.T) {
	for name, tt := range map[string]struct{ input, msg string }{
		"unknown kind":     {"- name: x\n  kind: oath2\n  token-env: T\n", `qa-credentials[0].kind: unknown kind "oath2"`},
		"missing variable": {"- name: x\n  kind: github-token\n  token-env: NOT_SET\n  api-url: https://api.github.com\n", "NOT_SET"},
		"missing file":     {"creds/qa.yaml", "input qa-credentials"},
		"unknown field":    {"- name: x\n  kind: github-token\n  token: ghs_inline\n", "token"},
	} {
		t.Run(name, func(t *testing.T) {
			r := newRun(t)
			r.env["INPUT_QA-CREDENTIALS"] = tt.input
			o := r.gate()
			if o.code != ExitUsage || !strings.Contains(o.stderr, tt.msg) {
				t.Fatalf("exit %d, stderr lacks %q:\n%s", o.code, tt.msg, o.stderr)
			}
		})
	}
}

func githubsimFault500() githubsim.Fault { return githubsim.Fault{Status: 500} }

// TestGateHydra runs the gate with a QA OAuth2 token issued by a real Ory
// Hydra: alive → deny (exit 1); with revoke: true the gate revokes it (RFC
// 7009), introspection then says inactive (RFC 7662) → allow.
func TestGateHydra(t *testing.T) {
	h := testsvc.StartHydra(t)
	client := h.CreateClient(t)
	cred := func(revoke bool) string {
		s := "- name: qa-hydra\n  kind: oauth2\n  token-env: QA_TOKEN\n  introspection-url: " + h.IntrospectionURL() +
			"\n  revocation-url: " + h.RevocationURL() + "\n  client-id-env: QA_CLIENT_ID\n  client-secret-env: QA_CLIENT_SECRET\n"
		if revoke {
			s += "  revoke: true\n"
		}
		return s
	}
	for _, tt := range []struct {
		name   string
		revoke bool
		code   int
		want   string
	}{
		{"live token denies", false, ExitDeny, `QA credential \"qa-hydra\" (oauth2) is still active`},
		{"revoke then verify allows", true, ExitAllow, "[]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			token := h.Token(t, client)
			r := newRun(t)
			r.env["QA_TOKEN"], r.env["QA_CLIENT_ID"], r.env["QA_CLIENT_SECRET"] = token, client.ID, client.Secret
			r.env["INPUT_QA-CREDENTIALS"] = cred(tt.revoke)
			o := r.gate()
			if o.code != tt.code || !strings.Contains(o.outputs["reasons"], tt.want) {
				t.Fatalf("exit %d reasons %s\n%s", o.code, o.outputs["reasons"], o.stderr)
			}
			c := o.evidence["revocation"].(map[string]any)["credentials"].([]any)[0].(map[string]any)
			if tt.revoke && (c["revoked_by_airlock"] != true || c["status"] != "revoked") {
				t.Errorf("evidence %v", c)
			}
			r.assertNoSecrets(o, token, client.Secret)
		})
	}
}
