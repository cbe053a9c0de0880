package cli

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/verify/verifytest"
)

// TestAirlockDoesNotLinkOPA holds the reason for two binaries: airlock's
// start-up must not run OPA's package initialisation (docs/BENCHMARKS.md,
// issue 16), so nothing it links may reach OPA.
func TestAirlockDoesNotLinkOPA(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", filepath.Join(repoRoot, "cmd", "airlock")).Output()
	if err != nil {
		t.Fatal(err)
	}
	var linked []string
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, "github.com/open-policy-agent/") || strings.HasSuffix(p, "/internal/engine") ||
			strings.HasSuffix(p, "/internal/policy/opa") || strings.HasSuffix(p, "/internal/grants/opa") {
			linked = append(linked, p)
		}
	}
	if len(linked) > 0 {
		t.Fatalf("cmd/airlock links %d OPA packages, among them %s: only cmd/airlock-rego may (internal/engine)", len(linked), linked[0])
	}
	out, err = exec.Command("go", "list", "-deps", filepath.Join(repoRoot, "cmd", "airlock-rego")).Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "github.com/airlock-dev/airlock/internal/engine\n") {
		t.Fatal("cmd/airlock-rego does not link internal/engine")
	}
}

// TestEveryCommandSaysWhetherItNeedsTheEngine: a command that evaluates Rego
// and is not annotated would start in airlock and fail there (exit 3, with
// noEngine's error) instead of running in airlock-rego. The table is the
// decision, made once per command; a new command fails here until it is added.
func TestEveryCommandSaysWhetherItNeedsTheEngine(t *testing.T) {
	want := map[string]string{
		"gate": "always", "check": "always", "doctor": "always", "policy": "always", "serve": "always",
		"demo": "always", "grants": "always", "verify": "policy",
		"token": "", "revoke": "", "audit": "", "version": "", "help": "", "completion": "",
	}
	root, _ := newRootCmd(func(string) string { return "" }, Stdio{In: strings.NewReader(""), Out: &bytes.Buffer{}, Err: &bytes.Buffer{}})
	for _, c := range root.Commands() {
		w, ok := want[c.Name()]
		if !ok {
			t.Errorf("command %q: not in this table; does it evaluate Rego (setNeedsEngine in newRootCmd)?", c.Name())
			continue
		}
		if got := c.Annotations[annotationEngine]; got != w {
			t.Errorf("command %q: engine annotation %q, expected %q", c.Name(), got, w)
		}
		delete(want, c.Name())
	}
	for name := range want {
		t.Errorf("command %q is in the table but not in the tree", name)
	}
	// A subcommand inherits its group's annotation.
	test, _, err := root.Find([]string{"policy", "test"})
	if err != nil || !needsEngine(test) {
		t.Errorf("policy test: needsEngine false (err %v)", err)
	}
	verifyCmd, _, _ := root.Find([]string{"verify"})
	if needsEngine(verifyCmd) {
		t.Error("verify without --policy needs the engine")
	}
	if err := verifyCmd.Flags().Set("policy", "dir"); err != nil || !needsEngine(verifyCmd) {
		t.Errorf("verify --policy: needsEngine false (err %v)", err)
	}
}

// installed copies airlock (and airlock-rego, when withEngine) into a
// directory of their own, as an install lays them out.
func installed(t *testing.T, withEngine bool) string {
	t.Helper()
	dir := t.TempDir()
	names := []string{"airlock"}
	if withEngine {
		names = append(names, "airlock-rego")
	}
	for _, name := range names {
		b, err := os.ReadFile(filepath.Join(filepath.Dir(shippedBinary(t)), name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// shell runs bin as a shell would, with env only, and returns its exit code.
func shell(t *testing.T, bin string, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append([]string{"HOME=" + t.TempDir()}, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String(), errb.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), out.String(), errb.String()
	}
	t.Fatalf("%s: %v", bin, err)
	return 0, "", ""
}

// TestDispatchAsInstalled runs the two binaries as a shell does: airlock
// runs the commands that evaluate Rego in airlock-rego, with the same
// output and exit code; without airlock-rego beside it those fail closed
// (exit 3, naming where it looked) while verify, help and version still run.
func TestDispatchAsInstalled(t *testing.T) {
	if testing.Short() {
		t.Skip("builds both binaries; skipped with -short")
	}
	both := installed(t, true)
	airlockBin, regoBin := filepath.Join(both, "airlock"), filepath.Join(both, "airlock-rego")
	policies := filepath.Join(repoRoot, "policies")
	abs, err := filepath.Abs(policies)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("same output and exit code", func(t *testing.T) {
		for _, args := range [][]string{
			{"policy", "test", abs},
			{"policy", "test", filepath.Join(t.TempDir(), "missing")}, // exit 2 from airlock-rego
			{"verify", "--offline", "--policy", filepath.Join(t.TempDir(), "missing"), "--bundle", "x.json"},
		} {
			code, out, errs := shell(t, airlockBin, nil, args...)
			wantCode, wantOut, wantErr := shell(t, regoBin, nil, args...)
			if code != wantCode || out != wantOut || errs != wantErr {
				t.Errorf("airlock %s: exit %d\n%s%s\nairlock-rego: exit %d\n%s%s", strings.Join(args, " "), code, out, errs, wantCode, wantOut, wantErr)
			}
		}
		if code, out, errs := shell(t, airlockBin, nil, "policy", "test", abs); code != ExitAllow || !strings.Contains(out, "passed") {
			t.Errorf("airlock policy test %s: exit %d\n%s%s", abs, code, out, errs)
		}
	})

	t.Run("through a symlink", func(t *testing.T) {
		link := filepath.Join(t.TempDir(), "airlock")
		if err := os.Symlink(airlockBin, link); err != nil {
			t.Fatal(err)
		}
		if code, out, errs := shell(t, link, nil, "policy", "test", abs); code != ExitAllow {
			t.Errorf("via %s: exit %d\n%s%s", link, code, out, errs)
		}
	})

	t.Run("an inherited value does not count", func(t *testing.T) {
		stale := []string{envDispatchBuild + "=airlock v0.0.1 (commit 0000, go1.0)"}
		if code, out, errs := shell(t, airlockBin, stale, "policy", "test", abs); code != ExitAllow {
			t.Errorf("with a stale %s: exit %d\n%s%s", envDispatchBuild, code, out, errs)
		}
	})

	t.Run("another build refused", func(t *testing.T) {
		code, _, errs := shell(t, regoBin, []string{envDispatchBuild + "=airlock v0.0.1 (commit 0000, go1.0)"}, "version")
		if code != ExitOperational || !strings.Contains(errs, "install both binaries from one release") || !strings.Contains(errs, "v0.0.1") {
			t.Errorf("exit %d\n%s", code, errs)
		}
	})

	alone := filepath.Join(installed(t, false), "airlock")
	t.Run("without airlock-rego", func(t *testing.T) {
		for _, args := range [][]string{
			{"policy", "test", abs},
			{"gate"},
			{"demo"},
			{"verify", "--offline", "--policy", abs, "--bundle", "x.json"},
		} {
			code, out, errs := shell(t, alone, nil, args...)
			want := filepath.Join(filepath.Dir(alone), "airlock-rego")
			if code != ExitOperational || out != "" || !strings.Contains(errs, want+" (not found)") {
				t.Errorf("airlock %s alone: exit %d, stdout %q\n%s", strings.Join(args, " "), code, out, errs)
			}
		}
		for _, args := range [][]string{{"version"}, {"gate", "--help"}, {"help", "policy", "test"}} {
			if code, out, errs := shell(t, alone, nil, args...); code != ExitAllow || out == "" {
				t.Errorf("airlock %s alone: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
			}
		}
		if code, _, errs := shell(t, alone, nil, "gate", "--no-such-flag"); code != ExitUsage || !strings.Contains(errs, "unknown flag --no-such-flag") {
			t.Errorf("a usage error is airlock's own: exit %d\n%s", code, errs)
		}
	})

	t.Run("verify runs in airlock", func(t *testing.T) {
		e := newVerifyEnv(t)
		good := e.decision(t, "allow.sigstore.json", "allow", time.Now().Add(time.Hour))
		args := []string{"verify", "--offline", "--bundle", good, "--trusted-root", e.root,
			"--certificate-identity", e.signer.SAN, "--certificate-oidc-issuer", verifytest.GitHubIssuer, e.artifact}
		if code, out, errs := shell(t, alone, nil, args...); code != ExitAllow || !strings.Contains(out, "1 verified") {
			t.Errorf("airlock verify alone: exit %d\n%s%s", code, out, errs)
		}
	})
}
