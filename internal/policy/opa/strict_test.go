package opa_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/policy"
	"github.com/airlock-dev/airlock/internal/policy/opa"
)

// loadErr loads srcs and returns the configuration error it must give, for
// Load and for RunTests alike (`policy test` checks what the gate checks).
func loadErr(t *testing.T, srcs ...policy.Source) string {
	t.Helper()
	_, err := opa.Load(context.Background(), srcs...)
	if err == nil || fault.KindOf(err) != fault.KindConfig {
		t.Fatalf("Load: expected a configuration error, got %v", err)
	}
	_, terr := opa.RunTests(context.Background(), srcs...)
	if terr == nil || fault.KindOf(terr) != fault.KindConfig || terr.Error() != err.Error() {
		t.Fatalf("RunTests: expected the error Load gives (%v), got %v", err, terr)
	}
	return err.Error()
}

func wantAll(t *testing.T, msg string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(msg, p) {
			t.Errorf("error does not say %q:\n%s", p, msg)
		}
	}
}

func TestParamsSchema(t *testing.T) {
	for _, tc := range []struct {
		name  string
		file  string
		body  string
		wants []string
	}{
		{"unknown key, near a known one", "params/agent.json", "{\n  \"max_credential_ttl_secs\": 60\n}",
			[]string{"user/params/agent.json:2: max_credential_ttl_secs: unknown key (did you mean max_credential_ttl_seconds?)"}},
		{"unknown key, near none", "params/approvals.json", `{"colour": "blue"}`,
			[]string{"user/params/approvals.json:1: colour: unknown key (known keys: max_age_seconds, min_approvals, require_branch_policy)"}},
		{"a topic without keys", "params/identity.json", `{"x": 1}`, []string{"user/params/identity.json:1: x: unknown key (this topic has no keys)"}},
		{"unknown nested key", "params/agent.json", "{\"allowed_scopes\": {\n\"custmer\": []}}",
			[]string{"user/params/agent.json:2: allowed_scopes.custmer: unknown key (did you mean customer?)"}},
		{"unknown key in a former QA identity", "params/agent.json", `{"former_qa_identities": [{"subjet": "a"}]}`,
			[]string{"former_qa_identities[0].subjet: unknown key (did you mean subject?)"}},
		{"unknown topic", "params/agnet.json", `{}`, []string{`user/params/agnet.json: unknown params topic "agnet" (did you mean agent?)`}},
		{"not a params file", "params/agent.yaml", "max_credential_ttl_seconds: 1", []string{"user/params/agent.yaml: not a params file"}},
		{"params file in a subdirectory", "params/v2/agent.json", `{}`, []string{"user/params/v2/agent.json: not a params file"}},
		{"wrong type", "params/revocation.json", `{"allow_shared_issuer": "yes"}`, []string{"user/params/revocation.json:1: allow_shared_issuer: expected a boolean, got a string"}},
		{"null", "params/approvals.json", `{"min_approvals": null}`, []string{"min_approvals: expected a whole number, got null"}},
		{"not whole", "params/approvals.json", `{"min_approvals": 1.5}`, []string{"min_approvals: expected a whole number, got 1.5"}},
		{"below the minimum", "params/approvals.json", `{"min_approvals": 0}`, []string{"min_approvals: expected at least 1, got 0"}},
		{"negative", "params/agent.json", `{"approvals_on_change": -1}`, []string{"approvals_on_change: expected at least 0, got -1"}},
		{"zero TTL", "params/attest.json", `{"max_decision_ttl_seconds": 0}`, []string{"max_decision_ttl_seconds: expected at least 1, got 0"}},
		{"scope not a string", "params/agent.json", `{"allowed_scopes": {"internal": ["kb:read", 7]}}`, []string{"allowed_scopes.internal[1]: expected a string, got a number"}},
		{"a repeated key: the last would win", "params/approvals.json", "{\"min_approvals\": 3,\n \"min_approvals\": 1}",
			[]string{"user/params/approvals.json:2: min_approvals: appears twice (first on line 1)"}},
		{"not an object", "params/agent.json", `[1]`, []string{"user/params/agent.json:1: expected an object of agent thresholds, got an array"}},
		{"null file", "params/agent.json", `null`, []string{"expected an object of agent thresholds, got null"}},
		{"trailing data", "params/agent.json", "{}\n{}", []string{"user/params/agent.json:2: more after the top-level object"}},
		{"syntax", "params/agent.json", "{\n\"a\": }", []string{"user/params/agent.json:2: invalid character"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := loadErr(t, defaults, user(map[string]string{"team.rego": "package airlock\n", tc.file: tc.body}))
			wantAll(t, msg, tc.wants...)
		})
	}

	t.Run("every problem at once", func(t *testing.T) {
		msg := loadErr(t, defaults, user(map[string]string{
			"params/agent.json":     `{"max_credential_ttl_secs": 60, "approvals_on_change": "2"}`,
			"params/approvals.json": `{"min_aprovals": 2}`,
		}))
		wantAll(t, msg, "max_credential_ttl_secs: unknown key", "approvals_on_change: expected a whole number, got a string", "min_aprovals: unknown key (did you mean min_approvals?)")
	})

	// A directory with its own main.rego replaces the defaults, not the
	// schema: its params are held to the same known keys.
	t.Run("a complete policy set is held to the schema too", func(t *testing.T) {
		msg := loadErr(t, user(map[string]string{
			"main.rego":          "package airlock\ndecision := {\"allow\": false, \"deny\": [], \"warn\": [], \"requirements\": [], \"checked\": [], \"grants\": {}}\n",
			"params/agent.json":  `{"max_credential_ttl_secs": 60}`,
			"params/custom.json": `{"k": 1}`,
		}))
		wantAll(t, msg, "user/params/agent.json:1: max_credential_ttl_secs: unknown key", `user/params/custom.json: unknown params topic "custom"`)
	})

	t.Run("known keys of every type load", func(t *testing.T) {
		_, err := opa.Load(context.Background(), defaults, user(map[string]string{
			"params/agent.json": `{"max_credential_ttl_seconds": 60, "allow_shared_issuer": true, "allowed_scopes": {"internal": ["kb:read"]},
				"former_qa_identities": [{"subject": "agent:qa", "client_id": "qa"}]}`,
			"params/approvals.json":  `{"min_approvals": 2, "max_age_seconds": 3600}`,
			"params/identity.json":   `{}`,
			"params/attest.json":     `{"max_decision_ttl_seconds": 600}`,
			"params/revocation.json": `{"shared_issuer_min_approvers": 3}`,
			"params/.DS_Store":       "\x00",
		}))
		if err != nil {
			t.Fatal(err)
		}
	})
}

func TestUnreadRules(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		wants []string
	}{
		{"a misspelt deny", map[string]string{"team.rego": "package airlock\n\ndenny contains reason(\"C6\", \"no\") if true\n"},
			[]string{"user/team.rego:3: rule denny in package airlock is never read", "(did you mean deny?)"}},
		{"another package", map[string]string{"team.rego": "package airlock_custom\n\nimport data.airlock\n\ndeny contains airlock.reason(\"C6\", \"no\") if true\n"},
			[]string{"user/team.rego:1: package airlock_custom is not read", "(did you mean package airlock?)", "user/team.rego:5: deny is defined in package airlock_custom, but only package airlock's deny is read"}},
		{"warn in a subpackage", map[string]string{"team.rego": "package airlock.team\n\nwarn contains {\"control\": \"C5\", \"message\": \"m\"} if true\n"},
			[]string{"user/team.rego:3: warn is defined in package airlock.team"}},
		{"requirement elsewhere, even when read", map[string]string{
			"lib.rego":  "package lib\n\nrequirement contains {\"control\": \"C5\", \"message\": \"m\"} if true\n",
			"team.rego": "package airlock\n\nimport data.lib\n\nwarn contains r if some r in lib.requirement\n",
		}, []string{"user/lib.rego:3: requirement is defined in package lib"}},
		// Read only by a rule nobody reads: both are dead.
		{"a helper nobody calls", map[string]string{"team.rego": "package airlock\n\nteam_limit := 3\n\nteam_over(n) if n > team_limit\n"},
			[]string{"user/team.rego:5: rule team_over in package airlock is never read", "user/team.rego:3: rule team_limit"}},
		{"a test rule outside a _test file", map[string]string{"team.rego": "package airlock\n\ntest_team if true\n"},
			[]string{"user/team.rego:3: rule test_team"}},
		{"a complete set without a decision", map[string]string{"main.rego": "package airlock\n\nallow := true\n"},
			[]string{"no module defines data.airlock.decision"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srcs := []policy.Source{defaults, user(tc.files)}
			if _, ok := tc.files["main.rego"]; ok {
				srcs = srcs[1:]
			}
			wantAll(t, loadErr(t, srcs...), tc.wants...)
		})
	}
}

// Rules read by other rules, in other files and packages, through imports,
// functions, else chains and dynamic refs, are read.
func TestReadRulesLoad(t *testing.T) {
	files := map[string]string{
		"lib/scopes.rego": "package lib.scopes\n\nwide(s) if endswith(s, \":*\")\n\nlabel := \"wide\"\n",
		"team.rego": `package airlock

import data.lib.scopes

deny contains reason("C6", sprintf("%s scope %s", [scopes.label, s])) if {
	some s in object.get(input, "scopes", [])
	scopes.wide(s)
}

warn contains reason("C5", team_note) if team_on

team_on if input.team == true

team_note := "a" if input.x else := "b" if input.y else := "c"
`,
		"dyn.rego":       "package airlock\n\nrequirement contains r if {\n\tsome name in [\"team_req\"]\n\tsome r in data.airlock[name]\n}\n\nteam_req contains reason(\"C5\", \"r\") if true\n",
		"team_test.rego": "package airlock_test\n\nimport data.airlock\n\ntest_on if airlock.team_on with input as {\"team\": true}\n\n# tests may define what they like\nunused := 1\n",
	}
	if _, err := opa.Load(context.Background(), defaults, user(files)); err != nil {
		t.Fatal(err)
	}
	res, err := opa.RunTests(context.Background(), defaults, user(files))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range res {
		found = found || r.Name == "airlock_test.test_on" && r.Pass
	}
	if !found {
		t.Errorf("user test did not run or failed: %+v", res)
	}
	// The example a user starts from, as docs/writing-policies.md shows it.
	ex := policy.Source{Name: "testdata/policies/agent-example", FS: os.DirFS(filepath.Join("..", "..", "..", "testdata", "policies", "agent-example"))}
	if _, err := opa.Load(context.Background(), defaults, ex); err != nil {
		t.Fatal(err)
	}
}

// TestDirSourceNaming: the name a directory gets, and so the digest, does
// not depend on how it is spelled.
func TestDirSourceNaming(t *testing.T) {
	root := t.TempDir()
	repo := filepath.Join(root, "repo")
	pol := filepath.Join(repo, ".github", "airlock")
	for _, d := range []string{filepath.Join(pol, "params"), filepath.Join(repo, ".git"), filepath.Join(root, "plain", "pol")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, body string) {
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(pol, "team.rego"), "package airlock\n\nwarn contains reason(\"C5\", \"team\") if true\n")
	write(filepath.Join(pol, "params", "agent.json"), `{"max_credential_ttl_seconds": 60}`)
	write(filepath.Join(root, "plain", "pol", "team.rego"), "package airlock\n\nwarn contains reason(\"C5\", \"team\") if true\n")
	if err := os.Symlink(pol, filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	// A worktree's or submodule's .git is a file.
	wt := filepath.Join(root, "wt")
	if err := os.MkdirAll(filepath.Join(wt, "p"), 0o700); err != nil {
		t.Fatal(err)
	}
	write(filepath.Join(wt, ".git"), "gitdir: elsewhere\n")
	write(filepath.Join(wt, "p", "team.rego"), "package airlock\n\nwarn contains reason(\"C5\", \"team\") if true\n")
	t.Chdir(repo)

	digest := func(dir, workspace string) (string, string) {
		t.Helper()
		s, err := policy.DirSource(dir, workspace)
		if err != nil {
			t.Fatal(err)
		}
		e, err := opa.Load(context.Background(), defaults, s)
		if err != nil {
			t.Fatal(err)
		}
		return s.Name, e.Digest()
	}
	name, want := digest(".github/airlock", "")
	if name != ".github/airlock" {
		t.Errorf("named %q, expected the path from the repository root", name)
	}
	for _, tc := range []struct{ dir, workspace, name string }{
		{"./.github/airlock/", "", ".github/airlock"},
		{pol, "", ".github/airlock"},
		{filepath.Join(root, "link"), "", ".github/airlock"},
		{filepath.Join(repo, ".github", "..", ".github", "airlock"), "", ".github/airlock"},
		// git's top level first: a checkout into a subdirectory of the workspace
		// is named as the auditor's clone names it.
		{pol, root, ".github/airlock"},
	} {
		if n, d := digest(tc.dir, tc.workspace); n != tc.name || d != want {
			t.Errorf("%s (workspace %q): named %q with digest %s, expected %q with %s", tc.dir, tc.workspace, n, d, tc.name, want)
		}
	}
	if n, _ := digest(filepath.Join(wt, "p"), ""); n != "p" {
		t.Errorf("in a worktree: named %q, expected p", n)
	}
	// Outside any repository: the workspace, else the directory's own name.
	plain := filepath.Join(root, "plain", "pol")
	if n, _ := digest(plain, filepath.Join(root, "plain")); n != "pol" {
		t.Errorf("in the workspace: named %q, expected pol", n)
	}
	n1, d1 := digest(plain, "")
	n2, d2 := digest(plain, wt)
	if n1 != "pol" || n2 != "pol" || d1 != d2 {
		t.Errorf("outside a repository: named %q and %q (digests %s, %s), expected pol for both", n1, n2, d1, d2)
	}
	// Copied elsewhere, the same digest.
	moved := filepath.Join(root, "other", "place", "pol")
	if err := os.MkdirAll(filepath.Dir(moved), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(plain, moved); err != nil {
		t.Fatal(err)
	}
	if n, d := digest(moved, ""); n != "pol" || d != d1 {
		t.Errorf("moved: named %q with digest %s, expected pol with %s", n, d, d1)
	}
	for _, bad := range []string{filepath.Join(root, "nope"), filepath.Join(pol, "team.rego")} {
		if _, err := policy.DirSource(bad, ""); err == nil || fault.KindOf(err) != fault.KindConfig {
			t.Errorf("%s: expected a configuration error, got %v", bad, err)
		}
	}
}

// BenchmarkLoad measures what a gate run pays once: parse, compile and the
// strictness checks (params schema, reachability) of the defaults plus the
// worked example.
func BenchmarkLoad(b *testing.B) {
	ex := policy.Source{Name: "testdata/policies/agent-example", FS: os.DirFS(filepath.Join("..", "..", "..", "testdata", "policies", "agent-example"))}
	ctx := context.Background()
	for b.Loop() {
		if _, err := opa.Load(ctx, defaults, ex); err != nil {
			b.Fatal(err)
		}
	}
}
