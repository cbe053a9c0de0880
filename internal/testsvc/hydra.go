// Package testsvc starts the real third-party servers airlock's tests talk
// to (Ory Hydra, Fulcio, timestamp-authority; cosign as a verifier) and
// small loopback simulators of documented APIs that cannot be built here
// (Vault's token API), finds the real third-party data under
// ../shared/realdata, and builds evidence sections other tests feed the
// default policy with, for tests only.
//
// Trust boundary: test code only; nothing outside _test.go files may import
// it. Every server listens on 127.0.0.1 on ports picked at start, and is
// stopped by its PID (or closed) in t.Cleanup. A missing tool binary skips
// the test with the command that builds it, except under CI=true, where it
// fails: CI must never pass by skipping.
package testsvc

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// HydraVersion is the Ory Hydra release the tests run; scripts/tool.sh and
// tools/hydra/go.mod pin the same one.
const HydraVersion = "v2.3.0"

// Hydra is a running Ory Hydra (`hydra serve all --dev`, in-memory database).
type Hydra struct {
	PublicURL string // the issuer; token, revocation, JWKS endpoints
	AdminURL  string // admin API: clients, introspection
	PID       int

	client *http.Client
	// writes serializes admin writes: Hydra's SQLite store refuses
	// concurrent ones ("Unable to serialize access due to a concurrent
	// update"), and tests create clients from parallel cases.
	writes sync.Mutex
}

// HydraOption changes how Hydra is started.
type HydraOption func(*hydraConfig)

type hydraConfig struct {
	env []string
}

// WithJWTAccessTokens makes Hydra issue JWT access tokens
// (STRATEGIES_ACCESS_TOKEN=jwt) instead of opaque ones.
func WithJWTAccessTokens() HydraOption {
	return func(c *hydraConfig) { c.env = append(c.env, "STRATEGIES_ACCESS_TOKEN=jwt") }
}

// HydraBinary returns where the Hydra binary should be: $AIRLOCK_HYDRA,
// else where scripts/tool.sh puts it (ToolBinary).
// (Test harness: reads the environment directly, unlike product code.)
func HydraBinary() (string, error) {
	if p := os.Getenv("AIRLOCK_HYDRA"); p != "" {
		return p, nil
	}
	return ToolBinary("hydra", HydraVersion)
}

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

// StartHydra starts Hydra on free loopback ports, waits until
// /health/ready answers, and stops it by PID when the test ends.
func StartHydra(t testing.TB, opts ...HydraOption) *Hydra {
	t.Helper()
	bin, err := HydraBinary()
	if err != nil {
		t.Fatalf("locate hydra: %v", err)
	}
	if _, err := os.Stat(bin); err != nil {
		SkipOrFail(t, "hydra %s absent at %s: build it once with `scripts/tool.sh hydra` (or set AIRLOCK_HYDRA)", HydraVersion, bin)
	}
	var cfg hydraConfig
	for _, o := range opts {
		o(&cfg)
	}
	var lastErr error
	// Free ports are picked by binding and releasing them; another process
	// can take one in between, so a start that loses the race is retried.
	for attempt := 0; attempt < 3; attempt++ {
		h, err := startHydra(t, bin, cfg)
		if err == nil {
			return h
		}
		lastErr = err
	}
	t.Fatalf("start hydra: %v", lastErr)
	return nil
}

func startHydra(t testing.TB, bin string, cfg hydraConfig) (*Hydra, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	pub, adm := ports[0], ports[1]
	h := &Hydra{
		PublicURL: fmt.Sprintf("http://127.0.0.1:%d", pub),
		AdminURL:  fmt.Sprintf("http://127.0.0.1:%d", adm),
		client:    &http.Client{Timeout: 10 * time.Second},
	}
	dir := t.TempDir()
	logPath := filepath.Join(dir, "hydra.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "serve", "all", "--dev", "--sqa-opt-out")
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// A clean environment: Hydra reads its whole configuration from the
	// environment, and an inherited DSN or URLS_* would change what runs.
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + dir,
		"DSN=memory",
		"SECRETS_SYSTEM=" + randomHex(24),
		"URLS_SELF_ISSUER=" + h.PublicURL,
		"SERVE_PUBLIC_HOST=127.0.0.1",
		"SERVE_PUBLIC_PORT=" + strconv.Itoa(pub),
		"SERVE_ADMIN_HOST=127.0.0.1",
		"SERVE_ADMIN_PORT=" + strconv.Itoa(adm),
		"LOG_LEVEL=warn",
	}, cfg.env...)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("exec %s: %w", bin, err)
	}
	h.PID = cmd.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		// By PID only: this process, nothing found by name.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}

	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-exited:
			return nil, fmt.Errorf("hydra exited before it was ready (%v): %s", err, tail(logPath))
		default:
		}
		if resp, err := h.client.Get(h.AdminURL + "/health/ready"); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("hydra not ready after 30s: %s", tail(logPath))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("hydra log: %s", tail(logPath))
		}
	})
	return h, nil
}

// HydraClient is an OAuth2 client registered in Hydra.
type HydraClient struct {
	ID, Secret string
}

// CreateClient registers a client_credentials client authenticating with
// client_secret_basic.
func (h *Hydra) CreateClient(t testing.TB) HydraClient {
	t.Helper()
	secret := randomHex(16)
	body, _ := json.Marshal(map[string]any{
		"client_secret":              secret,
		"grant_types":                []string{"client_credentials"},
		"token_endpoint_auth_method": "client_secret_basic",
		"scope":                      "qa",
	})
	var out struct {
		ClientID string `json:"client_id"`
	}
	h.call(t, http.MethodPost, h.AdminURL+"/admin/clients", "application/json", bytes.NewReader(body), nil, http.StatusCreated, &out)
	if out.ClientID == "" {
		t.Fatal("hydra created a client without client_id")
	}
	return HydraClient{ID: out.ClientID, Secret: secret}
}

// Token gets an access token for c with the client_credentials grant.
func (h *Hydra) Token(t testing.TB, c HydraClient) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"qa"}}.Encode()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	h.call(t, http.MethodPost, h.PublicURL+"/oauth2/token", "application/x-www-form-urlencoded", strings.NewReader(form), &c, http.StatusOK, &out)
	if out.AccessToken == "" {
		t.Fatal("hydra issued no access_token")
	}
	return out.AccessToken
}

// Revoke revokes token (RFC 7009) as client c, which must own it.
func (h *Hydra) Revoke(t testing.TB, c HydraClient, token string) {
	t.Helper()
	form := url.Values{"token": {token}}.Encode()
	h.call(t, http.MethodPost, h.RevocationURL(), "application/x-www-form-urlencoded", strings.NewReader(form), &c, http.StatusOK, nil)
}

// IntrospectionURL is Hydra's RFC 7662 endpoint (admin API, no client auth).
func (h *Hydra) IntrospectionURL() string { return h.AdminURL + "/admin/oauth2/introspect" }

// RevocationURL is Hydra's RFC 7009 endpoint (public API, client auth).
func (h *Hydra) RevocationURL() string { return h.PublicURL + "/oauth2/revoke" }

// JWKSURL is where Hydra publishes the keys that sign JWT access tokens.
func (h *Hydra) JWKSURL() string { return h.PublicURL + "/.well-known/jwks.json" }

func (h *Hydra) call(t testing.TB, method, u, ctype string, body io.Reader, auth *HydraClient, want int, out any) {
	t.Helper()
	var payload []byte
	if body != nil {
		var err error
		if payload, err = io.ReadAll(body); err != nil {
			t.Fatal(err)
		}
	}
	if method != http.MethodGet {
		h.writes.Lock()
		defer h.writes.Unlock()
	}
	// The mutex orders the harness's own writes; the code under test writes
	// too (token grants, revocations), and SQLite may still refuse one that
	// overlaps: such a refusal says nothing of the test, so it is retried.
	for attempt := 1; ; attempt++ {
		status, b := h.do(t, method, u, ctype, payload, auth)
		if status != want && attempt < 5 && strings.Contains(string(b), "concurrent update") {
			time.Sleep(time.Duration(attempt) * 50 * time.Millisecond)
			continue
		}
		if status != want {
			t.Fatalf("hydra %s %s: expected HTTP %d, got %d: %.300s", method, u, want, status, b)
		}
		if out != nil {
			if err := json.Unmarshal(b, out); err != nil {
				t.Fatalf("hydra %s %s: %v", method, u, err)
			}
		}
		return
	}
}

func (h *Hydra) do(t testing.TB, method, u, ctype string, payload []byte, auth *HydraClient) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("Accept", "application/json")
	if auth != nil {
		req.SetBasicAuth(url.QueryEscape(auth.ID), url.QueryEscape(auth.Secret))
	}
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatalf("hydra %s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b
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
