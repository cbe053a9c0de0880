package cli

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/airlock-dev/airlock/internal/fault"
)

// engineBinary is the binary that links the policy engine. airlock starts
// it, from its own directory only (never from PATH), for the commands that
// evaluate Rego.
const engineBinary = "airlock-rego"

// envDispatchBuild carries the dispatching airlock's build to airlock-rego,
// which refuses to run for a different build: the two are one program in
// two files, and a half-upgraded install must not mix them.
const envDispatchBuild = "AIRLOCK_DISPATCH_BUILD"

// checkDispatched refuses a start by an airlock of another build.
func checkDispatched(getenv func(string) string) error {
	want := getenv(envDispatchBuild)
	if want == "" {
		return nil
	}
	if have := buildID(); want != have {
		return fault.Operationalf("%s is %q but the airlock that started it is %q: install both binaries from one release", engineBinary, have, want)
	}
	return nil
}

// enginePath is airlock-rego beside this executable (symlinks resolved:
// a link to airlock in /usr/local/bin finds the real install).
func enginePath() (string, error) {
	self, err := os.Executable()
	if err == nil {
		self, err = filepath.EvalSymlinks(self)
	}
	if err != nil {
		return "", fault.Operationalf("find %s: %w", engineBinary, err)
	}
	name := engineBinary
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	path := filepath.Join(filepath.Dir(self), name)
	if st, err := os.Stat(path); err != nil || st.IsDir() {
		return "", fault.Operationalf("this command evaluates Rego, which %s does: expected it beside airlock at %s (not found); install both binaries (the release archive, or go install github.com/airlock-dev/airlock/cmd/...@VERSION)", engineBinary, path)
	}
	return path, nil
}

// dispatch runs airlock-rego with args and returns its exit code. When
// stdio are the process's own streams it replaces this process (execEngine:
// signals, streams and the exit code are airlock-rego's own); otherwise, as
// in a test, it runs it as a child with stdio.
func dispatch(args []string, stdio Stdio) (int, error) {
	path, err := enginePath()
	if err != nil {
		return 0, err
	}
	// Ours replaces any inherited value: with a key twice, Go's getenv
	// reads the first.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envDispatchBuild+"=") {
			env = append(env, kv)
		}
	}
	env = append(env, envDispatchBuild+"="+buildID())
	if stdio.In == os.Stdin && stdio.Out == os.Stdout && stdio.Err == os.Stderr {
		if err := execEngine(path, append([]string{path}, args...), env); err != nil {
			return 0, fault.Operationalf("start %s: %w", path, err)
		}
	}
	cmd := exec.Command(path, args...)
	cmd.Env, cmd.Stdin, cmd.Stdout, cmd.Stderr = env, stdio.In, stdio.Out, stdio.Err
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &exit) && exit.ExitCode() >= 0:
		return exit.ExitCode(), nil
	default:
		return 0, fault.Operationalf("run %s: %w", path, err)
	}
}
