package testsvc

import (
	"os"
	"os/exec"
	"testing"
)

// ChromiumBinary is Debian's headless-capable Chromium: $AIRLOCK_CHROMIUM,
// else chromium on PATH (scripts/tool.sh chromium installs it). Skips
// (fails under CI=true) when absent.
func ChromiumBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("AIRLOCK_CHROMIUM"); p != "" {
		return p
	}
	p, err := exec.LookPath("chromium")
	if err != nil {
		SkipOrFail(t, "chromium absent: install it once with `scripts/tool.sh chromium` (Debian's package) or set AIRLOCK_CHROMIUM")
	}
	return p
}
