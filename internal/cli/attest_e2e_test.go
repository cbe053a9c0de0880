package cli

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/attest"
	"github.com/airlock-dev/airlock/internal/githubsim"
	"github.com/airlock-dev/airlock/internal/identity"
	"github.com/airlock-dev/airlock/internal/testsvc"
)

// TestAttestRealSigstore is the end-to-end path: the gate signs keyless
// through a real Fulcio v1.8.8 (trusting githubsim's issuer) and a real
// timestamp-authority, publishes to the draft release, and cosign v3.1.3, an
// independent verifier, accepts the bundle for the right identity and
// artifact and rejects it otherwise.
func TestAttestRealSigstore(t *testing.T) {
	r := newRun(t)
	fulcio := testsvc.StartFulcio(t, r.sim.IssuerURL())
	tsa := testsvc.StartTSA(t)
	cosign := testsvc.Cosign(t)
	root, err := testsvc.SigstoreTrustedRoot(fulcio, tsa)
	if err != nil {
		t.Fatal(err)
	}
	rootPath := filepath.Join(r.dir, "trusted_root.json")
	if err := os.WriteFile(rootPath, root, 0o600); err != nil {
		t.Fatal(err)
	}
	artifact := []byte("support-agent 1.2.0 build\n")
	id := r.sim.AddRelease("acme", "support-agent", githubsim.Release{Tag: "v1.2.0", Draft: true})
	r.sim.AddReleaseAsset("acme", "support-agent", id, githubsim.Asset{Name: "agent.tar.gz", Data: artifact})
	for k, v := range map[string]string{
		"INPUT_SIGNER": "sigstore", "INPUT_FULCIO-URL": fulcio.URL, "INPUT_TSA-URL": tsa.URL,
		"INPUT_TRANSPARENCY-LOG": "tsa", "INPUT_TRUSTED-ROOT": rootPath,
		"INPUT_RELEASE-TAG": "v1.2.0", "INPUT_SUBJECTS": "agent.tar.gz",
	} {
		r.env[k] = v
	}
	o := r.gate()
	if o.code != ExitAllow {
		t.Fatalf("exit %d; stderr:\n%s", o.code, o.stderr)
	}
	bundlePath := o.outputs["bundle-path"]
	if _, err := os.Stat(bundlePath); err != nil {
		t.Fatal(err)
	}
	(&signedRun{gateRun: r, releaseID: id}).checkNoSecrets(t, o)

	artifactPath := filepath.Join(r.dir, "agent.tar.gz")
	if err := os.WriteFile(artifactPath, artifact, 0o600); err != nil {
		t.Fatal(err)
	}
	san := "https://github.com/" + r.claims["job_workflow_ref"].(string)
	cosignVerify := func(san, artifact string) (string, error) {
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, cosign, "verify-blob-attestation", "--bundle", bundlePath, "--trusted-root", rootPath,
			"--certificate-identity", san, "--certificate-oidc-issuer", r.sim.IssuerURL(),
			"--type", attest.PredicateType, "--use-signed-timestamps",
			"--insecure-ignore-tlog=true", "--insecure-ignore-sct=true", artifact)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + r.dir, "TUF_ROOT=" + filepath.Join(r.dir, "tuf")}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := cosignVerify(san, artifactPath); err != nil || !strings.Contains(out, "Verified OK") {
		t.Fatalf("cosign rejects airlock's bundle: %v\n%s", err, out)
	}
	if out, err := cosignVerify(san+"x", artifactPath); err == nil {
		t.Errorf("cosign accepted a wrong identity:\n%s", out)
	}
	changed := filepath.Join(r.dir, "changed.tar.gz")
	if err := os.WriteFile(changed, append(artifact, '!'), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := cosignVerify(san, changed); err == nil {
		t.Errorf("cosign accepted a changed artifact:\n%s", out)
	}

	// airlock verify, the inverse of attest, reaches the same verdicts, and
	// reads the GitHub extensions the real Fulcio put in the certificate.
	repo := r.claims["repository"].(string)
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"identity", []string{"--certificate-identity", san, artifactPath}, ExitAllow},
		{"github conveniences", []string{"--repo", repo, "--signer-workflow", repo + "/.github/workflows/promote.yml", "--source-ref", "refs/heads/main", "--deny-self-hosted-runners", artifactPath}, ExitAllow},
		{"wrong identity", []string{"--certificate-identity", san + "x", artifactPath}, ExitDeny},
		{"other source ref", []string{"--repo", repo, "--source-ref", "refs/heads/dev", artifactPath}, ExitDeny},
		{"changed artifact", []string{"--certificate-identity", san, changed}, ExitDeny},
		{"after notAfter", []string{"--certificate-identity", san, "--at", time.Now().Add(2 * time.Hour).Format(time.RFC3339), artifactPath}, ExitDeny},
	} {
		args := append([]string{"verify", "--offline", "--bundle", bundlePath, "--trusted-root", rootPath, "--certificate-oidc-issuer", r.sim.IssuerURL()}, tc.args...)
		if code, out, errs := airlock(t, "", args...); code != tc.code {
			t.Errorf("airlock verify, %s: exit %d, expected %d\n%s%s", tc.name, code, tc.code, out, errs)
		}
	}
}

// BenchmarkSignLocalServices measures keyless signing against the real
// Fulcio and timestamp authority on loopback: key generation, certificate,
// DSSE signature and timestamp (what docs/BENCHMARKS.md reports).
func BenchmarkSignLocalServices(b *testing.B) {
	sim := githubsim.NewForTest(b)
	sim.Seed("acme", "support-agent")
	fulcio := testsvc.StartFulcio(b, sim.IssuerURL())
	tsa := testsvc.StartTSA(b)
	root, err := testsvc.SigstoreTrustedRoot(fulcio, tsa)
	if err != nil {
		b.Fatal(err)
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	tok, err := identity.Fetch(b.Context(), hc, sim.TokenRequestURL(), sim.TokenRequestToken(), "sigstore")
	if err != nil {
		b.Fatal(err)
	}
	claims := githubsim.DefaultRunClaims("acme", "support-agent")
	s, err := attest.NewKeylessSigner(attest.KeylessConfig{
		Services: attest.Services{FulcioURL: fulcio.URL, TSAURL: tsa.URL}, IDToken: tok, TrustedRootJSON: root,
		SAN: "https://github.com/" + claims["job_workflow_ref"].(string), Issuer: sim.IssuerURL(), HTTPClient: hc, Now: time.Now,
	})
	if err != nil {
		b.Fatal(err)
	}
	st := []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"` + strings.Repeat("a", 64) + `"}}],"predicateType":"` + attest.PredicateType + `","predicate":{"decision":"allow"}}`)
	b.ResetTimer()
	for b.Loop() {
		signed, err := s.Sign(b.Context(), st)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := attest.Verify(signed, s.Expectation(), "allow"); err != nil {
			b.Fatal(err)
		}
	}
}
