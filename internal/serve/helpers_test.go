package serve_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/githubsim"
	"github.com/airlock-dev/airlock/internal/httpx"
	"github.com/airlock-dev/airlock/internal/serve"
	"github.com/airlock-dev/airlock/internal/serve/servetest"
)

// replica is one running airlock serve.
type replica struct {
	url    string
	srv    *serve.Server
	logs   *syncBuffer
	cancel context.CancelFunc
	done   chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start loads the configuration file as the command does and serves it.
func start(t testing.TB, e *servetest.Env, edit func(*serve.Config)) *replica {
	t.Helper()
	return startWith(t, e.Config, serve.Loaders{}, edit)
}

// startWith serves the configuration file at path with loaders.
func startWith(t testing.TB, path string, ld serve.Loaders, edit func(*serve.Config)) *replica {
	t.Helper()
	set, err := serve.LoadConfig(t.Context(), path, ld)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	cfg := serve.Config{Settings: set, AppID: servetest.AppID, PrivateKey: servetest.AppKeyPEM(), WebhookSecret: servetest.WebhookSecret,
		HTTPClient: httpx.NewClient(httpx.Options{}), Logger: slog.New(slog.NewJSONHandler(logs, nil))}
	if edit != nil {
		edit(&cfg)
	}
	s, err := serve.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &replica{url: "http://" + ln.Addr().String(), srv: s, logs: logs, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- s.Run(ctx, ln) }()
	t.Cleanup(func() { r.stop(t) })
	servetest.WaitReady(t, r.url)
	return r
}

func (r *replica) stop(t testing.TB) {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("serve: %v", err)
		}
		r.done <- nil // a second stop returns at once
	case <-time.After(60 * time.Second):
		t.Error("serve did not stop")
	}
}

// waitLog waits until the replica has logged substr.
func (r *replica) waitLog(t testing.TB, substr string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(r.logs.String(), substr) {
		if time.Now().After(deadline) {
			t.Fatalf("nothing logged with %q:\n%s", substr, r.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// deliverAndReview delivers body (expecting 202) and returns the review of
// run it leads to.
func (r *replica) deliverAndReview(t *testing.T, e *servetest.Env, body []byte, run int64) githubsim.DeploymentReview {
	t.Helper()
	if code, _ := servetest.Deliver(t, r.url, body, ""); code != http.StatusAccepted {
		t.Fatalf("webhook: expected 202, got %d", code)
	}
	got := e.Reviews(t, run, 1)[0]
	t.Logf("%s: %s", got.State, got.Comment)
	return got
}
