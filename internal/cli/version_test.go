package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionLineFromBuildInfo(t *testing.T) {
	// What `go install github.com/airlock-dev/airlock/cmd/airlock@v1.2.3` records.
	info := &debug.BuildInfo{
		GoVersion: "go1.26.0",
		Main:      debug.Module{Path: "github.com/airlock-dev/airlock", Version: "v1.2.3"},
		Settings:  []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"}},
	}
	got := versionLine(info, true)
	want := "airlock v1.2.3 (commit 0123456789abcdef0123456789abcdef01234567, go1.26.0)\n"
	if got != want {
		t.Fatalf("versionLine = %q, want %q", got, want)
	}
	// A module proxy build has no VCS settings: the commit is said to be unknown, not empty.
	info.Settings = nil
	if got := versionLine(info, true); !strings.Contains(got, "v1.2.3 (commit unknown, go1.26.0)") {
		t.Fatalf("versionLine without vcs = %q", got)
	}
	// A local `go run` is "(devel)": the -ldflags default stays.
	info.Main.Version = "(devel)"
	if got := versionLine(info, true); !strings.HasPrefix(got, "airlock dev ") {
		t.Fatalf("versionLine for (devel) = %q", got)
	}
	if got := versionLine(nil, false); !strings.Contains(got, runtime.Version()) {
		t.Fatalf("versionLine without build info = %q, want the runtime's Go version", got)
	}
}

// The -ldflags values that make build and the release set win over build info.
func TestVersionLdflags(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	bin := filepath.Join(t.TempDir(), "airlock")
	cmd := exec.Command("go", "build", "-o", bin, "-ldflags",
		"-X github.com/airlock-dev/airlock/internal/cli.Version=v9.8.7 -X github.com/airlock-dev/airlock/internal/cli.Commit=abc123",
		"github.com/airlock-dev/airlock/cmd/airlock")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatalf("airlock version: %v", err)
	}
	want := "airlock v9.8.7 (commit abc123, " + runtime.Version() + ")\n"
	if string(out) != want {
		t.Fatalf("airlock version = %q, want %q", out, want)
	}
}
