package cli

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/githubsim"
	"github.com/airlock-dev/airlock/internal/sigstoresim"
)

// revokeRun is a gate run that signed and published an allow for the
// release's agent.tar.gz, ready to revoke and verify.
type revokeRun struct {
	*signedRun
	rootPath, bundle, san string
}

func newRevokeRun(t *testing.T) *revokeRun {
	t.Helper()
	r := newSignedRun(t)
	o := r.gate()
	if o.code != ExitAllow {
		t.Fatalf("gate: exit %d\n%s", o.code, o.stderr)
	}
	r.env["GITHUB_TOKEN"] = r.sim.JobToken()
	return &revokeRun{signedRun: r, rootPath: filepath.Join(r.dir, "trusted_root.json"), bundle: o.outputs["bundle-path"],
		san: sigstoresim.SANBase + r.claims["job_workflow_ref"].(string)}
}

// revoke runs `airlock revoke` keyless, as a workflow step would.
func (r *revokeRun) revoke(args ...string) outcome {
	r.t.Helper()
	return r.main(append([]string{"revoke", "--signer", "sigstore", "--fulcio-url", r.ss.FulcioURL(), "--tsa-url", r.ss.TSAURL(),
		"--transparency-log", "tsa", "--trusted-root", r.rootPath, "--oidc-issuer", r.sim.IssuerURL()}, args...)...)
}

// verify runs `airlock verify` against the release (or other sources in args).
func (r *revokeRun) verify(args ...string) outcome {
	r.t.Helper()
	return r.main(append([]string{"verify", "--trusted-root", r.rootPath, "--certificate-identity", r.san,
		"--certificate-oidc-issuer", r.sim.IssuerURL()}, args...)...)
}

const release = "acme/support-agent@v1.2.0"

// onRelease verifies the release's gated asset (NOTES.md is not gated).
var onRelease = []string{"--release", release, "--assets", "*.tar.gz"}

func TestRevokeThenVerifyFails(t *testing.T) {
	r := newRevokeRun(t)
	if o := r.verify(onRelease...); o.code != ExitAllow {
		t.Fatalf("before revoking: exit %d\n%s%s", o.code, o.stdout, o.stderr)
	}
	o := r.revoke("--release", release, "--reason", "QA token seen in production logs")
	if o.code != ExitAllow {
		t.Fatalf("revoke: exit %d\n%s%s", o.code, o.stdout, o.stderr)
	}
	var revName string
	for name := range r.assets() {
		if strings.HasPrefix(name, "airlock-revocation-") && strings.HasSuffix(name, ".sigstore.json") {
			revName = name
		}
	}
	if revName == "" || len(r.sim.Attestations("acme", "support-agent")) != 2 {
		t.Fatalf("revocation not published next to the decision: assets %v, %d stored", keys(r.assets()), len(r.sim.Attestations("acme", "support-agent")))
	}
	r.checkNoSecrets(t, o)

	want := "by " + r.san + ": QA token seen in production logs"
	v := r.verify(onRelease...)
	if v.code != ExitDeny || !strings.Contains(v.stderr, "revoked at ") || !strings.Contains(v.stderr, want) {
		t.Errorf("verify --release after revoking: exit %d, expected exit 1 naming %q\n%s%s", v.code, want, v.stdout, v.stderr)
	}
	if !strings.Contains(v.stdout, revName+": counted") {
		t.Errorf("the table does not show the revocation:\n%s", v.stdout)
	}
	// The attestation store: the revocation's subjects include the agent's digest.
	digest := "sha256:" + sha256Hex(r.assets()["agent.tar.gz"])
	if s := r.verify("--repo", "acme/support-agent", "--digest", digest); s.code != ExitDeny || !strings.Contains(s.stderr, want) {
		t.Errorf("verify via the attestation store: exit %d\n%s%s", s.code, s.stdout, s.stderr)
	}
	// Offline: the decision alone verifies; with --revocations it does not.
	revDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(revDir, revName), r.assets()[revName], 0o600); err != nil {
		t.Fatal(err)
	}
	if s := r.verify("--offline", "--bundle", r.bundle, "--digest", digest); s.code != ExitAllow {
		t.Errorf("offline without revocations: exit %d\n%s%s", s.code, s.stdout, s.stderr)
	}
	if s := r.verify("--offline", "--bundle", r.bundle, "--digest", digest, "--revocations", revDir); s.code != ExitDeny || !strings.Contains(s.stderr, want) {
		t.Errorf("offline --revocations: exit %d\n%s%s", s.code, s.stdout, s.stderr)
	}
	// JSON says the same.
	j := r.verify("--offline", "--bundle", r.bundle, "--digest", digest, "--revocations", revDir, "--format", "json")
	var rep struct {
		Bundles []struct {
			Revoked *struct{ Reason, By string }
		}
		Revocations []struct{ Counted bool }
	}
	if err := json.Unmarshal([]byte(j.stdout), &rep); err != nil || len(rep.Bundles) != 1 || rep.Bundles[0].Revoked == nil ||
		rep.Bundles[0].Revoked.By != r.san || len(rep.Revocations) != 1 || !rep.Revocations[0].Counted {
		t.Errorf("json: %v\n%s", err, j.stdout)
	}
}

func TestRevokeByTheWrongIdentityIsIgnored(t *testing.T) {
	r := newRevokeRun(t)
	// Another workflow of the same repository revokes.
	r.claims["job_workflow_ref"] = "acme/support-agent/.github/workflows/other.yml@refs/heads/main"
	if o := r.revoke("--bundle", r.bundle, "--repo", "acme/support-agent", "--reason", "not mine to revoke", "--out", t.TempDir()); o.code != ExitAllow {
		t.Fatalf("revoke: exit %d\n%s%s", o.code, o.stdout, o.stderr)
	}
	digest := "sha256:" + sha256Hex(r.assets()["agent.tar.gz"])
	v := r.verify("--repo", "acme/support-agent", "--digest", digest)
	if v.code != ExitAllow || !strings.Contains(v.stdout, "is not the decision's signer") || !strings.Contains(v.stdout, "other.yml") {
		t.Errorf("a revocation by another workflow: exit %d, expected 0 with the revocation reported and ignored\n%s%s", v.code, v.stdout, v.stderr)
	}
	// Named as a revoker, it counts.
	v = r.verify("--repo", "acme/support-agent", "--digest", digest, "--revoker-workflow", "acme/support-agent/.github/workflows/other.yml")
	if v.code != ExitDeny || !strings.Contains(v.stderr, "not mine to revoke") {
		t.Errorf("--revoker-workflow: exit %d\n%s%s", v.code, v.stdout, v.stderr)
	}
	if v := r.verify("--repo", "acme/support-agent", "--digest", digest, "--revoker-identity", sigstoresim.SANBase+"acme/support-agent/.github/workflows/other.yml@refs/heads/main",
		"--revoker-oidc-issuer", r.sim.IssuerURL()); v.code != ExitDeny {
		t.Errorf("--revoker-identity: exit %d\n%s%s", v.code, v.stdout, v.stderr)
	}
}

func TestRevokeTamperedRevocationIsReported(t *testing.T) {
	r := newRevokeRun(t)
	out := t.TempDir()
	if o := r.revoke("--bundle", r.bundle, "--reason", "the original reason", "--out", out, "--publish-attestation=false"); o.code != ExitAllow {
		t.Fatalf("revoke: exit %d\n%s%s", o.code, o.stdout, o.stderr)
	}
	if n := len(r.sim.Attestations("acme", "support-agent")); n != 1 {
		t.Errorf("--publish-attestation=false stored it anyway (%d records)", n)
	}
	files, _ := filepath.Glob(filepath.Join(out, "airlock-revocation-*.sigstore.json"))
	if len(files) != 1 {
		t.Fatalf("revocation files %v", files)
	}
	raw, _ := os.ReadFile(files[0])
	var b map[string]any
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	env := b["dsseEnvelope"].(map[string]any)
	payload, _ := base64.StdEncoding.DecodeString(env["payload"].(string))
	env["payload"] = base64.StdEncoding.EncodeToString([]byte(strings.Replace(string(payload), "the original reason", "a forged reason!!!!", 1)))
	forged, _ := json.Marshal(b)
	if err := os.WriteFile(files[0], forged, 0o600); err != nil {
		t.Fatal(err)
	}
	digest := "sha256:" + sha256Hex(r.assets()["agent.tar.gz"])
	v := r.verify("--offline", "--bundle", r.bundle, "--digest", digest, "--revocations", out)
	if v.code != ExitAllow || !strings.Contains(v.stdout, "does not verify") || strings.Contains(v.stdout+v.stderr, "forged reason") {
		t.Errorf("tampered revocation: exit %d, expected 0 with it reported\n%s%s", v.code, v.stdout, v.stderr)
	}
}

func TestVerifySupersededAndLatest(t *testing.T) {
	r := newRevokeRun(t)
	first := filepath.Base(r.bundle)
	time.Sleep(1100 * time.Millisecond) // issuedAt has a resolution of one second
	r.claims["run_id"] = "4242"
	r.sim.AddRunApproval("acme", "support-agent", 4242, githubsim.Approval{State: "approved", Comment: "again",
		User: githubsim.User{Login: githubsim.DefaultApprover, ID: githubsim.DefaultApproverID}, Environments: []string{githubsim.DefaultEnvironment}})
	if o := r.gate(); o.code != ExitAllow {
		t.Fatalf("second gate: exit %d\n%s", o.code, o.stderr)
	}
	v := r.verify(onRelease...)
	if v.code != ExitAllow || !strings.Contains(v.stdout, first+": superseded by "+release+"/airlock-decision-production-4242-") {
		t.Errorf("superseded: exit %d\n%s%s", v.code, v.stdout, v.stderr)
	}
	v = r.verify(append(onRelease, "--latest")...)
	if v.code != ExitDeny || !strings.Contains(v.stdout, "--latest accepts only the newest allow") {
		t.Errorf("--latest: exit %d\n%s%s", v.code, v.stdout, v.stderr)
	}
	// Revoking the older one: --latest and the revocation both fail it.
	if o := r.revoke("--release", release, "--decision", first, "--reason", "old"); o.code != ExitAllow {
		t.Fatalf("revoke --decision: exit %d\n%s%s", o.code, o.stdout, o.stderr)
	}
	if v := r.verify(onRelease...); v.code != ExitDeny || !strings.Contains(v.stderr, first+": revoked at") {
		t.Errorf("after revoking the older: exit %d\n%s%s", v.code, v.stdout, v.stderr)
	}
	// Two decisions on the release: revoke must be told which.
	if o := r.revoke("--release", release, "--reason", "which?"); o.code != ExitUsage || !strings.Contains(o.stderr, "--decision") {
		t.Errorf("ambiguous release: exit %d\n%s", o.code, o.stderr)
	}
}

func TestRevokeBadFlags(t *testing.T) {
	r := newSignedRun(t)
	r.env["GITHUB_TOKEN"] = r.sim.JobToken()
	bundle := filepath.Join(r.dir, "decision.json")
	if err := os.WriteFile(bundle, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	r.env["REVOKE_KEY"] = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	r.env["NOT_A_KEY"] = "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n"
	ok := []string{"--signer", "key", "--signing-key-env", "REVOKE_KEY", "--bundle", bundle, "--out", r.dir}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no reason", ok, "--reason"},
		{"blank reason", append([]string{"--reason", "  "}, ok...), "--reason"},
		{"control bytes in reason", append([]string{"--reason", "a\x1bb"}, ok...), "--reason"},
		{"no signer", []string{"--reason", "r", "--bundle", bundle}, "--signer"},
		{"signer none", []string{"--reason", "r", "--signer", "none", "--bundle", bundle}, "--signer"},
		{"no decision", []string{"--reason", "r", "--signer", "key", "--signing-key-env", "REVOKE_KEY"}, "exactly one of"},
		{"two decisions", append([]string{"--reason", "r", "--release", release}, ok...), "exactly one of"},
		{"bad release", []string{"--reason", "r", "--signer", "key", "--signing-key-env", "REVOKE_KEY", "--release", "acme@v1"}, "--release"},
		{"digest without repo", []string{"--reason", "r", "--signer", "key", "--signing-key-env", "REVOKE_KEY", "--digest", "sha256:" + strings.Repeat("a", 64)}, "--repo"},
		{"digest not sha256", []string{"--reason", "r", "--signer", "key", "--signing-key-env", "REVOKE_KEY", "--repo", "acme/support-agent", "--digest", "md5:aa"}, "--digest"},
		{"decision with bundle", append([]string{"--reason", "r", "--decision", "x"}, ok...), "--decision"},
		{"empty key variable", []string{"--reason", "r", "--signer", "key", "--signing-key-env", "NOPE", "--bundle", bundle}, "NOPE"},
		{"missing bundle", []string{"--reason", "r", "--signer", "key", "--signing-key-env", "REVOKE_KEY", "--bundle", filepath.Join(r.dir, "nope.json")}, "--bundle"},
		{"out not a directory", []string{"--reason", "r", "--signer", "key", "--signing-key-env", "REVOKE_KEY", "--bundle", bundle, "--out", bundle}, "--out"},
		{"unknown flag", append([]string{"--reason", "r", "--nope"}, ok...), "nope"},
		{"bad timeout", append([]string{"--reason", "r", "--timeout", "1h"}, ok...), "--timeout"},
		{"bad transparency log", []string{"--reason", "r", "--transparency-log", "maybe", "--signer", "sigstore", "--bundle", bundle}, "transparency-log"},
		{"not a decision", append([]string{"--reason", "r"}, ok...), "decision bundle"},
		{"not a key", []string{"--reason", "r", "--signer", "key", "--signing-key-env", "NOT_A_KEY", "--bundle", bundle}, "NOT_A_KEY"},
		{"not a trusted root", []string{"--reason", "r", "--signer", "sigstore", "--trusted-root", bundle, "--bundle", bundle}, "--trusted-root"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := len(r.sim.Requests())
			o := r.main(append([]string{"revoke"}, tc.args...)...)
			if o.code != ExitUsage || !strings.Contains(o.stderr, tc.want) {
				t.Errorf("exit %d, expected 2 naming %q\n%s", o.code, tc.want, o.stderr)
			}
			// In a workflow the key is masked (::add-mask::); nowhere else may it appear.
			var shown []string
			for _, l := range strings.Split(o.stdout+o.stderr, "\n") {
				if !strings.HasPrefix(l, "::add-mask::") {
					shown = append(shown, l)
				}
			}
			if all := strings.Join(shown, "\n"); strings.Contains(all, "bm90IGEga2V5") || strings.Contains(all, strings.Split(r.env["REVOKE_KEY"], "\n")[1]) {
				t.Errorf("a key was printed:\n%s%s", o.stdout, o.stderr)
			}
			if got := r.sim.Requests()[n:]; len(got) > 0 {
				t.Errorf("requests before the configuration was refused: %+v", got)
			}
		})
	}
	// Keyless outside a workflow, and publishing without a token.
	delete(r.env, "ACTIONS_ID_TOKEN_REQUEST_URL")
	if o := r.main("revoke", "--reason", "r", "--signer", "sigstore", "--trusted-root", filepath.Join(r.dir, "trusted_root.json"), "--bundle", bundle); o.code != ExitUsage || !strings.Contains(o.stderr, "ACTIONS_ID_TOKEN_REQUEST_URL") {
		t.Errorf("keyless without a job token: exit %d\n%s", o.code, o.stderr)
	}
	delete(r.env, "GITHUB_TOKEN")
	if o := r.main(append([]string{"revoke", "--reason", "r", "--repo", "acme/support-agent"}, ok...)...); o.code != ExitUsage || !strings.Contains(o.stderr, "GITHUB_TOKEN") {
		t.Errorf("publishing without a token: exit %d\n%s", o.code, o.stderr)
	}

	// verify's revocation flags.
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"missing --revocations", []string{"--revocations", filepath.Join(r.dir, "nope")}, "revocations"},
		{"issuer alone", []string{"--revoker-oidc-issuer", "https://x"}, "--revoker-oidc-issuer"},
		{"bad revoker workflow", []string{"--revoker-workflow", "acme"}, "--signer-workflow"},
	} {
		t.Run("verify "+tc.name, func(t *testing.T) {
			o := r.main(append([]string{"verify", "--offline", "--trusted-root", filepath.Join(r.dir, "trusted_root.json"), "--bundle", bundle,
				"--repo", "acme/support-agent", "--digest", "sha256:" + strings.Repeat("a", 64)}, tc.args...)...)
			if o.code != ExitUsage || !strings.Contains(o.stderr, tc.want) {
				t.Errorf("exit %d, expected 2 naming %q\n%s", o.code, tc.want, o.stderr)
			}
		})
	}
}

// TestRevokeWithAKey: `--signer key` signs (timestamped, as the gate's key
// signer), outside a workflow; a verifier trusting the keyless workflow
// reports the key's revocation and ignores it.
func TestRevokeWithAKey(t *testing.T) {
	r := newRevokeRun(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	pemKey := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	r.env["REVOKE_KEY"] = pemKey
	// Outside a workflow: no job token, and nobody reads ::add-mask::.
	delete(r.env, "ACTIONS_ID_TOKEN_REQUEST_URL")
	delete(r.env, "GITHUB_ACTIONS")
	out := t.TempDir()
	o := r.main("revoke", "--signer", "key", "--signing-key-env", "REVOKE_KEY", "--tsa-url", r.ss.TSAURL(), "--trusted-root", r.rootPath,
		"--bundle", r.bundle, "--reason", "key holder says so", "--out", out)
	if o.code != ExitAllow || !strings.Contains(o.stdout, " as key:") {
		t.Fatalf("revoke --signer key: exit %d\n%s%s", o.code, o.stdout, o.stderr)
	}
	if strings.Contains(o.stdout+o.stderr, "PRIVATE KEY") || strings.Contains(o.stdout, "::add-mask::") {
		t.Errorf("the key or a mask line was printed outside a workflow:\n%s", o.stdout)
	}
	digest := "sha256:" + sha256Hex(r.assets()["agent.tar.gz"])
	v := r.verify("--offline", "--bundle", r.bundle, "--digest", digest, "--revocations", out)
	if v.code != ExitAllow || !strings.Contains(v.stdout, "revocations (1 read)") || !strings.Contains(v.stdout, "ignored") {
		t.Errorf("a key's revocation of a keyless decision: exit %d\n%s%s", v.code, v.stdout, v.stderr)
	}
}

// TestRevokeImmutableRelease: a published immutable release cannot take the
// revocation; revoke refuses before it signs anything, and says what to do.
func TestRevokeImmutableRelease(t *testing.T) {
	r := newRevokeRun(t)
	b, err := os.ReadFile(r.bundle)
	if err != nil {
		t.Fatal(err)
	}
	id := r.sim.AddRelease("acme", "support-agent", githubsim.Release{Tag: "v9.0.0", Immutable: true})
	r.sim.AddReleaseAsset("acme", "support-agent", id, githubsim.Asset{Name: filepath.Base(r.bundle), Data: b})
	out := t.TempDir()
	o := r.revoke("--release", "acme/support-agent@v9.0.0", "--reason", "too late", "--out", out)
	if o.code != ExitUsage || !strings.Contains(o.stderr, "immutable") || !strings.Contains(o.stderr, "--publish-release=false") {
		t.Errorf("immutable release: exit %d\n%s", o.code, o.stderr)
	}
	if files, _ := os.ReadDir(out); len(files) > 0 || len(r.sim.Attestations("acme", "support-agent")) != 1 {
		t.Errorf("something was signed or published: %v", files)
	}
	if o := r.revoke("--release", "acme/support-agent@v9.0.0", "--reason", "too late", "--out", out, "--publish-release=false"); o.code != ExitAllow ||
		len(r.sim.Attestations("acme", "support-agent")) != 2 {
		t.Errorf("--publish-release=false: exit %d\n%s%s", o.code, o.stdout, o.stderr)
	}
}
