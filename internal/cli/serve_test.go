package cli

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/githubsim"
	"github.com/airlock-dev/airlock/internal/serve/servetest"
	"github.com/airlock-dev/airlock/internal/tufroot/tuftest"
)

// serveProcess is `airlock serve` running as the shipped binary, as a
// deployment runs it: key in a file, webhook secret in the environment.
type serveProcess struct {
	cmd    *exec.Cmd
	url    string
	stderr *strings.Builder
	done   chan error
}

func startServe(t *testing.T, e *servetest.Env, extra ...string) *serveProcess {
	t.Helper()
	bin := shippedBinary(t)
	key := filepath.Join(t.TempDir(), "app.pem")
	servetest.WriteFile(t, key, string(servetest.AppKeyPEM()))
	args := append([]string{"serve", "--config", e.Config, "--app-id", "31337", "--private-key-file", key, "--listen", "127.0.0.1:0"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"AIRLOCK_WEBHOOK_SECRET=" + string(servetest.WebhookSecret), "HOME=" + t.TempDir()}
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serveProcess{cmd: cmd, stderr: &strings.Builder{}, done: make(chan error, 1)}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			line := sc.Text()
			p.stderr.WriteString(line + "\n")
			var rec struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "serving" {
				addr <- rec.Addr
			}
		}
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
	})
	select {
	case a := <-addr:
		p.url = "http://" + a
	case err := <-p.done:
		t.Fatalf("airlock serve exited before serving: %v\n%s", err, p.stderr)
	case <-time.After(60 * time.Second):
		t.Fatalf("airlock serve did not start\n%s", p.stderr)
	}
	servetest.WaitReady(t, p.url)
	return p
}

// TestServeProcess runs `airlock serve` as GitHub calls it: a signed
// webhook for a run with a valid allow is approved, one whose decision is a
// deny is rejected, a bad signature is 401 with no GitHub call, and SIGTERM
// stops it with exit 0, having logged nothing secret.
func TestServeProcess(t *testing.T) {
	e := servetest.New(t)
	p := startServe(t, e)

	allowRun, allowSHA := e.NewRun()
	e.Publish(t, e.Allow(allowRun, allowSHA))
	denyRun, denySHA := e.NewRun()
	d := e.Allow(denyRun, denySHA)
	d.Verdict = "deny"
	e.Publish(t, d)

	for _, run := range []struct {
		id  int64
		sha string
	}{{allowRun, allowSHA}, {denyRun, denySHA}} {
		if code, _ := servetest.Deliver(t, p.url, e.Payload(t, run.id, run.sha, servetest.Environment), ""); code != http.StatusAccepted {
			t.Fatalf("webhook: expected 202, got %d\n%s", code, p.stderr)
		}
	}
	if got := e.Reviews(t, allowRun, 1); got[0].State != "approved" {
		t.Errorf("valid allow: expected approved, got %+v", got[0])
	}
	if got := e.Reviews(t, denyRun, 1); got[0].State != "rejected" || !strings.Contains(got[0].Comment, `"deny"`) {
		t.Errorf("deny: expected rejected naming the deny, got %+v", got[0])
	}

	before := len(e.Sim.Requests())
	body := e.Payload(t, allowRun, allowSHA, servetest.Environment)
	if code, _ := servetest.Deliver(t, p.url, body, githubsim.WebhookSignature([]byte("guessed-secret-0123456789"), body)); code != http.StatusUnauthorized {
		t.Errorf("bad signature: expected 401, got %d", code)
	}
	if n := len(e.Sim.Requests()) - before; n != 0 {
		t.Errorf("bad signature: expected no GitHub call, got %d", n)
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("after SIGTERM: expected exit 0, got %v\n%s", err, p.stderr)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("airlock serve did not stop on SIGTERM")
	}
	logs := p.stderr.String()
	for _, secret := range []string{string(servetest.WebhookSecret), "ghs_", "PRIVATE KEY"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q:\n%s", secret, logs)
		}
	}
	if !strings.Contains(logs, `"outcome":"approved"`) || !strings.Contains(logs, `"outcome":"rejected"`) {
		t.Errorf("logs do not record both outcomes:\n%s", logs)
	}
}

// TestServeConfigErrors: every setting is read before listening; a bad
// one is exit 2 naming it (FILE:LINE for the configuration file).
func TestServeConfigErrors(t *testing.T) {
	e := servetest.New(t)
	dir := t.TempDir()
	key := filepath.Join(dir, "app.pem")
	servetest.WriteFile(t, key, string(servetest.AppKeyPEM()))
	cfg, err := os.ReadFile(e.Config)
	if err != nil {
		t.Fatal(err)
	}
	unknown := filepath.Join(filepath.Dir(e.Config), "unknown.yaml")
	servetest.WriteFile(t, unknown, string(cfg)+"    max_agee: 2h\n")
	secretEnv := "AIRLOCK_WEBHOOK_SECRET=" + string(servetest.WebhookSecret)
	for _, c := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"unknown key", []string{secretEnv}, []string{"--config", unknown, "--app-id", "31337", "--private-key-file", key}, `unknown.yaml:15: unknown key "max_agee"`},
		{"no secret", nil, []string{"--config", e.Config, "--app-id", "31337", "--private-key-file", key}, "the webhook secret: set $AIRLOCK_WEBHOOK_SECRET"},
		{"no app id", []string{secretEnv}, []string{"--config", e.Config, "--private-key-file", key}, "--app-id"},
		{"bad key", []string{secretEnv}, []string{"--config", e.Config, "--app-id", "31337", "--private-key-file", e.Config}, "private key: expected an RSA private key"},
		{"no config", []string{secretEnv}, []string{"--app-id", "31337", "--private-key-file", key}, "--config FILE is required"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var errb strings.Builder
			env := map[string]string{}
			for _, kv := range c.env {
				k, v, _ := strings.Cut(kv, "=")
				env[k] = v
			}
			code := Main(t.Context(), append([]string{"serve", "--listen", "127.0.0.1:0"}, c.args...), func(k string) string { return env[k] },
				Stdio{In: strings.NewReader(""), Out: io.Discard, Err: &errb})
			if code != ExitUsage || !strings.Contains(errb.String(), c.want) {
				t.Errorf("expected exit %d with %q, got %d:\n%s", ExitUsage, c.want, code, errb.String())
			}
			if strings.Contains(errb.String(), `"msg":"serving"`) {
				t.Errorf("served despite the error")
			}
			if strings.Contains(errb.String(), string(servetest.WebhookSecret)) {
				t.Errorf("the secret is in the error")
			}
		})
	}
}

// TestServeManifestArgs: the arguments deploy/kubernetes.yaml gives serve
// are flags it has; what stops it here is only the missing files.
func TestServeManifestArgs(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "kubernetes.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var args []string
	in := false
	for _, line := range strings.Split(string(raw), "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "args:":
			in = true
		case in && strings.HasPrefix(trimmed, "- "):
			args = append(args, strings.TrimPrefix(trimmed, "- "))
		case in:
			in = false
		}
	}
	if len(args) < 3 || args[0] != "serve" {
		t.Fatalf("no serve args in the manifest: %q", args)
	}
	var errb strings.Builder
	code := Main(t.Context(), args, func(string) string { return "" }, Stdio{In: strings.NewReader(""), Out: io.Discard, Err: &errb})
	if code != ExitUsage || !strings.Contains(errb.String(), "--private-key-file") || strings.Contains(errb.String(), "flag provided but not defined") {
		t.Errorf("manifest args %q: expected only the missing key file to stop serve, got exit %d: %s", args, code, errb.String())
	}
}

// TestServeTUF: a rule whose trusted root comes from a TUF repository
// fetches it at startup, before serving, and decides with it.
func TestServeTUF(t *testing.T) {
	e := servetest.New(t)
	root, err := e.SS.TrustedRoot()
	if err != nil {
		t.Fatal(err)
	}
	repo := tuftest.New(t, root)
	dir := filepath.Dir(e.Config)
	servetest.WriteFile(t, filepath.Join(dir, "tuf-root.json"), string(repo.RootJSON()))
	cfg, err := os.ReadFile(e.Config)
	if err != nil {
		t.Fatal(err)
	}
	withTUF := strings.Replace(string(cfg), "    trusted_root: trusted_root.json\n", "    tuf:\n      url: "+repo.URL()+"\n      root: tuf-root.json\n", 1)
	if withTUF == string(cfg) {
		t.Fatal("the test configuration has no trusted_root line to replace")
	}
	servetest.WriteFile(t, e.Config, withTUF)
	before := repo.Requests()
	p := startServe(t, e)
	if repo.Requests() == before {
		t.Errorf("serve listened without reading the TUF repository")
	}
	run, sha := e.NewRun()
	e.Publish(t, e.Allow(run, sha))
	if code, _ := servetest.Deliver(t, p.url, e.Payload(t, run, sha, servetest.Environment), ""); code != http.StatusAccepted {
		t.Fatalf("webhook: expected 202, got %d", code)
	}
	if got := e.Reviews(t, run, 1)[0]; got.State != "approved" {
		t.Errorf("expected approved with the TUF root, got %+v", got)
	}
}
