package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeDir writes files (slash paths) under a new directory.
func writeDir(t *testing.T, dir string, files map[string]string) string {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestPolicyStrictness: every configuration mistake airlock would otherwise
// ignore is exit 2 naming file and key or line, in every command that loads
// a policy directory: the gate (INPUT_POLICY), `policy test`, `policy
// digest` and `verify --policy`. The directory is outside a repository, so
// files are named from its parent.
func TestPolicyStrictness(t *testing.T) {
	ve := newVerifyEnv(t)
	for _, tc := range []struct {
		name  string
		files map[string]string
		wants []string
	}{
		{"a misspelt params key", map[string]string{"params/agent.json": "{\n  \"max_credential_ttl_secs\": 600\n}\n"},
			[]string{"params/agent.json:2: max_credential_ttl_secs: unknown key (did you mean max_credential_ttl_seconds?)"}},
		{"an unknown params topic", map[string]string{"params/approval.json": `{"min_approvals": 2}`},
			[]string{`params/approval.json: unknown params topic "approval" (did you mean approvals?)`}},
		{"a params value out of range", map[string]string{"params/approvals.json": `{"min_approvals": 0}`},
			[]string{"params/approvals.json:1: min_approvals: expected at least 1, got 0"}},
		{"a params value of the wrong type", map[string]string{"params/agent.json": `{"max_credential_ttl_seconds": "1h"}`},
			[]string{"params/agent.json:1: max_credential_ttl_seconds: expected a whole number, got a string"}},
		{"a module in another package", map[string]string{"team.rego": "package airlock_custom\n\nimport data.airlock\n\ndeny contains airlock.reason(\"C6\", \"no\") if true\n"},
			[]string{"team.rego:1: package airlock_custom is not read", "did you mean package airlock?", "team.rego:5: deny is defined in package airlock_custom"}},
		{"a rule nothing reads", map[string]string{"team.rego": "package airlock\n\ndenny contains reason(\"C6\", \"no\") if true\n"},
			[]string{"team.rego:3: rule denny in package airlock is never read", "did you mean deny?"}},
		{"a complete policy set without a decision", map[string]string{"main.rego": "package airlock\n\nallow := true\n"},
			[]string{"no module defines data.airlock.decision"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{"team_test.rego": "package airlock_test\n\ntest_nothing if true\n"}
			for k, v := range tc.files {
				files[k] = v
			}
			d := writeDir(t, t.TempDir(), files)
			check := func(what string, code int, out, errs string) {
				t.Helper()
				if code != ExitUsage {
					t.Errorf("%s: exit %d, expected %d\n%s%s", what, code, ExitUsage, out, errs)
				}
				for _, w := range tc.wants {
					if !strings.Contains(errs, w) {
						t.Errorf("%s: stderr does not say %q:\n%s", what, w, errs)
					}
				}
				if strings.Contains(out, "sha256:") || strings.Contains(out, "passed") {
					t.Errorf("%s: a result on stdout despite the error: %s", what, out)
				}
			}
			code, out, errs := airlock(t, "", "policy", "test", d)
			check("policy test", code, out, errs)
			code, out, errs = airlock(t, "", "policy", "digest", d)
			check("policy digest", code, out, errs)
			code, out, errs = airlock(t, "", "verify", "--offline", "--bundle", filepath.Join(ve.dir, "none.json"), "--trusted-root", ve.root, "--policy", d, ve.artifact)
			check("verify --policy", code, out, errs)
			r := newRun(t)
			r.env["INPUT_POLICY"] = d
			o := r.gate()
			check("gate", o.code, "", o.stderr)
			if o.outputs["decision"] == "allow" {
				t.Error("gate: decision allow on a policy error")
			}
		})
	}
}

// TestPolicyDigestDoesNotDependOnSpelling: in a repository, files are named
// from its top level, so `airlock policy digest` gives the digest the gate
// records however the directory is spelled and wherever it is run from.
func TestPolicyDigestDoesNotDependOnSpelling(t *testing.T) {
	r := newRun(t)
	repo := filepath.Join(r.dir, "checkout")
	writeDir(t, repo, map[string]string{
		".git/HEAD":                         "ref: refs/heads/main\n",
		".github/airlock/team.rego":         "package airlock\n\nwarn contains reason(\"C5\", \"team rule\") if true\n",
		".github/airlock/params/agent.json": `{"max_credential_ttl_seconds": 1800}`,
		"src/README":                        "x\n",
	})
	t.Chdir(repo)
	r.env["GITHUB_WORKSPACE"] = repo
	r.env["INPUT_POLICY"] = ".github/airlock"
	o := r.gate()
	if o.code != ExitAllow {
		t.Fatalf("gate: exit %d\n%s", o.code, o.stderr)
	}
	recorded := o.outputs["policy-digest"]
	abs := filepath.Join(repo, ".github", "airlock")
	for _, tc := range []struct{ cwd, dir string }{
		{repo, ".github/airlock"},
		{repo, "./.github/airlock/"},
		{repo, abs},
		{filepath.Join(repo, "src"), "../.github/airlock"},
		{filepath.Join(repo, ".github"), "airlock"},
		{abs, "."},
	} {
		t.Chdir(tc.cwd)
		if got := policyDigest(t, tc.dir); got != recorded {
			t.Errorf("from %s, `policy digest %s` = %s; the gate recorded %s", tc.cwd, tc.dir, got, recorded)
		}
	}
	code, out, errs := airlock(t, "", "policy", "digest", abs)
	if code != ExitAllow || !strings.HasSuffix(strings.TrimSpace(out), "\tpolicies,.github/airlock") {
		t.Errorf("sources are not named from the repository root: exit %d %q %s", code, out, errs)
	}
}
