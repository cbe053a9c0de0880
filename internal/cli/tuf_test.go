package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/sigstoresim"
	"github.com/airlock-dev/airlock/internal/tufroot/tuftest"
)

// The gate signs under a trusted root it fetched from a TUF repository
// served on loopback, publishes that root, and `airlock verify` verifies
// the bundle with the same repository, then offline from its cache.
func TestAttestAndVerifyWithTUF(t *testing.T) {
	r := newSignedRun(t)
	repo := tuftest.New(t, r.rootJSON)
	tufRoot := filepath.Join(r.dir, "tuf-root.json")
	if err := os.WriteFile(tufRoot, repo.RootJSON(), 0o600); err != nil {
		t.Fatal(err)
	}
	r.env["INPUT_TRUSTED-ROOT"] = ""
	r.env["INPUT_TUF-URL"] = repo.URL()
	r.env["INPUT_TUF-ROOT"] = tufRoot
	r.env[tufCacheEnv] = t.TempDir()
	o := r.gate()
	if o.code != ExitAllow {
		t.Fatalf("gate: exit %d, stderr:\n%s", o.code, o.stderr)
	}
	if got := r.assets()["trusted_root.json"]; string(got) != string(r.rootJSON) {
		t.Fatalf("published trusted root differs from the TUF target: %q", got)
	}
	bundle := o.outputs["bundle-path"]
	sum := sha256.Sum256([]byte("the agent, version 1.2.0"))
	cache := t.TempDir()
	args := []string{"verify", "--bundle", bundle, "--tuf-url", repo.URL(), "--tuf-root", tufRoot, "--tuf-cache", cache,
		"--certificate-oidc-issuer", r.sim.IssuerURL(), "--certificate-identity", "https://github.com/" + r.claims["job_workflow_ref"].(string), "--digest", "sha256:" + hex.EncodeToString(sum[:])}
	for _, offline := range []bool{false, true} {
		a := args
		if offline {
			repo.Close()
			a = append(a, "--offline")
		}
		code, out, errs := airlock(t, "", a...)
		checkNoFalseSuccess(t, code, out, errs)
		if code != ExitAllow {
			t.Fatalf("verify (offline=%v): exit %d\n%s\n%s", offline, code, out, errs)
		}
	}
}

func TestAttestTUFFailures(t *testing.T) {
	tests := []struct {
		name  string
		setup func(r *signedRun, repo *tuftest.Repo)
		code  int
		want  []string
	}{
		{"tampered target", func(r *signedRun, repo *tuftest.Repo) { repo.TamperTarget([]byte(`{"mediaType":"evil"}`)) }, ExitOperational, []string{"not attested", "tuf http://127.0.0.1", "hash"}},
		{"expired timestamp", func(r *signedRun, repo *tuftest.Repo) { repo.ExpireTimestamp(r.t) }, ExitOperational, []string{"not attested", "tuf http://127.0.0.1", "expired"}},
		{"unreachable", func(r *signedRun, repo *tuftest.Repo) { repo.Close() }, ExitOperational, []string{"not attested", "tuf http://127.0.0.1", "connection refused"}},
		{"unreadable tuf-root", func(r *signedRun, repo *tuftest.Repo) { r.env["INPUT_TUF-ROOT"] = filepath.Join(r.dir, "nope.json") }, ExitUsage, []string{"tuf-root", "nope.json"}},
		{"tuf-url without tuf-root", func(r *signedRun, repo *tuftest.Repo) { r.env["INPUT_TUF-ROOT"] = "" }, ExitUsage, []string{"tuf-url", "tuf-root"}},
		{"trusted-root and tuf-url", func(r *signedRun, repo *tuftest.Repo) {
			p := filepath.Join(r.dir, "trusted_root.json")
			r.env["INPUT_TRUSTED-ROOT"] = p
		}, ExitUsage, []string{"not both"}},
		{"http tuf-url off loopback", func(r *signedRun, repo *tuftest.Repo) { r.env["INPUT_TUF-URL"] = "http://tuf.example" }, ExitUsage, []string{"tuf-url", "https"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newSignedRun(t)
			repo := tuftest.New(t, r.rootJSON)
			tufRoot := filepath.Join(r.dir, "tuf-root.json")
			if err := os.WriteFile(tufRoot, repo.RootJSON(), 0o600); err != nil {
				t.Fatal(err)
			}
			r.env["INPUT_TRUSTED-ROOT"] = ""
			r.env["INPUT_TUF-URL"] = repo.URL()
			r.env["INPUT_TUF-ROOT"] = tufRoot
			r.env[tufCacheEnv] = t.TempDir()
			tt.setup(r, repo)
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
				if strings.HasSuffix(name, ".sigstore.json") {
					t.Errorf("published %s although the trusted root did not come", name)
				}
			}
			if r.ss.Requests(sigstoresim.Fulcio) != 0 {
				t.Errorf("asked Fulcio for a certificate without a trusted root")
			}
			r.checkNoSecrets(t, o)
		})
	}
}

func TestVerifyTUFExitCodes(t *testing.T) {
	e := newVerifyEnv(t)
	rootJSON, err := os.ReadFile(e.root)
	if err != nil {
		t.Fatal(err)
	}
	allow := e.decision(t, "allow.sigstore.json", "allow", time.Now().Add(24*time.Hour))
	for _, tc := range []struct {
		name    string
		setup   func(repo *tuftest.Repo)
		offline bool
		extra   []string
		code    int
		want    []string
	}{
		{name: "verified through TUF", code: ExitAllow, want: []string{"verified"}},
		{name: "tampered target", setup: func(repo *tuftest.Repo) { repo.TamperTarget([]byte(`{}`)) }, code: ExitOperational, want: []string{"tuf http://127.0.0.1", "hash"}},
		{name: "expired timestamp", setup: func(repo *tuftest.Repo) { repo.ExpireTimestamp(t) }, code: ExitOperational, want: []string{"tuf http://127.0.0.1", "expired"}},
		{name: "unreachable", setup: func(repo *tuftest.Repo) { repo.Close() }, code: ExitOperational, want: []string{"tuf http://127.0.0.1"}},
		{name: "offline, cold cache", offline: true, code: ExitUsage, want: []string{"tuf http://127.0.0.1", "--offline forbids the network"}},
		{name: "unreadable tuf-root", extra: []string{"--tuf-root", filepath.Join(e.dir, "nope.json")}, code: ExitUsage, want: []string{"--tuf-root", "nope.json"}},
		{name: "trusted-root too", extra: []string{"--trusted-root", e.root}, code: ExitUsage, want: []string{"not both"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := tuftest.New(t, rootJSON)
			tufRoot := e.write(t, "tuf-"+strings.ReplaceAll(tc.name, " ", "-")+".json", repo.RootJSON())
			if tc.setup != nil {
				tc.setup(repo)
			}
			args := []string{"verify", e.artifact, "--bundle", allow, "--repo", "acme/agent",
				"--tuf-url", repo.URL(), "--tuf-root", tufRoot, "--tuf-cache", t.TempDir()}
			if tc.offline {
				args = append(args, "--offline")
			}
			args = append(args, tc.extra...)
			before := repo.Requests()
			code, out, errs := airlock(t, "", args...)
			checkNoFalseSuccess(t, code, out, errs)
			if code != tc.code {
				t.Fatalf("exit %d, expected %d\n%s\n%s", code, tc.code, out, errs)
			}
			for _, w := range tc.want {
				if !strings.Contains(out+errs, w) {
					t.Errorf("output does not mention %q:\n%s\n%s", w, out, errs)
				}
			}
			if tc.offline && repo.Requests() != before {
				t.Errorf("offline: %d requests to the TUF repository", repo.Requests()-before)
			}
		})
	}
}

// The default trust, offline with a cold cache, names the public-good
// repository and never reaches it.
func TestVerifyDefaultTUFOfflineCold(t *testing.T) {
	e := newVerifyEnv(t)
	allow := e.decision(t, "allow.sigstore.json", "allow", time.Now().Add(24*time.Hour))
	code, out, errs := airlock(t, "", "verify", e.artifact, "--bundle", allow, "--repo", "acme/agent", "--offline", "--tuf-cache", t.TempDir())
	checkNoFalseSuccess(t, code, out, errs)
	if code != ExitUsage || !strings.Contains(errs, "tuf https://tuf-repo-cdn.sigstore.dev") || !strings.Contains(errs, "offline") {
		t.Fatalf("exit %d, expected %d naming the public-good repository\n%s", code, ExitUsage, errs)
	}
}
