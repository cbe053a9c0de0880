// Package testsvc starts the real third-party servers airlock's tests talk
// to (Fulcio, timestamp-authority) and locates verifier binaries (cosign),
// for tests only.
//
// Trust boundary: test code only; nothing outside _test.go files may import
// it. Every server listens on 127.0.0.1 on ports picked at start, and is
// stopped by its PID in t.Cleanup. A missing tool binary skips the test with
// the command that builds it, except under CI=true, where it fails: CI must
// never pass by skipping.
package testsvc

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
)

// RepoRoot walks up from the working directory to airlock's go.mod (not a
// tool module's).
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.HasPrefix(b, []byte("module github.com/airlock-dev/airlock\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("airlock's go.mod not found above the working directory")
		}
		dir = parent
	}
}

// SkipOrFail skips the test with reason, or fails it when CI=true.
func SkipOrFail(t testing.TB, format string, a ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true, so this cannot be skipped: "+format, a...)
	}
	t.Skipf(format, a...)
}

func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log)"
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}
