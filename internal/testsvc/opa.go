package testsvc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// OPAVersion is the OPA server the tests run: the version of the OPA
// library in airlock's go.mod (scripts/tool.sh and tools/opa/go.mod pin it).
const OPAVersion = "v1.22.3"

// OPA is a running `opa run --server` with one bundle.
type OPA struct {
	URL string
	PID int

	client *http.Client
}

// OPABinary is where the OPA binary is: $AIRLOCK_OPA, else where
// scripts/tool.sh puts it. Skips (fails under CI=true) when absent.
func OPABinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("AIRLOCK_OPA"); p != "" {
		return p
	}
	return requireTool(t, "opa", OPAVersion)
}

// StartOPA serves bundle (a .tar.gz path) on a free loopback port with
// extra `opa run` flags (--verification-key …), waits until the bundle is
// activated (GET /health?bundles), and stops OPA by PID when the test ends.
func StartOPA(t testing.TB, bundle string, flags ...string) *OPA {
	t.Helper()
	return StartOPAEnv(t, nil, bundle, flags...)
}

// TryStartOPA is StartOPA that returns the error (with OPA's log) when OPA
// exits or never activates the bundle: how a test sees OPA refuse one.
func TryStartOPA(t testing.TB, bundle string, flags ...string) (*OPA, error) {
	t.Helper()
	return tryStartOPA(t, nil, bundle, flags...)
}

// StartOPAEnv is StartOPA with extra environment for the OPA process, as a
// deployment would set it (GOMAXPROCS=1: what a one-CPU container limit
// gives a Go ≥ 1.25 program).
func StartOPAEnv(t testing.TB, env []string, bundle string, flags ...string) *OPA {
	t.Helper()
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		o, err := tryStartOPA(t, env, bundle, flags...)
		if err == nil {
			return o
		}
		lastErr = err
	}
	t.Fatalf("start opa: %v", lastErr)
	return nil
}

func tryStartOPA(t testing.TB, env []string, bundle string, flags ...string) (*OPA, error) {
	t.Helper()
	bin := OPABinary(t)
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(ports[0])
	abs, err := filepath.Abs(bundle)
	if err != nil {
		return nil, err
	}
	args := append([]string{"run", "--server", "--addr", addr, "--log-level", "error", "--bundle"}, flags...)
	args = append(args, abs)
	p, err := startEnv(t, bin, t.TempDir(), env, args...)
	if err != nil {
		return nil, err
	}
	o := &OPA{URL: "http://" + addr, PID: p.cmd.Process.Pid, client: &http.Client{Timeout: 5 * time.Second}}
	if _, err := p.waitGet(o.URL+"/health?bundles", 30*time.Second); err != nil {
		p.stop()
		return nil, fmt.Errorf("opa: %w", err)
	}
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("opa log: %s", tail(p.log))
		}
	})
	return o, nil
}

// Query POSTs input to /v1/data/<path> and returns the result (nil when
// the document is undefined). Any status but 200 fails the test.
func (o *OPA) Query(t testing.TB, path string, input any) any {
	t.Helper()
	var body []byte
	if input != nil {
		var err error
		if body, err = json.Marshal(map[string]any{"input": input}); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := o.client.Post(o.URL+"/v1/data/"+path, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("opa query %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("opa query %s: status %d: %s", path, resp.StatusCode, b)
	}
	var out struct {
		Result any `json:"result"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("opa query %s: %v: %s", path, err, b)
	}
	return out.Result
}

// Client is the HTTP client the benchmark drives OPA with.
func (o *OPA) Client() *http.Client { return o.client }

// RunOPA runs the OPA binary once (`opa test …`, `opa eval …`) and returns
// its combined output.
func RunOPA(t testing.TB, args ...string) (string, error) {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(OPABinary(t), args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	out, err := cmd.CombinedOutput()
	return string(out), err
}
