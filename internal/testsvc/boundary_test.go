package testsvc

import (
	"os/exec"
	"strings"
	"testing"
)

// testsvc reads the environment and starts processes: it is test harness,
// and the shipped binaries must not link it.
func TestNotLinkedIntoTheBinary(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, main := range []string{"./cmd/airlock", "./cmd/airlock-rego"} {
		cmd := exec.Command("go", "list", "-deps", main)
		cmd.Dir = root
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list %s: %v", main, err)
		}
		if !strings.Contains(string(out), "github.com/airlock-dev/airlock/internal/cli\n") {
			t.Fatalf("go list -deps %s did not list internal/cli:\n%s", main, out)
		}
		if strings.Contains(string(out), "github.com/airlock-dev/airlock/internal/testsvc\n") {
			t.Fatalf("%s links internal/testsvc", main)
		}
	}
}
