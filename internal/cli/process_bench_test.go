package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// buildShipped builds pkg as the Makefile and Dockerfile ship airlock:
// static, no cgo, stripped. (A cgo build is dynamically linked and starts
// 5–10 ms slower, in the loader, which users never pay.)
func buildShipped(b *testing.B, pkg string, tags ...string) string {
	b.Helper()
	name := filepath.Base(pkg)
	for _, t := range tags {
		name += "-" + strings.TrimPrefix(t, name+"_")
	}
	bin := filepath.Join(b.TempDir(), name)
	build := exec.Command("go", "build", "-trimpath", "-tags", strings.Join(tags, ","), "-ldflags", "-s -w", "-o", bin, pkg)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		b.Fatalf("build %s: %v", pkg, err)
	}
	return bin
}

// BenchmarkGateProcess measures what a runner waits for: process start →
// decision written, for the real binary against githubsim on loopback (token
// request, discovery, JWKS, repository lookup, policy compile and evaluation,
// outputs and summary). Run with:
//
//	go test -run '^$' -bench GateProcess -benchtime 50x ./internal/cli/
func BenchmarkGateProcess(b *testing.B) {
	bin := buildShipped(b, "../../cmd/airlock-rego") // the image's entrypoint, as the action runs it
	r := newRun(b)
	r.sim.SetRunClaims(r.claims)
	env := os.Environ()
	for k, v := range r.env {
		env = append(env, k+"="+v)
	}
	b.ResetTimer()
	for b.Loop() {
		cmd := exec.Command(bin, "gate")
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("gate: %v\n%s", err, out)
		}
	}
}
