package cli

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/attest"
	"github.com/airlock-dev/airlock/internal/githubsim"
	"github.com/airlock-dev/airlock/internal/sigstoresim"
)

// signedRun is a gate run that signs keyless through an in-process Fulcio
// and timestamp authority trusting the simulator's OIDC issuer, and
// publishes to a draft release with one agent asset.
type signedRun struct {
	*gateRun
	ss        *sigstoresim.Server
	releaseID int64
	rootJSON  []byte
}

func newSignedRun(t *testing.T) *signedRun {
	t.Helper()
	r := newRun(t)
	local := newSignedRunSigstore(t, r)
	ss, root := local.ss, local.root
	rootPath := filepath.Join(r.dir, "trusted_root.json")
	if err := os.WriteFile(rootPath, root, 0o600); err != nil {
		t.Fatal(err)
	}
	id := r.sim.AddRelease("acme", "support-agent", githubsim.Release{Tag: "v1.2.0", Draft: true})
	r.sim.AddReleaseAsset("acme", "support-agent", id, githubsim.Asset{Name: "agent.tar.gz", Data: []byte("the agent, version 1.2.0")})
	r.sim.AddReleaseAsset("acme", "support-agent", id, githubsim.Asset{Name: "NOTES.md", Data: []byte("notes")})
	for k, v := range map[string]string{
		"INPUT_SIGNER":           "sigstore",
		"INPUT_FULCIO-URL":       ss.FulcioURL(),
		"INPUT_TSA-URL":          ss.TSAURL(),
		"INPUT_TRANSPARENCY-LOG": "tsa",
		"INPUT_TRUSTED-ROOT":     rootPath,
		"INPUT_RELEASE-TAG":      "v1.2.0",
		"INPUT_SUBJECTS":         "*.tar.gz",
		"GITHUB_SERVER_URL":      "https://github.example",
	} {
		r.env[k] = v
	}
	return &signedRun{gateRun: r, ss: ss, releaseID: id, rootJSON: root}
}

func (r *signedRun) assets() map[string][]byte {
	out := map[string][]byte{}
	for _, a := range r.sim.ReleaseAssets("acme", "support-agent", r.releaseID) {
		out[a.Name] = a.Data
	}
	return out
}

// maskedValues are the secrets the run masked (the tokens it obtained).
func maskedValues(stdout string) []string {
	var out []string
	for _, l := range strings.Split(stdout, "\n") {
		if v, ok := strings.CutPrefix(l, "::add-mask::"); ok && v != "" {
			out = append(out, v)
		}
	}
	return out
}

func (r *signedRun) checkNoSecrets(t *testing.T, o outcome, extra ...string) {
	t.Helper()
	secrets := append(maskedValues(o.stdout), extra...)
	if len(secrets) < 2 {
		t.Errorf("expected the job token and the signing token to be masked, got %d masked values", len(secrets))
	}
	var files []string
	_ = filepath.Walk(r.dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && filepath.Base(p) != "output" {
			files = append(files, p)
		}
		return nil
	})
	for _, a := range r.assets() {
		files = append(files, string(a))
	}
	var all strings.Builder
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil {
			all.Write(b)
		} else {
			all.WriteString(f)
		}
	}
	for _, a := range r.sim.Attestations("acme", "support-agent") {
		all.Write(a.Bundle)
	}
	r.assertNoSecrets(o, secrets...)
	for _, s := range secrets {
		if strings.Contains(all.String(), s) {
			t.Errorf("a secret (masked value) is in a written file, asset or attestation")
		}
	}
}

func readPredicate(t *testing.T, bundle []byte) *attest.Predicate {
	t.Helper()
	var b struct {
		DSSE struct {
			Payload string `json:"payload"`
		} `json:"dsseEnvelope"`
	}
	if err := json.Unmarshal(bundle, &b); err != nil {
		t.Fatal(err)
	}
	payload, err := base64.StdEncoding.DecodeString(b.DSSE.Payload)
	if err != nil {
		t.Fatal(err)
	}
	p, err := attest.DecodePredicate(payload)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAttestAllowPublishes(t *testing.T) {
	r := newSignedRun(t)
	o := r.gate()
	if o.code != ExitAllow {
		t.Fatalf("exit %d, stderr:\n%s", o.code, o.stderr)
	}
	bundle, err := os.ReadFile(o.outputs["bundle-path"])
	if err != nil {
		t.Fatalf("bundle-path %q: %v", o.outputs["bundle-path"], err)
	}
	name := filepath.Base(o.outputs["bundle-path"])
	if !strings.HasPrefix(name, "airlock-decision-production-") || !strings.HasSuffix(name, "-1.sigstore.json") {
		t.Errorf("bundle name %q", name)
	}
	assets := r.assets()
	if string(assets[name]) != strings.TrimSpace(string(bundle)) && string(assets[name]) != string(bundle) {
		t.Errorf("release asset %s differs from the written bundle", name)
	}
	if string(assets["trusted_root.json"]) != string(r.rootJSON) {
		t.Errorf("trusted root not attached: assets %v", keys(assets))
	}
	atts := r.sim.Attestations("acme", "support-agent")
	if len(atts) != 1 || o.outputs["attestation-id"] != "1" || o.outputs["attestation-url"] != "https://github.example/acme/support-agent/attestations/1" {
		t.Errorf("attestation: %d stored, outputs %v", len(atts), o.outputs)
	}
	p := readPredicate(t, bundle)
	if p.Decision != "allow" || p.Run.RunAttempt != "1" || p.Issuer.RepositoryID == "" || p.Policy.Digest != o.outputs["policy-digest"] {
		t.Errorf("predicate %+v", p)
	}
	if d := p.Validity.NotAfter.Sub(p.Validity.IssuedAt); d != time.Hour {
		t.Errorf("validity %s, expected the 1h default", d)
	}
	if len(p.Frameworks) != 3 || len(p.Controls) != 13 {
		t.Errorf("frameworks %v, %d controls", p.Frameworks, len(p.Controls))
	}
	// The bundle verifies on its own, against the trusted root written next to it.
	exp, err := attest.NewKeylessSigner(attest.KeylessConfig{
		Services: attest.Services{FulcioURL: r.ss.FulcioURL(), TSAURL: r.ss.TSAURL()}, IDToken: "a.b.c", TrustedRootJSON: assets["trusted_root.json"],
		SAN: sigstoresim.SANBase + r.claims["job_workflow_ref"].(string), Issuer: r.sim.IssuerURL(), HTTPClient: http.DefaultClient, Now: time.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := base64.StdEncoding.DecodeString(jsonField(t, bundle, "dsseEnvelope", "payload"))
	if _, err := attest.Verify(&attest.Signed{Bundle: bundle, Statement: st}, exp.Expectation(), "allow"); err != nil {
		t.Errorf("the published bundle does not verify: %v", err)
	}
	if !strings.Contains(o.summary, "Attestation (C12)") {
		t.Errorf("summary does not report the attestation:\n%s", o.summary)
	}
	r.checkNoSecrets(t, o)

	// A re-run of the same attempt replaces its own asset, keeps the others.
	o2 := r.gate()
	if o2.code != ExitAllow {
		t.Fatalf("re-run: exit %d\n%s", o2.code, o2.stderr)
	}
	after := r.assets()
	if len(after) != len(assets) || string(after[name]) == string(assets[name]) || string(after["agent.tar.gz"]) != string(assets["agent.tar.gz"]) {
		t.Errorf("re-run: assets %v (before %v)", keys(after), keys(assets))
	}
}

func jsonField(t *testing.T, b []byte, path ...string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	for _, p := range path {
		v = v.(map[string]any)[p]
	}
	s, _ := v.(string)
	return s
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestAttestDeny(t *testing.T) {
	for _, attestDeny := range []bool{false, true} {
		t.Run(map[bool]string{false: "kept", true: "published"}[attestDeny], func(t *testing.T) {
			r := newSignedRun(t)
			r.claims["environment"] = "staging"
			if attestDeny {
				r.env["INPUT_ATTEST-DENY"] = "true"
			}
			o := r.gate()
			if o.code != ExitDeny {
				t.Fatalf("exit %d, stderr:\n%s", o.code, o.stderr)
			}
			bundle, err := os.ReadFile(o.outputs["bundle-path"])
			if err != nil {
				t.Fatalf("a deny is signed and written too: %v", err)
			}
			if p := readPredicate(t, bundle); p.Decision != "deny" || len(p.Reasons) == 0 {
				t.Errorf("deny predicate: %+v", p)
			}
			published := false
			for name, data := range r.assets() {
				if strings.HasSuffix(name, ".sigstore.json") {
					published = true
					if readPredicate(t, data).Decision != "deny" {
						t.Errorf("a deny run published %s as something else", name)
					}
				}
			}
			if published != attestDeny || (len(r.sim.Attestations("acme", "support-agent")) == 1) != attestDeny {
				t.Errorf("attest-deny %v: published to the release %v, attestations %d", attestDeny, published, len(r.sim.Attestations("acme", "support-agent")))
			}
			r.checkNoSecrets(t, o)
		})
	}
}

// TestAttestDenyRemovesOwnAllow: an allow and then a deny in the same run
// attempt leave no allow on the release.
func TestAttestDenyRemovesOwnAllow(t *testing.T) {
	r := newSignedRun(t)
	if o := r.gate(); o.code != ExitAllow {
		t.Fatalf("exit %d\n%s", o.code, o.stderr)
	}
	r.claims["environment"] = "staging"
	if o := r.gate(); o.code != ExitDeny {
		t.Fatalf("exit %d\n%s", o.code, o.stderr)
	}
	for name := range r.assets() {
		if strings.HasSuffix(name, ".sigstore.json") {
			t.Errorf("%s is still on the release after this attempt's deny", name)
		}
	}
}

func TestAttestFailuresAreNotSuccess(t *testing.T) {
	tests := []struct {
		name  string
		setup func(r *signedRun)
		code  int
		want  []string
	}{
		{"fulcio 500", func(r *signedRun) { r.ss.InjectFault(sigstoresim.Fulcio, sigstoresim.Fault{Status: 500}) }, ExitOperational, []string{"not attested", "fulcio", "HTTP 500"}},
		{"fulcio refuses", func(r *signedRun) {
			r.ss.InjectFault(sigstoresim.Fulcio, sigstoresim.Fault{Status: 403, Message: "issuer not trusted"})
		}, ExitOperational, []string{"fulcio", "refused"}},
		{"fulcio timeout", func(r *signedRun) {
			r.env["INPUT_TIMEOUT"] = "4s" // the gate's deadline bounds the signing services too
			r.ss.InjectFault(sigstoresim.Fulcio, sigstoresim.Fault{Delay: 30 * time.Second})
		}, ExitOperational, []string{"not attested", "fulcio", "timeout"}},
		{"tsa 429", func(r *signedRun) { r.ss.InjectFault(sigstoresim.TSA, sigstoresim.Fault{Status: 429, RetryAfter: "0"}) }, ExitOperational, []string{"timestamp authority", "429"}},
		{"attestations API 500", func(r *signedRun) {
			r.sim.InjectFault("POST /repos/{owner}/{repo}/attestations", githubsim.Fault{Status: 500})
		}, ExitOperational, []string{"not attested", "attestation", "HTTP 500"}},
		{"upload refused", func(r *signedRun) {
			r.sim.InjectFault("POST /repos/{owner}/{repo}/releases/{release_id}/assets", githubsim.Fault{Status: 403})
		}, ExitOperational, []string{"not attested", "contents: write"}},
		{"immutable release", func(r *signedRun) {
			r.sim.AddRelease("acme", "support-agent", githubsim.Release{Tag: "v1.1.0", Immutable: true})
			r.env["INPUT_RELEASE-TAG"] = "v1.1.0"
			r.env["INPUT_SUBJECTS"] = ""
		}, ExitUsage, []string{"immutable", "draft"}},
		{"no such release", func(r *signedRun) { r.env["INPUT_RELEASE-TAG"] = "v9" }, ExitOperational, []string{"not attested", "release"}},
		{"no subject matches", func(r *signedRun) { r.env["INPUT_SUBJECTS"] = "*.whl" }, ExitUsage, []string{"subjects", "*.whl"}},
		{"untrusted root", func(r *signedRun) {
			other, err := sigstoresim.New(sigstoresim.Config{Issuer: r.sim.IssuerURL(), HTTPClient: http.DefaultClient})
			if err != nil {
				r.t.Fatal(err)
			}
			defer other.Close()
			root, _ := other.TrustedRootJSON()
			_ = os.WriteFile(r.env["INPUT_TRUSTED-ROOT"], root, 0o600)
		}, ExitOperational, []string{"not attested", "verify"}},
		{"no trusted root", func(r *signedRun) { r.env["INPUT_TRUSTED-ROOT"] = "" }, ExitUsage, []string{"trusted-root"}},
		{"bad signer", func(r *signedRun) { r.env["INPUT_SIGNER"] = "cosign" }, ExitUsage, []string{"signer"}},
		{"bad ttl", func(r *signedRun) { r.env["INPUT_DECISION-TTL"] = "forever" }, ExitUsage, []string{"decision-ttl"}},
		{"http fulcio off loopback", func(r *signedRun) { r.env["INPUT_FULCIO-URL"] = "http://fulcio.example" }, ExitUsage, []string{"fulcio-url", "https"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newSignedRun(t)
			tt.setup(r)
			o := r.gate()
			if o.code != tt.code {
				t.Fatalf("exit %d, expected %d; stderr:\n%s", o.code, tt.code, o.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(o.stderr, w) {
					t.Errorf("stderr does not mention %q:\n%s", w, o.stderr)
				}
			}
			for name := range r.assets() {
				if strings.HasSuffix(name, ".sigstore.json") && tt.name != "attestations API 500" {
					t.Errorf("published %s although attestation failed", name)
				}
			}
			if tt.name != "attestations API 500" && len(r.sim.Attestations("acme", "support-agent")) != 0 {
				t.Error("stored an attestation although attestation failed")
			}
			r.checkNoSecrets(t, o)
		})
	}
}

func TestAttestTTLAndKeySigner(t *testing.T) {
	r := newSignedRun(t)
	r.env["INPUT_DECISION-TTL"] = "5h" // more than the policy's 1h cap
	o := r.gate()
	if o.code != ExitAllow {
		t.Fatalf("exit %d\n%s", o.code, o.stderr)
	}
	b, _ := os.ReadFile(o.outputs["bundle-path"])
	if p := readPredicate(t, b); p.Validity.NotAfter.Sub(p.Validity.IssuedAt) != time.Hour {
		t.Errorf("5h not capped to 1h: %+v", p.Validity)
	}

	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	r.env["INPUT_SIGNER"] = "key"
	r.env["INPUT_SIGNING-KEY-ENV"] = "RELEASE_KEY"
	r.env["RELEASE_KEY"] = keyPEM
	r.env["INPUT_DECISION-TTL"] = "10m"
	o = r.gate()
	if o.code != ExitAllow {
		t.Fatalf("key signer: exit %d\n%s", o.code, o.stderr)
	}
	b, _ = os.ReadFile(o.outputs["bundle-path"])
	if p := readPredicate(t, b); p.Validity.NotAfter.Sub(p.Validity.IssuedAt) != 10*time.Minute {
		t.Errorf("10m: %+v", p.Validity)
	}
	if jsonField(t, b, "verificationMaterial", "publicKey", "hint") == "" {
		t.Error("key bundle has no public key hint")
	}
	if !strings.Contains(o.stdout, "::add-mask::") {
		t.Error("the key was not masked")
	}
	r.checkNoSecrets(t, o, keyPEM, strings.Split(keyPEM, "\n")[1])
}

// TestDemoExportsSignedAllow: `airlock demo --out DIR` leaves the allowed
// decision's bundle, its trusted root and its subject, and the bundle is the
// allow for that subject under that root.
func TestDemoExportsSignedAllow(t *testing.T) {
	out := t.TempDir()
	code, stdout, errs := airlock(t, "", "demo", "--keep=false", "--out", out)
	if code != ExitAllow {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, errs)
	}
	if !strings.Contains(stdout, "cosign verify-blob-attestation --bundle") {
		t.Errorf("no auditor command in the output:\n%s", stdout)
	}
	bundles, _ := filepath.Glob(filepath.Join(out, "*.sigstore.json"))
	if len(bundles) != 1 {
		t.Fatalf("bundles in %s: %v", out, bundles)
	}
	bundle, _ := os.ReadFile(bundles[0])
	root, err := os.ReadFile(filepath.Join(out, "trusted_root.json"))
	if err != nil {
		t.Fatal(err)
	}
	subject, err := os.ReadFile(filepath.Join(out, "support-agent-1.2.0.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	p := readPredicate(t, bundle)
	if p.Decision != "allow" {
		t.Errorf("exported decision %q", p.Decision)
	}
	st, _ := base64.StdEncoding.DecodeString(jsonField(t, bundle, "dsseEnvelope", "payload"))
	sum := sha256.Sum256(subject)
	if !strings.Contains(string(st), hex.EncodeToString(sum[:])) {
		t.Error("the statement does not name the exported subject's sha256")
	}
	s, err := attest.NewKeylessSigner(attest.KeylessConfig{
		Services: attest.Services{FulcioURL: "http://127.0.0.1:1", TSAURL: "http://127.0.0.1:1"}, IDToken: "a.b.c", TrustedRootJSON: root,
		SAN: "https://github.com/acme/support-agent/.github/workflows/promote.yml@refs/heads/main", Issuer: p.Issuer.Issuer,
		HTTPClient: http.DefaultClient, Now: time.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := attest.Verify(&attest.Signed{Bundle: bundle, Statement: st}, s.Expectation(), "allow"); err != nil {
		t.Errorf("the exported bundle does not verify under the exported root: %v", err)
	}
}

// TestAttestUnverifiedDeny: when the run's token does not verify there is no
// identity to sign as; the deny stands (exit 1), unsigned, and says so.
func TestAttestUnverifiedDeny(t *testing.T) {
	r := newSignedRun(t)
	r.claims["aud"] = "someone-else"
	o := r.gate()
	if o.code != ExitDeny {
		t.Fatalf("exit %d\n%s", o.code, o.stderr)
	}
	if o.outputs["attested"] != "false" || o.outputs["bundle-path"] != "" {
		t.Errorf("outputs %v", o.outputs)
	}
	if !strings.Contains(o.stdout, "decision not signed") || !strings.Contains(o.summary, "Not signed") {
		t.Errorf("the skipped signature is not reported:\n%s\n%s", o.stdout, o.summary)
	}
	if len(r.assets()) != 2 || len(r.sim.Attestations("acme", "support-agent")) != 0 {
		t.Errorf("published something for an unverified run: %v", keys(r.assets()))
	}
}
