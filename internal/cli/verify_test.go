package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/verify"
	"github.com/airlock-dev/airlock/internal/verify/verifytest"
)

// verifyEnv is an in-process Sigstore, its trusted root on disk, an artifact
// and bundles about it.
type verifyEnv struct {
	dir, root, artifact, digest string
	ss                          *verifytest.Sigstore
	signer                      verifytest.Signer
}

func newVerifyEnv(t testing.TB) *verifyEnv {
	t.Helper()
	ss, err := verifytest.New()
	if err != nil {
		t.Fatal(err)
	}
	e := &verifyEnv{dir: t.TempDir(), ss: ss, signer: verifytest.GitHubWorkflow("acme/agent", ".github/workflows/promote.yml", "refs/heads/main")}
	root, err := ss.TrustedRoot()
	if err != nil {
		t.Fatal(err)
	}
	e.root = e.write(t, "trusted_root.json", root)
	content := []byte("agent 1.2.3\n")
	e.artifact = e.write(t, "agent.tar", content)
	d := sha256.Sum256(content)
	e.digest = "sha256:" + hex.EncodeToString(d[:])
	return e
}

func (e *verifyEnv) write(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(e.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func (e *verifyEnv) decision(t testing.TB, name, verdict string, notAfter time.Time) string {
	t.Helper()
	return e.decisionOf(t, name, map[string]any{
		"decision": verdict,
		"reasons":  []map[string]string{{"control": "C1", "message": "verified token"}},
		"validity": map[string]any{"issuedAt": time.Now().Add(-time.Hour).Format(time.RFC3339), "notAfter": notAfter.Format(time.RFC3339)},
	})
}

// decisionOf signs a decision predicate about the env's artifact.
func (e *verifyEnv) decisionOf(t testing.TB, name string, predicate map[string]any) string {
	t.Helper()
	content, _ := os.ReadFile(e.artifact)
	st, err := verifytest.Statement(verify.DecisionPredicateType, predicate, verifytest.Subject("agent.tar", content))
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.ss.Attest(e.signer, st)
	if err != nil {
		t.Fatal(err)
	}
	return e.write(t, name, b)
}

// checkNoFalseSuccess: exit 0 never follows a printed failure, and a
// failure exit always says why.
func checkNoFalseSuccess(t *testing.T, code int, out, errs string) {
	t.Helper()
	if code == ExitAllow && (strings.Contains(out, "FAILED") || strings.Contains(out, `"verified": false`) || errs != "") {
		t.Errorf("exit 0 after a failure:\n%s\n%s", out, errs)
	}
	if code != ExitAllow && !strings.Contains(errs, "airlock: ") {
		t.Errorf("exit %d without a message on stderr", code)
	}
}

func TestVerifyExitCodes(t *testing.T) {
	e := newVerifyEnv(t)
	until := time.Now().Add(24 * time.Hour)
	allow := e.decision(t, "allow.sigstore.json", "allow", until)
	deny := e.decision(t, "deny.sigstore.json", "deny", until)
	expired := e.decision(t, "expired.sigstore.json", "allow", time.Now().Add(-time.Minute))
	emptyDir := filepath.Join(e.dir, "empty")
	os.Mkdir(emptyDir, 0o700)
	brokenRoot := e.write(t, "broken_root.json", []byte(`{"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1", "tlogs": [{}]}`))
	badKey := e.write(t, "bad.pub", []byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"))
	allowBytes, _ := os.ReadFile(allow)
	truncated := e.write(t, "truncated.json", allowBytes[:100])
	tr := "--trusted-root=" + e.root

	for _, tc := range []struct {
		name string
		args []string
		code int
		want string // in stdout+stderr
	}{
		{"allow by artifact", []string{e.artifact, "--bundle", allow, tr, "--repo", "acme/agent"}, ExitAllow, "verified"},
		{"allow by digest", []string{"--bundle", allow, tr, "--repo", "acme/agent", "--digest", e.digest, "--offline"}, ExitAllow, "verified by 1 bundle"},
		{"flags after the artifact", []string{e.artifact, "--bundle", allow, tr, "--signer-workflow", "acme/agent/.github/workflows/promote.yml", "--source-ref", "refs/heads/main", "--deny-self-hosted-runners"}, ExitAllow, "allow"},
		{"double dash", []string{"--bundle", allow, tr, "--repo", "acme/agent", "--", e.artifact}, ExitAllow, "allow"},
		{"--output json is --format json", []string{e.artifact, "--bundle", allow, tr, "--repo", "acme/agent", "--output", "json"}, ExitAllow, `"verified": true`},
		{"-o json is --format json", []string{e.artifact, "--bundle", allow, tr, "--repo", "acme/agent", "-o", "json"}, ExitAllow, `"verified": true`},
		{"--output=xml is refused as --format", []string{e.artifact, "--bundle", allow, tr, "--repo", "acme/agent", "--output=xml"}, ExitUsage, `--format: expected table or json, got "xml"`},
		{"deny", []string{e.artifact, "--bundle", deny, tr, "--repo", "acme/agent"}, ExitDeny, "refused"},
		{"deny listed is still no allow", []string{e.artifact, "--bundle", deny, tr, "--repo", "acme/agent", "--include-deny"}, ExitDeny, "no verified allow decision"},
		{"deny listed next to an allow", []string{e.artifact, "--bundle", deny, "--bundle", allow, tr, "--repo", "acme/agent", "--include-deny"}, ExitAllow, "deny"},
		{"expired", []string{e.artifact, "--bundle", expired, tr, "--repo", "acme/agent"}, ExitDeny, "decision expired"},
		{"expired says when it was valid", []string{e.artifact, "--bundle", expired, tr, "--repo", "acme/agent"}, ExitDeny, "to check a deployment made then, verify with --at <deployment time>"},
		{"expired, audited at a past date", []string{e.artifact, "--bundle", expired, tr, "--repo", "acme/agent", "--at", time.Now().Add(-30 * time.Minute).Format(time.RFC3339)}, ExitAllow, "allow"},
		{"wrong repo", []string{e.artifact, "--bundle", allow, tr, "--repo", "acme/other"}, ExitDeny, "FAILED"},
		{"wrong digest", []string{"--digest", "sha256:" + strings.Repeat("0", 64), "--bundle", allow, tr, "--repo", "acme/agent"}, ExitDeny, "no attestation found"},
		{"no bundle in the directory", []string{e.artifact, "--bundle", emptyDir, tr, "--repo", "acme/agent"}, ExitDeny, "no attestation found"},
		{"truncated bundle", []string{e.artifact, "--bundle", truncated, tr, "--repo", "acme/agent"}, ExitDeny, "parse bundle"},
		{"one bad bundle fails the batch", []string{e.artifact, "--bundle", truncated, "--bundle", allow, tr, "--repo", "acme/agent"}, ExitDeny, "1 of 2 bundle(s) failed"},
		{"other predicate type required", []string{e.artifact, "--bundle", allow, tr, "--repo", "acme/agent", "--predicate-type", "https://slsa.dev/provenance/v1"}, ExitDeny, "predicate type"},

		{"unknown flag", []string{"--bundel", allow}, ExitUsage, "unknown flag --bundel (did you mean --bundle?)"},
		{"bad format", []string{e.artifact, "--bundle", allow, tr, "--repo", "acme/agent", "--format", "xml"}, ExitUsage, "--format"},
		{"bad --at", []string{e.artifact, "--bundle", allow, tr, "--repo", "acme/agent", "--at", "yesterday"}, ExitUsage, "--at"},
		{"bad --jobs", []string{e.artifact, "--bundle", allow, tr, "--repo", "acme/agent", "--jobs", "-1"}, ExitUsage, "--jobs"},
		{"no bundle", []string{e.artifact, tr}, ExitUsage, "no bundle"},
		{"no artifact", []string{"--bundle", allow, tr, "--repo", "acme/agent"}, ExitUsage, "no artifact"},
		{"missing artifact", []string{filepath.Join(e.dir, "nope.tar"), "--bundle", allow, tr, "--repo", "acme/agent"}, ExitUsage, "nope.tar"},
		{"missing bundle", []string{e.artifact, "--bundle", filepath.Join(e.dir, "nope.json"), tr, "--repo", "acme/agent"}, ExitUsage, "nope.json"},
		{"bad digest", []string{"--digest", "md5:abcd", "--bundle", allow, tr, "--repo", "acme/agent"}, ExitUsage, "--digest"},
		{"no identity", []string{e.artifact, "--bundle", allow, tr}, ExitUsage, "name the signer"},
		{"identity without issuer", []string{e.artifact, "--bundle", allow, tr, "--certificate-identity", "https://x"}, ExitUsage, "--certificate-oidc-issuer"},
		{"any and predicate type", []string{e.artifact, "--bundle", allow, tr, "--repo", "acme/agent", "--any", "--predicate-type", "x"}, ExitUsage, "not both"},
		{"offline, default trust, cold TUF cache", []string{e.artifact, "--bundle", allow, "--repo", "acme/agent", "--offline", "--tuf-cache", emptyDir}, ExitUsage, "--offline forbids the network"},
		{"tuf-url without tuf-root", []string{e.artifact, "--bundle", allow, "--repo", "acme/agent", "--tuf-url", "http://127.0.0.1:1"}, ExitUsage, "--tuf-root"},
		{"release and bundle", []string{"--release", "acme/agent@v1", "--bundle", allow, tr, "--repo", "acme/agent"}, ExitUsage, "not both"},
		{"trusted root from release without a release", []string{"--bundle", allow, "--trusted-root-from-release", "--repo", "acme/agent"}, ExitUsage, "needs --release"},
		{"release offline", []string{"--release", "acme/agent@v1", "--offline"}, ExitUsage, "not with --offline"},
		{"attestation store offline", []string{"--repo", "acme/agent", "--digest", e.digest, "--offline"}, ExitUsage, "needs the network"},
		{"policy directory without policy", []string{e.artifact, "--bundle", allow, tr, "--repo", "acme/agent", "--policy", e.dir}, ExitUsage, "--policy"},
		{"policy directory missing", []string{e.artifact, "--bundle", allow, tr, "--repo", "acme/agent", "--policy", filepath.Join(e.dir, "nope")}, ExitUsage, "nope"},
		{"require policy pass without policy", []string{e.artifact, "--bundle", allow, tr, "--repo", "acme/agent", "--require-policy-pass"}, ExitUsage, "needs --policy"},
		{"trusted root does not parse", []string{e.artifact, "--bundle", allow, "--trusted-root", brokenRoot, "--repo", "acme/agent"}, ExitUsage, "trusted root 1"},
		{"trusted root missing", []string{e.artifact, "--bundle", allow, "--trusted-root", filepath.Join(e.dir, "nope.json"), "--repo", "acme/agent"}, ExitUsage, "nope.json"},
		{"key does not parse", []string{e.artifact, "--bundle", allow, "--key", badKey}, ExitUsage, "key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := airlock(t, "", append([]string{"verify"}, tc.args...)...)
			if code != tc.code || !strings.Contains(out+errs, tc.want) {
				t.Fatalf("exit %d (expected %d), output lacks %q or differs:\n%s\n%s", code, tc.code, tc.want, out, errs)
			}
			checkNoFalseSuccess(t, code, out, errs)
		})
	}

	// Operational: the run was cancelled (a signal) before it could decide.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errb bytes.Buffer
	code := Main(ctx, []string{"verify", e.artifact, "--bundle", allow, tr, "--repo", "acme/agent"}, func(string) string { return "" }, Stdio{In: strings.NewReader(""), Out: &out, Err: &errb})
	if code != ExitOperational {
		t.Fatalf("cancelled: exit %d\n%s%s", code, out.String(), errb.String())
	}
}

func TestVerifyJSON(t *testing.T) {
	e := newVerifyEnv(t)
	allow := e.decision(t, "allow.sigstore.json", "allow", time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC))
	bad := e.write(t, "bad.json", []byte("{"))
	code, out, errs := airlock(t, "", "verify", "--format", "json", "--bundle", allow, "--bundle", bad, "--trusted-root", e.root, "--repo", "acme/agent", e.artifact)
	if code != ExitDeny {
		t.Fatalf("exit %d\n%s", code, errs)
	}
	checkNoFalseSuccess(t, code, out, errs)
	var rep struct {
		Verified bool
		Bundles  []map[string]any
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if rep.Verified || len(rep.Bundles) != 2 {
		t.Fatalf("%s", out)
	}
	for _, field := range []string{"bundle", "subjects", "verified", "identity", "predicateType", "reasons", "errors"} {
		if _, ok := rep.Bundles[0][field]; !ok {
			t.Errorf("record lacks %q: %v", field, rep.Bundles[0])
		}
	}
	good := rep.Bundles[0]
	if good["verified"] != true || good["decision"] != "allow" || good["notAfter"] != "2031-01-01T00:00:00Z" || good["predicateType"] != verify.DecisionPredicateType {
		t.Errorf("good record %v", good)
	}
	if id, _ := good["identity"].(map[string]any); id["san"] != e.signer.SAN || id["issuer"] != verifytest.GitHubIssuer {
		t.Errorf("identity %v", good["identity"])
	}
	if rep.Bundles[1]["verified"] != false || len(rep.Bundles[1]["errors"].([]any)) == 0 {
		t.Errorf("bad record %v", rep.Bundles[1])
	}
}

// TestVerifyTableIsSafe: names and errors that come from untrusted input
// cannot add lines to the report.
func TestVerifyTableIsSafe(t *testing.T) {
	e := newVerifyEnv(t)
	dir := filepath.Join(e.dir, "bundles")
	e.write(t, "bundles/evil\nallow.sigstore.json  verified.json", []byte("{\"mediaType\":\"x\n\x1b[32mverified\"}"))
	code, out, errs := airlock(t, "", "verify", "--bundle", dir, "--trusted-root", e.root, "--repo", "acme/agent", e.artifact)
	if code != ExitDeny {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "allow.sigstore.json") || strings.Contains(line, "\x1b") {
			t.Errorf("forged line %q", line)
		}
	}
}

// TestVerifyRealBundles goes through the command with real GitHub Actions
// bundles: a JSONL of two, the GitHub-instance profile, the conventions of
// reusable workflows, and the default predicate type refusing provenance.
func TestVerifyRealBundles(t *testing.T) {
	d := realdata(t, "02-github-actions-bundles")
	pg := filepath.Join(d, "trusted_roots", "public-good.trusted_root.json")
	gh := filepath.Join(d, "trusted_roots", "github.trusted_root.json")
	both := filepath.Join(t.TempDir(), "roots.jsonl")
	var roots []byte
	for _, p := range []string{pg, gh} {
		raw, _ := os.ReadFile(p)
		var compact bytes.Buffer
		if err := json.Compact(&compact, raw); err != nil {
			t.Fatal(err)
		}
		roots = append(append(roots, compact.Bytes()...), '\n')
	}
	os.WriteFile(both, roots, 0o600)
	npm := "sha512:90f223f992e4c88dd068cd2a5fc57f9d2b30798343dd6e38f29c240e04ba090ef831f84490847c4e82b9232c78e8a258463b1e55c0f7469f730265008fa6633f"
	demo := "sha256:ae57936def59bc4c75edd3a837d89bcefc6d3a5e31d55a6fa7a71624f92c3c3b"
	reusable := "sha256:49a3aa6075e0f49f82843e74b5baa614ad2a588e6675612bf108a0a008c5ac25"
	b := func(p string) string { return filepath.Join(d, "bundles", p) }

	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"JSONL of two bundles", []string{"--bundle", b("npm-sigstore-js-2.1.0/two-bundles.jsonl"), "--trusted-root", pg, "--signer-workflow", "sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main", "--any", "--digest", npm}, ExitAllow, "2 bundle(s): 2 verified"},
		{"v0.1 and v0.3 together", []string{"--bundle", b("npm-sigstore-js-2.1.0/bundle.v0.1.json"), "--bundle", b("npm-sigstore-js-2.1.0/bundle.v0.3.json"), "--trusted-root", pg, "--repo", "sigstore/sigstore-js", "--source-ref", "refs/heads/main", "--deny-self-hosted-runners", "--any", "--digest", npm}, ExitAllow, "2 verified"},
		{"GitHub instance, JSONL as shipped", []string{"--bundle", b("ghinstance-attest-demo-0.0.12/bundle.jsonl"), "--trusted-root", gh, "--repo", "actions/attest-demo", "--predicate-type", "https://slsa.dev/provenance/v1", "--digest", demo}, ExitAllow, "1 verified"},
		{"both roots in one JSONL, both profiles in one run", []string{"--bundle", b("ghinstance-attest-demo-0.0.12/bundle.json"), "--bundle", b("npm-sigstore-js-2.1.0/bundle.v0.3.json"), "--trusted-root", both, "--certificate-identity-regexp", `https://github\.com/(actions/attest-demo|sigstore/sigstore-js)/\.github/workflows/.*`, "--certificate-oidc-issuer", "https://token.actions.githubusercontent.com", "--any", "--digest", demo, "--digest", npm}, ExitAllow, "2 verified"},
		{"reusable workflow: caller repo and signer workflow", []string{"--bundle", b("gha-reusable-workflow/bundle.json"), "--trusted-root", pg, "--repo", "malancas/attest-demo", "--signer-workflow", "github/artifact-attestations-workflows/.github/workflows/attest.yml", "--any", "--digest", reusable}, ExitAllow, "verified"},
		{"reusable workflow: --repo alone is not enough", []string{"--bundle", b("gha-reusable-workflow/bundle.json"), "--trusted-root", pg, "--repo", "malancas/attest-demo", "--any", "--digest", reusable}, ExitDeny, "SAN value to match regex"},
		{"provenance is not a decision", []string{"--bundle", b("ghinstance-attest-demo-0.0.12/bundle.json"), "--trusted-root", gh, "--repo", "actions/attest-demo", "--digest", demo}, ExitDeny, "predicate type"},
		{"source ref read from the certificate", []string{"--bundle", b("ghinstance-attest-demo-0.0.12/bundle.json"), "--trusted-root", gh, "--repo", "actions/attest-demo", "--source-ref", "refs/heads/dev", "--any", "--digest", demo}, ExitDeny, `source ref: expected "refs/heads/dev", got "refs/heads/main"`},
		{"public-good bundle under GitHub's root", []string{"--bundle", b("npm-sigstore-js-2.1.0/bundle.v0.3.json"), "--trusted-root", gh, "--repo", "sigstore/sigstore-js", "--any", "--digest", npm}, ExitDeny, "FAILED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := airlock(t, "", append([]string{"verify"}, tc.args...)...)
			if code != tc.code || !strings.Contains(out+errs, tc.want) {
				t.Fatalf("exit %d (expected %d), output lacks %q:\n%s\n%s", code, tc.code, tc.want, out, errs)
			}
			checkNoFalseSuccess(t, code, out, errs)
		})
	}
}

// TestVerifyConformanceThroughCLI spot-checks that the command agrees with
// the conformance suite (the whole suite runs in internal/verify, on the
// same code path).
func TestVerifyConformanceThroughCLI(t *testing.T) {
	d := realdata(t, "01-sigstore-conformance")
	id := "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"
	a := filepath.Join(d, "assets", "bundle-verify", "a.txt")
	for _, tc := range []struct {
		bundle string
		root   string
		extra  []string
		code   int
	}{
		{"happy-path-v0.3", "trusted_root.production.json", nil, ExitAllow},
		{"happy-path-intoto-in-dsse-v3", "trusted_root.production.json", nil, ExitAllow},
		{"rekor2-happy-path", "assets/bundle-verify/rekor2-happy-path/trusted_root.json", nil, ExitAllow},
		{"signature-mismatch_fail", "trusted_root.production.json", nil, ExitDeny},
		{"bundle-unknown-version_fail", "trusted_root.production.json", nil, ExitDeny},
		{"trust-root-tlog-missing-validity-start_fail", "assets/bundle-verify/trust-root-tlog-missing-validity-start_fail/trusted_root.json", nil, ExitUsage},
		{"managed-key-happy-path", "trusted_root.production.json", []string{"--key", filepath.Join(d, "assets/bundle-verify/managed-key-happy-path/key.pub")}, ExitAllow},
		{"managed-key-wrong-key_fail", "trusted_root.production.json", []string{"--key", filepath.Join(d, "assets/bundle-verify/managed-key-wrong-key_fail/key.pub")}, ExitUsage},
	} {
		t.Run(tc.bundle, func(t *testing.T) {
			args := []string{"verify", "--offline", "--any", "--bundle", filepath.Join(d, "assets", "bundle-verify", tc.bundle, "bundle.sigstore.json"), "--trusted-root", filepath.Join(d, tc.root), a}
			if tc.extra != nil {
				args = append(args, tc.extra...)
			} else {
				args = append(args, "--certificate-identity", id, "--certificate-oidc-issuer", "https://token.actions.githubusercontent.com")
			}
			code, out, errs := airlock(t, "", args...)
			if code != tc.code {
				t.Fatalf("exit %d, expected %d\n%s%s", code, tc.code, out, errs)
			}
			checkNoFalseSuccess(t, code, out, errs)
		})
	}
}

// TestDemoExportVerifies: the airlock command the demo prints for auditors
// verifies the exported allow as printed, and refuses it after its notAfter.
func TestDemoExportVerifies(t *testing.T) {
	out := t.TempDir()
	code, stdout, errs := airlock(t, "", "demo", "--keep=false", "--out", out)
	if code != ExitAllow {
		t.Fatalf("demo: exit %d\n%s\n%s", code, stdout, errs)
	}
	_, cmd, ok := strings.Cut(stdout, "or with airlock")
	if !ok {
		t.Fatalf("the demo prints no airlock verify command:\n%s", stdout)
	}
	_, cmd, _ = strings.Cut(cmd, "&& airlock ")
	cmd = strings.ReplaceAll(cmd, "\\\n", " ")
	cmd, _, _ = strings.Cut(cmd, "\n")
	args := strings.Fields(cmd)
	// The printed command pins the policy by the digest computed from the
	// demo's policy directory: that it verifies shows the gate recorded the
	// same one.
	pin := slices.Index(args, "--policy-digest")
	if pin < 0 || pin+1 >= len(args) {
		t.Fatalf("the printed command pins no policy: %v", args)
	}
	t.Chdir(out)
	code, vout, verrs := airlock(t, "", args...)
	if code != ExitAllow || !strings.Contains(vout, "allow") {
		t.Fatalf("airlock %s: exit %d\n%s%s", strings.Join(args, " "), code, vout, verrs)
	}
	code, vout, verrs = airlock(t, "", append(args, "--at", time.Now().Add(25*time.Hour).Format(time.RFC3339))...)
	if code != ExitDeny || !strings.Contains(vout, "decision expired") {
		t.Fatalf("a day later: exit %d\n%s%s", code, vout, verrs)
	}
	other := slices.Clone(args)
	other[pin+1] = "sha256:" + strings.Repeat("0", 64)
	code, vout, verrs = airlock(t, "", other...)
	if code != ExitDeny || !strings.Contains(vout, "not one of the accepted --policy-digest") {
		t.Fatalf("another policy pinned: exit %d\n%s%s", code, vout, verrs)
	}
}

// TestDemoRevokes: the demo's last step verifies the release, revokes its
// decision, and the same verify fails naming the revocation; no token is
// printed on the way.
func TestDemoRevokes(t *testing.T) {
	code, stdout, errs := airlock(t, "", "demo", "--keep=false", "--out", t.TempDir())
	if code != ExitAllow {
		t.Fatalf("demo: exit %d\n%s\n%s", code, stdout, errs)
	}
	_, after, ok := strings.Cut(stdout, "the promotion workflow revokes the decision")
	if !ok {
		t.Fatalf("the demo does not revoke:\n%s", stdout)
	}
	_, failed, ok := strings.Cut(after, "the same verify now fails")
	if !ok || !strings.Contains(failed, "revoked at ") || !strings.Contains(failed, "by https://github.com/acme/support-agent/.github/workflows/promote.yml@refs/heads/main: QA deploy token") ||
		!strings.Contains(failed, "exit code 1") {
		t.Errorf("verify after the revocation:\n%s", after)
	}
	if strings.Contains(stdout, "::add-mask::") || strings.Contains(stdout, "eyJ") {
		t.Errorf("the demo prints a token:\n%s", stdout)
	}
}
