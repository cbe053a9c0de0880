package testsvc

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
)

// Versions of the Sigstore services and verifier the tests run; they match
// scripts/tool.sh and tools/*/go.mod.
const (
	FulcioVersion = "v1.8.8"
	TSAVersion    = "v2.1.3"
	CosignVersion = "v3.1.3"
)

// ToolBinary returns where scripts/tool.sh puts a tool:
// ${AIRLOCK_TOOLS:-${XDG_CACHE_HOME:-~/.cache}/airlock/tools}/<name>-<version>/<name>.
// The cache is per user, not per clone, so every clone (and CI's fresh
// clone on the same machine) builds each tool version once.
// (Test harness: reads the environment directly, unlike product code.)
func ToolBinary(name, version string) (string, error) {
	tools := os.Getenv("AIRLOCK_TOOLS")
	if tools == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return "", err
		}
		tools = filepath.Join(cache, "airlock", "tools")
	}
	return filepath.Join(tools, name+"-"+version, name), nil
}

func requireTool(t testing.TB, name, version string) string {
	t.Helper()
	bin, err := ToolBinary(name, version)
	if err != nil {
		t.Fatalf("locate %s: %v", name, err)
	}
	if _, err := os.Stat(bin); err != nil {
		SkipOrFail(t, "%s %s absent at %s: build it once with `scripts/tool.sh %s` (or `make tools`)", name, version, bin, name)
	}
	return bin
}

// process is a started server, stopped by its PID.
type process struct {
	cmd    *exec.Cmd
	exited chan error
	log    string
}

func start(t testing.TB, bin, dir string, args ...string) (*process, error) {
	return startEnv(t, bin, dir, nil, args...)
}

// startEnv is start with extra environment (GOMAXPROCS=1 …) for the server.
func startEnv(t testing.TB, bin, dir string, env []string, args ...string) (*process, error) {
	logPath := filepath.Join(dir, filepath.Base(bin)+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}, env...)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("exec %s: %w", bin, err)
	}
	p := &process{cmd: cmd, exited: make(chan error, 1), log: logPath}
	go func() { p.exited <- cmd.Wait() }()
	return p, nil
}

func (p *process) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// waitGet polls url until it answers 200 and returns the body.
func (p *process) waitGet(url string, within time.Duration) ([]byte, error) {
	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(within)
	for {
		select {
		case err := <-p.exited:
			p.exited <- err
			return nil, fmt.Errorf("exited before it was ready (%v): %s", err, tail(p.log))
		default:
		}
		if resp, err := hc.Get(url); err == nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return b, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("not ready after %s: %s", within, tail(p.log))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Fulcio is a running Fulcio (ephemeral CA, no CT log).
type Fulcio struct {
	URL   string
	Chain []*x509.Certificate // intermediates…, root (from /api/v2/trustBundle)
}

// StartFulcio starts Fulcio trusting one OIDC issuer as github-workflow with
// audience "sigstore", and stops it when the test ends.
func StartFulcio(t testing.TB, issuer string) *Fulcio {
	t.Helper()
	bin := requireTool(t, "fulcio", FulcioVersion)
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		f, err := startFulcio(t, bin, issuer)
		if err == nil {
			return f
		}
		lastErr = err
	}
	t.Fatalf("start fulcio: %v", lastErr)
	return nil
}

func startFulcio(t testing.TB, bin, issuer string) (*Fulcio, error) {
	dir := t.TempDir()
	cfg, _ := json.Marshal(map[string]any{"OIDCIssuers": map[string]any{
		issuer: map[string]any{"IssuerURL": issuer, "ClientID": "sigstore", "Type": "github-workflow"},
	}})
	cfgPath := filepath.Join(dir, "fulcio.json")
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		return nil, err
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	// Fulcio keeps its unix socket after SIGTERM; a fresh path per start.
	sock := filepath.Join(dir, "fulcio.sock")
	_ = os.Remove(sock)
	p, err := start(t, bin, dir, "serve", "--ca=ephemeralca", "--ct-log-url=", "--config-path="+cfgPath,
		"--host=127.0.0.1", "--port="+strconv.Itoa(ports[0]), "--grpc-host=127.0.0.1", "--grpc-port="+strconv.Itoa(ports[1]),
		"--metrics-port="+strconv.Itoa(ports[2]), "--legacy-unix-domain-socket="+sock)
	if err != nil {
		return nil, err
	}
	f := &Fulcio{URL: fmt.Sprintf("http://127.0.0.1:%d", ports[0])}
	body, err := p.waitGet(f.URL+"/api/v2/trustBundle", 60*time.Second)
	if err != nil {
		p.stop()
		return nil, fmt.Errorf("fulcio: %w", err)
	}
	var tb struct {
		Chains []struct {
			Certificates []string `json:"certificates"`
		} `json:"chains"`
	}
	if err := json.Unmarshal(body, &tb); err != nil || len(tb.Chains) == 0 {
		p.stop()
		return nil, fmt.Errorf("fulcio trustBundle: %v: %.200s", err, body)
	}
	for _, c := range tb.Chains[0].Certificates {
		certs, err := parsePEMCerts([]byte(c))
		if err != nil {
			p.stop()
			return nil, err
		}
		f.Chain = append(f.Chain, certs...)
	}
	t.Cleanup(func() {
		p.stop()
		_ = os.Remove(sock)
		if t.Failed() {
			t.Logf("fulcio log: %s", tail(p.log))
		}
	})
	return f, nil
}

// TSA is a running timestamp-authority (in-memory signer).
type TSA struct {
	URL   string              // the timestamp endpoint
	Chain []*x509.Certificate // leaf, intermediates…, root
}

// tsaLockPath serializes timestamp-server instances across test processes:
// its Prometheus listener is fixed at :2112, so one runs per host.
var tsaLockPath = filepath.Join(os.TempDir(), "airlock-timestamp-server-2112.lock")

// StartTSA starts a timestamp authority, holding a host-wide lock while it
// runs, and stops it when the test ends.
func StartTSA(t testing.TB) *TSA {
	t.Helper()
	bin := requireTool(t, "timestamp-server", TSAVersion)
	lock, err := os.OpenFile(tsaLockPath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatalf("tsa lock: %v", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		lock.Close()
		t.Fatalf("tsa lock: %v", err)
	}
	t.Cleanup(func() {
		_ = syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
		lock.Close()
	})
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		ts, err := startTSA(t, bin)
		if err == nil {
			return ts
		}
		lastErr = err
		time.Sleep(500 * time.Millisecond) // a previous instance may still hold :2112
	}
	t.Fatalf("start timestamp-server: %v", lastErr)
	return nil
}

func startTSA(t testing.TB, bin string) (*TSA, error) {
	dir := t.TempDir()
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	p, err := start(t, bin, dir, "serve", "--host=127.0.0.1", "--port="+strconv.Itoa(ports[0]),
		"--timestamp-signer=memory", "--disable-ntp-monitoring")
	if err != nil {
		return nil, err
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	body, err := p.waitGet(base+"/api/v1/timestamp/certchain", 60*time.Second)
	if err != nil {
		p.stop()
		return nil, fmt.Errorf("timestamp-server: %w", err)
	}
	chain, err := parsePEMCerts(body)
	if err != nil || len(chain) < 2 {
		p.stop()
		return nil, fmt.Errorf("timestamp-server certchain: %d certificates, %v", len(chain), err)
	}
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("timestamp-server log: %s", tail(p.log))
		}
	})
	return &TSA{URL: base + "/api/v1/timestamp", Chain: chain}, nil
}

func parsePEMCerts(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return out, nil
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
}

// SigstoreTrustedRoot is a trusted_root.json for a Fulcio and a TSA started
// here: no transparency logs, no CT logs.
func SigstoreTrustedRoot(f *Fulcio, ts *TSA) ([]byte, error) {
	start := time.Now().Add(-time.Hour)
	if len(f.Chain) == 0 {
		return nil, fmt.Errorf("fulcio: empty chain")
	}
	ca := &root.FulcioCertificateAuthority{Root: f.Chain[len(f.Chain)-1], Intermediates: f.Chain[:len(f.Chain)-1], ValidityPeriodStart: start, URI: f.URL}
	tsa := &root.SigstoreTimestampingAuthority{Leaf: ts.Chain[0], Root: ts.Chain[len(ts.Chain)-1], Intermediates: ts.Chain[1 : len(ts.Chain)-1], ValidityPeriodStart: start, URI: ts.URL}
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, []root.CertificateAuthority{ca}, map[string]*root.TransparencyLog{},
		[]root.TimestampingAuthority{tsa}, map[string]*root.TransparencyLog{})
	if err != nil {
		return nil, err
	}
	return tr.MarshalJSON()
}

// Cosign returns the cosign binary, built by `scripts/tool.sh cosign`.
func Cosign(t testing.TB) string {
	t.Helper()
	return requireTool(t, "cosign", CosignVersion)
}
