package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/testsvc"
	"github.com/airlock-dev/airlock/internal/verify"
	"github.com/airlock-dev/airlock/internal/verify/verifytest"
)

// cosignArgs verifies a decision bundle the way TEST-INFRA.md documents for
// a Fulcio + TSA deployment without a transparency log.
func cosignArgs(e *verifyEnv, bundle, san string) []string {
	return []string{"verify-blob-attestation", "--bundle", bundle, "--trusted-root", e.root,
		"--certificate-identity", san, "--certificate-oidc-issuer", verifytest.GitHubIssuer,
		"--type", verify.DecisionPredicateType, "--use-signed-timestamps",
		"--insecure-ignore-tlog=true", "--insecure-ignore-sct=true", e.artifact}
}

// TestCosignAgrees: cosign, an independent verifier, reaches the same
// verdicts as airlock on the same bundles and trusted root (which also shows
// that verifytest's bundles are what a real deployment produces). cosign is
// built once by `make tools`.
func TestCosignAgrees(t *testing.T) {
	cosign := testsvc.Cosign(t)
	e := newVerifyEnv(t)
	good := e.decision(t, "allow.sigstore.json", "allow", time.Now().Add(time.Hour))
	other := e.write(t, "other.tar", []byte("not the agent\n"))
	for _, tc := range []struct {
		name     string
		san      string
		artifact string
		ok       bool
	}{
		{"right identity", e.signer.SAN, e.artifact, true},
		{"wrong identity", strings.Replace(e.signer.SAN, "main", "dev", 1), e.artifact, false},
		{"other artifact", e.signer.SAN, other, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := *e
			env.artifact = tc.artifact
			out, err := exec.Command(cosign, cosignArgs(&env, good, tc.san)...).CombinedOutput()
			if (err == nil) != tc.ok {
				t.Errorf("cosign: err %v, expected ok=%v\n%s", err, tc.ok, out)
			}
			code, aout, aerr := airlock(t, "", "verify", "--offline", "--bundle", good, "--trusted-root", e.root,
				"--certificate-identity", tc.san, "--certificate-oidc-issuer", verifytest.GitHubIssuer, tc.artifact)
			if (code == ExitAllow) != tc.ok {
				t.Errorf("airlock: exit %d, expected ok=%v\n%s%s", code, tc.ok, aout, aerr)
			}
		})
	}
}

// BenchmarkVerifyProcess is what an auditor waits for on one bundle: process
// start → verdict, on the same bundle, trusted root and artifact, for
//   - airlock: `airlock verify`;
//   - airlock-rego: the same in airlock-rego, which links OPA (the image's
//     entrypoint, and the one binary before the split);
//   - airlock-start: `airlock version`, its start-up alone;
//   - floor: testdata/floor, the smallest verifier sigstore-go allows (what
//     any verifier built on it pays: start-up plus the verification);
//   - floor+opa: the floor linking OPA's rego package (-tags floor_opa), to
//     tell OPA's share of airlock's start-up from the rest;
//   - cosign: `cosign verify-blob-attestation`.
//
// Run with:
//
//	make tools && go test -run '^$' -bench VerifyProcess -benchtime 30x ./internal/cli/
//
// With AIRLOCK_BENCH_KEEP=DIR it also leaves the programs, their inputs and
// their command lines (DIR/commands: airlock, floor, floor+opa, airlock-rego) in DIR,
// for alternated whole-process pairs outside Go.
func BenchmarkVerifyProcess(b *testing.B) {
	bin, floor := buildShipped(b, "../../cmd/airlock"), buildShipped(b, "./testdata/floor")
	floorOPA := buildShipped(b, "./testdata/floor", "floor_opa")
	rego := buildShipped(b, "../../cmd/airlock-rego")
	e := newVerifyEnv(b)
	bundle := e.decision(b, "allow.sigstore.json", "allow", time.Now().Add(time.Hour))
	run := func(name string, args ...string) {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
					b.Fatalf("%s: %v\n%s", name, err, out)
				}
			}
		})
	}
	verifyArgs := func(bin, bundle, root, artifact string) []string {
		return []string{bin, "verify", "--offline", "--bundle", bundle, "--trusted-root", root,
			"--certificate-identity", e.signer.SAN, "--certificate-oidc-issuer", verifytest.GitHubIssuer, artifact}
	}
	floorArgs := func(floor, bundle, root, artifact string) []string {
		return []string{floor, bundle, root, verifytest.GitHubIssuer, e.signer.SAN, artifact}
	}
	if dir := os.Getenv("AIRLOCK_BENCH_KEEP"); dir != "" {
		// Keep the two programs and their inputs for timing outside Go
		// (/usr/bin/time, alternated pairs): dir/commands has one command
		// line each, to run from dir.
		for _, f := range []string{bin, floor, floorOPA, rego, bundle, e.root, e.artifact} {
			data, err := os.ReadFile(f)
			if err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), data, 0o755); err != nil {
				b.Fatal(err)
			}
		}
		base := func(f string) string { return "./" + filepath.Base(f) }
		lines := strings.Join(verifyArgs(base(bin), base(bundle), base(e.root), base(e.artifact)), " ") + "\n" +
			strings.Join(floorArgs(base(floor), base(bundle), base(e.root), base(e.artifact)), " ") + "\n" +
			strings.Join(floorArgs(base(floorOPA), base(bundle), base(e.root), base(e.artifact)), " ") + "\n" +
			strings.Join(verifyArgs(base(rego), base(bundle), base(e.root), base(e.artifact)), " ") + "\n"
		if err := os.WriteFile(filepath.Join(dir, "commands"), []byte(lines), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	run("airlock", verifyArgs(bin, bundle, e.root, e.artifact)...)
	run("airlock-start", bin, "version")
	run("airlock-rego", verifyArgs(rego, bundle, e.root, e.artifact)...)
	run("floor", floorArgs(floor, bundle, e.root, e.artifact)...)
	run("floor+opa", floorArgs(floorOPA, bundle, e.root, e.artifact)...)
	run("cosign", append([]string{testsvc.Cosign(b)}, cosignArgs(e, bundle, e.signer.SAN)...)...)
}
