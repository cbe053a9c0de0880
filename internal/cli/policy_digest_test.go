package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/verify/verifytest"
)

// policyDigest runs `airlock policy digest [dir]` and returns the digest.
func policyDigest(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errs := airlock(t, "", append([]string{"policy", "digest"}, args...)...)
	if code != ExitAllow {
		t.Fatalf("policy digest %v: exit %d\n%s%s", args, code, out, errs)
	}
	digest, _, _ := strings.Cut(strings.TrimSpace(out), "\t")
	if !strings.HasPrefix(digest, "sha256:") || len(digest) != len("sha256:")+64 {
		t.Fatalf("policy digest %v: %q", args, out)
	}
	return digest
}

// TestPolicyDigestIsWhatTheGateRecords: the digest an auditor computes from
// a policy directory is the one a gate run under that directory records.
func TestPolicyDigestIsWhatTheGateRecords(t *testing.T) {
	r := newRun(t)
	d := filepath.Join(r.dir, "pol")
	if err := os.Mkdir(d, 0o700); err != nil {
		t.Fatal(err)
	}
	extra := "package airlock\n\nwarn contains reason(\"C5\", \"team rule\") if true\n"
	if err := os.WriteFile(filepath.Join(d, "team.rego"), []byte(extra), 0o600); err != nil {
		t.Fatal(err)
	}
	r.env["INPUT_POLICY"] = d
	o := r.gate()
	if o.code != ExitAllow {
		t.Fatalf("gate: exit %d\n%s", o.code, o.stderr)
	}
	got := o.outputs["policy-digest"]
	if want := policyDigest(t, d); got != want {
		t.Errorf("gate recorded %q, `policy digest %s` says %q", got, d, want)
	}
	if def := policyDigest(t); def == got {
		t.Errorf("the defaults and the defaults plus team.rego have the same digest %s", def)
	}

	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no such directory", []string{filepath.Join(r.dir, "nope")}, ExitUsage, "nope"},
		{"two directories", []string{d, d}, ExitUsage, "at most one directory"},
		{"does not compile", []string{writePolicy(t, "package airlock\n\ndeny contains x if {\n")}, ExitUsage, "broken.rego:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := airlock(t, "", append([]string{"policy", "digest"}, tc.args...)...)
			if code != tc.code || !strings.Contains(errs, tc.msg) || out != "" {
				t.Errorf("exit %d (expected %d), stdout %q, stderr %q (expected %q)", code, tc.code, out, errs, tc.msg)
			}
		})
	}
}

func writePolicy(t *testing.T, src string) string {
	t.Helper()
	d := t.TempDir()
	if err := os.WriteFile(filepath.Join(d, "broken.rego"), []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestVerifyPolicyDigest(t *testing.T) {
	e := newVerifyEnv(t)
	known := policyDigest(t)
	other := "sha256:" + strings.Repeat("ab", 32)
	decision := func(name string, policy map[string]any) string {
		pred := map[string]any{
			"decision": "allow",
			"reasons":  []map[string]string{},
			"validity": map[string]any{"issuedAt": time.Now().Add(-time.Hour).Format(time.RFC3339), "notAfter": time.Now().Add(time.Hour).Format(time.RFC3339)},
		}
		if policy != nil {
			pred["policy"] = policy
		}
		return e.decisionOf(t, name, pred)
	}
	underKnown := decision("known.sigstore.json", map[string]any{"digest": known, "sources": []string{"policies"}})
	underOther := decision("other.sigstore.json", map[string]any{"digest": other, "sources": []string{"policies", ".github/airlock"}})
	unrecorded := decision("none.sigstore.json", nil)
	base := []string{"verify", "--offline", "--trusted-root", e.root, "--certificate-identity", e.signer.SAN,
		"--certificate-oidc-issuer", verifytest.GitHubIssuer}

	for _, tc := range []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"known policy", []string{"--bundle", underKnown, "--policy-digest", known, e.artifact}, ExitAllow, `"digest": "` + known},
		{"one of several", []string{"--bundle", underOther, "--policy-digest", known, "--policy-digest", other, e.artifact}, ExitAllow, ".github/airlock"},
		{"not pinned: any policy, shown", []string{"--bundle", underOther, e.artifact}, ExitAllow, `"digest": "` + other},
		{"other policy", []string{"--bundle", underOther, "--policy-digest", known, e.artifact}, ExitDeny, "decision made under policy " + other},
		{"no policy recorded", []string{"--bundle", unrecorded, "--policy-digest", known, e.artifact}, ExitDeny, "no policy.digest"},
		{"message signature with --any", []string{"--bundle", messageBundle(t, e), "--any", "--policy-digest", known, e.artifact}, ExitDeny, "--policy-digest: a message signature is not an airlock decision"},
		{"--require-policy-pass: a message signature is no decision", []string{"--bundle", messageBundle(t, e), "--any", "--policy", "../../policies", "--require-policy-pass", e.artifact}, ExitDeny, "--require-policy-pass: a message signature is not an airlock decision"},
		{"--require-policy-pass with another predicate type", []string{"--bundle", underKnown, "--predicate-type", "https://slsa.dev/provenance/v1", "--policy", "../../policies", "--require-policy-pass", e.artifact}, ExitUsage, ""},
		{"malformed digest", []string{"--bundle", underKnown, "--policy-digest", "sha256:ABC", e.artifact}, ExitUsage, ""},
		{"other predicate type", []string{"--bundle", underKnown, "--predicate-type", "https://slsa.dev/provenance/v1", "--policy-digest", known, e.artifact}, ExitUsage, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := airlock(t, "", append(append(append([]string{}, base...), "--format", "json"), tc.args...)...)
			checkNoFalseSuccess(t, code, out, errs)
			if code != tc.code || !strings.Contains(out, tc.out) {
				t.Errorf("exit %d (expected %d); stdout does not hold %q:\n%s\n%s", code, tc.code, tc.out, out, errs)
			}
		})
	}
	// The table names the policy too, shortened.
	code, out, errs := airlock(t, "", append(append([]string{}, base...), "--bundle", underKnown, e.artifact)...)
	if code != ExitAllow || !strings.Contains(out, known[:len("sha256:")+12]) {
		t.Errorf("table: exit %d, no policy %s…:\n%s%s", code, known[:19], out, errs)
	}
}

// messageBundle is a plain message signature over the env's artifact.
func messageBundle(t *testing.T, e *verifyEnv) string {
	t.Helper()
	content, err := os.ReadFile(e.artifact)
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.ss.SignMessage(e.signer, content)
	if err != nil {
		t.Fatal(err)
	}
	return e.write(t, "message.sigstore.json", b)
}
