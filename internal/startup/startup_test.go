package startup

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// atInit is GOMAXPROCS once this package's variables are initialised
// (startup.go's before this file's), as cmd/airlock's main first sees it.
var atInit = runtime.GOMAXPROCS(0)

func TestDoneGivesTheProcessorsBack(t *testing.T) {
	if atInit != 1 {
		t.Fatalf("before Done: GOMAXPROCS %d, expected 1 (package init sets it)", atInit)
	}
	runtime.GOMAXPROCS(1)
	Done(func(string) string { return "7" })
	if got := runtime.GOMAXPROCS(0); got != procs {
		t.Errorf("with GOMAXPROCS set: %d after Done, expected the start-up value %d", got, procs)
	}
	runtime.GOMAXPROCS(1)
	Done(func(string) string { return "" })
	if os.Getenv("GOMAXPROCS") == "" {
		// The runtime's default is what it chose at start-up, absent the variable.
		if got := runtime.GOMAXPROCS(0); got != procs {
			t.Errorf("default restored: %d, expected %d", got, procs)
		}
	} else if got := runtime.GOMAXPROCS(0); got < 1 {
		t.Errorf("default restored: %d", got)
	}
}

// TestRunsBeforeTheDependencies guards the init order this package relies
// on: if it gains an import that sorts late, it would run after the heavy
// packages and do nothing. The shipped binary's init trace must show it
// before the packages that allocate (almost) all of the start-up memory.
func TestRunsBeforeTheDependencies(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the airlock binary; skipped with -short")
	}
	bin := filepath.Join(t.TempDir(), "airlock")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "../../cmd/airlock")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	run := exec.Command(bin, "version")
	run.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	var stderr bytes.Buffer
	run.Stderr = &stderr
	if err := run.Run(); err != nil {
		t.Fatalf("airlock version: %v\n%s", err, stderr.String())
	}
	// init PKG @T ms, C ms clock, B bytes, N allocs
	var before, total int64
	seen := false
	sc := bufio.NewScanner(&stderr)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 10 || f[0] != "init" {
			continue
		}
		if f[1] == "github.com/airlock-dev/airlock/internal/startup" {
			seen = true
		}
		n, err := strconv.ParseInt(f[7], 10, 64)
		if err != nil {
			t.Fatalf("init trace line %q: bytes: %v", sc.Text(), err)
		}
		total += n
		if !seen {
			before += n
		}
	}
	if !seen {
		t.Fatalf("internal/startup is not in the init trace:\n%s", stderr.String())
	}
	if total < 1<<20 || before*10 > total {
		t.Errorf("internal/startup ran after %d of %d bytes of package initialisation (expected under 10%%)", before, total)
	}
}
