package testsvc

import (
	"os"
	"path/filepath"
	"testing"
)

// RealData returns ../shared/realdata/<sub> beside the repository: third-party
// material (real tokens, bundles, API descriptions) that tests read in place.
// A user's clone has no ../shared, so the test skips with the reason; under
// CI=true the data must be there and its absence fails the test.
func RealData(tb testing.TB, sub string) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("go.mod not found above the test's directory")
		}
		dir = parent
	}
	p := filepath.Join(filepath.Dir(dir), "shared", "realdata", sub)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("real test data %s is missing (CI=true: failing instead of skipping): %v", p, err)
		}
		tb.Skipf("real test data %s absent (a clone without ../shared): %v", p, err)
	}
	return p
}
