package testsvc

import (
	"os/exec"
	"strings"
	"testing"
)

// testsvc reads the environment and starts processes: it is test harness,
// and the shipped binary must not link it.
func TestNotLinkedIntoTheBinary(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "list", "-deps", "./cmd/airlock")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	if !strings.Contains(string(out), "github.com/airlock-dev/airlock/internal/cli\n") {
		t.Fatalf("go list -deps did not list internal/cli:\n%s", out)
	}
	if strings.Contains(string(out), "github.com/airlock-dev/airlock/internal/testsvc\n") {
		t.Fatal("cmd/airlock links internal/testsvc")
	}
}
