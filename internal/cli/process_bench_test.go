package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// BenchmarkGateProcess measures what a runner waits for: process start →
// decision written, for the real binary against githubsim on loopback (token
// request, discovery, JWKS, repository lookup, policy compile and evaluation,
// outputs and summary). Run with:
//
//	go test -run '^$' -bench GateProcess -benchtime 50x ./internal/cli/
func BenchmarkGateProcess(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "airlock")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "../../cmd/airlock")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		b.Fatal(err)
	}
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
