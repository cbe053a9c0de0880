package testsvc

import "testing"

// KoVersion is the image builder's version; it matches tools/ko/go.mod and
// scripts/tool.sh.
const KoVersion = "v0.18.1"

// KoBinary is where scripts/tool.sh puts ko. Skips (fails under CI=true)
// when absent.
func KoBinary(t testing.TB) string {
	t.Helper()
	return requireTool(t, "ko", KoVersion)
}
