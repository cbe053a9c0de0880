// Package serve is `airlock serve`: a GitHub App that answers custom
// deployment protection rules. GitHub holds a job that targets a protected
// environment until the app reviews it; serve approves only when a
// verified, unexpired, unrevoked allow decision of the gate exists for that
// repository id, environment and run (or commit), made under a reviewed
// policy, and rejects everything else with a comment that says why.
//
// Trust boundary: a webhook is attacker-controlled until its
// X-Hub-Signature-256 has verified against the webhook secret (before any
// parsing); after that its fields are GitHub's word about which run waits,
// but never evidence of a decision: decisions come only from bundles that
// verify under the configured trust material and signer identity. The app's
// private key, the webhook secret and installation tokens are secrets: they
// never reach a log, a metric, a comment or an error. serve keeps no state
// of its own between deliveries: any replica gives any delivery the same
// answer, and a duplicate delivery gets the same review again.
package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/ghapi"
	"github.com/airlock-dev/airlock/internal/httpx"
)

// WebhookPath is where GitHub delivers the app's webhooks.
const WebhookPath = "/webhook"

// callbackTimeout bounds posting one review, separately from the decision's
// deadline: a decision that ran out of time is still answered (rejected).
const callbackTimeout = 30 * time.Second

// Config is everything New needs; Settings come from LoadConfig.
type Config struct {
	Settings      *Settings
	AppID         int64
	PrivateKey    []byte // PEM; a secret
	WebhookSecret []byte // a secret
	HTTPClient    *http.Client
	Logger        *slog.Logger
	Now           func() time.Time
	// GitHubOptions are passed to every GitHub client (tests: WithSleep).
	GitHubOptions []ghapi.Option
	// ShutdownTimeout bounds how long a shutdown waits for accepted
	// deliveries; 0 means twice the decision timeout plus the callback's.
	ShutdownTimeout time.Duration
}

type ruleKey struct {
	repoID int64
	env    string
}

// Server is one replica.
type Server struct {
	cfg     Config
	set     *Settings
	app     *ghapi.App
	api     *ghapi.Client // only to check callback URLs against the API host
	rules   map[ruleKey]Rule
	log     *slog.Logger
	now     func() time.Time
	metrics *metrics

	hc *http.Client // every GitHub call goes through it

	queue    chan job
	mu       sync.RWMutex // guards draining against sends on queue
	draining bool
	ready    atomic.Bool
	workers  sync.WaitGroup
}

type job struct {
	delivery string
	received time.Time
	ev       *ghapi.DeploymentProtectionRule
	runID    int64
}

// New checks the configuration and builds a replica; it serves nothing
// until Run. Its errors are configuration errors.
func New(cfg Config) (*Server, error) {
	if cfg.Settings == nil || len(cfg.Settings.Rules) == 0 {
		return nil, fault.Configf("serve: no rules")
	}
	if len(cfg.WebhookSecret) < 16 {
		return nil, fault.Configf("serve: webhook secret: expected at least 16 bytes (GitHub signs with it; a short one can be guessed)")
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = httpx.NewClient(httpx.Options{})
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	// Settings built without LoadConfig get the same defaults.
	set := *cfg.Settings
	if set.Workers <= 0 {
		set.Workers = DefaultWorkers
	}
	if set.Queue <= 0 {
		set.Queue = DefaultQueue
	}
	if set.DecisionTimeout <= 0 {
		set.DecisionTimeout = DefaultDecisionTimeout
	}
	if set.MaxBodyBytes <= 0 {
		set.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if set.APIURL == "" {
		set.APIURL = DefaultAPIURL
	}
	cfg.Settings = &set
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 2*cfg.Settings.DecisionTimeout + callbackTimeout
	}
	s := &Server{cfg: cfg, set: cfg.Settings, log: cfg.Logger, now: cfg.Now, rules: map[ruleKey]Rule{},
		queue: make(chan job, cfg.Settings.Queue)}
	s.metrics = newMetrics(func() float64 { return float64(len(s.queue)) })
	hc := *cfg.HTTPClient
	base := hc.Transport
	if base == nil {
		base = httpx.DefaultTransport()
	}
	hc.Transport = &countingTransport{next: base, m: s.metrics}
	s.hc = &hc
	var err error
	if s.app, err = ghapi.NewApp(s.set.APIURL, cfg.AppID, cfg.PrivateKey, &hc, cfg.GitHubOptions...); err != nil {
		return nil, err
	}
	if s.api, err = ghapi.NewAnonymous(s.set.APIURL, &hc, cfg.GitHubOptions...); err != nil {
		return nil, err
	}
	for _, r := range s.set.Rules {
		s.rules[ruleKey{r.RepositoryID, strings.ToLower(r.Environment)}] = r
	}
	return s, nil
}

// Handler serves the webhook, /healthz, /readyz and /metrics.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+WebhookPath, s.webhook)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { writeText(w, http.StatusOK, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !s.ready.Load() {
			writeText(w, http.StatusServiceUnavailable, "not ready")
			return
		}
		writeText(w, http.StatusOK, "ready")
	})
	mux.Handle("GET /metrics", s.metrics)
	return mux
}

func writeText(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(msg + "\n"))
}

// Run serves on ln until ctx ends (once per Server), then shuts down gracefully: no new
// deliveries are accepted (503, GitHub may redeliver), the ones already
// accepted are decided and answered, up to ShutdownTimeout; any left after
// that stay pending on GitHub (never approved) and are logged.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	work, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	for range s.set.Workers {
		s.workers.Go(func() {
			for j := range s.queue {
				s.process(work, j)
			}
		})
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	s.ready.Store(true)
	s.log.Info("serving", "addr", ln.Addr().String(), "rules", len(s.rules), "workers", s.set.Workers)

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-served:
	}
	s.ready.Store(false)
	s.mu.Lock()
	s.draining = true
	s.mu.Unlock()
	deadline, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(deadline); err != nil {
		s.log.Warn("shutdown: open connections closed", "error", err.Error())
	}
	close(s.queue)
	done := make(chan struct{})
	go func() { s.workers.Wait(); close(done) }()
	select {
	case <-done:
	case <-deadline.Done():
		stopWork()
		<-done
	}
	// Nothing is left running: the connections to GitHub go too.
	s.hc.CloseIdleConnections()
	s.log.Info("stopped")
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fault.Operationalf("serve: %w", serveErr)
	}
	return nil
}

// webhook checks the signature first, then reads only what it needs, and
// queues the decision: GitHub expects an answer within 10 seconds, and a
// decision may take longer.
func (s *Server) webhook(w http.ResponseWriter, r *http.Request) {
	delivery := r.Header.Get("X-GitHub-Delivery")
	if len(delivery) > 64 {
		delivery = delivery[:64]
	}
	log := s.log.With("delivery", delivery)
	body, err := ghapi.ValidateWebhook(w, r, s.cfg.WebhookSecret, s.set.MaxBodyBytes)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		s.metrics.webhooks.inc("too_large")
		log.Warn("webhook refused", "status", http.StatusRequestEntityTooLarge, "error", err.Error())
		writeText(w, http.StatusRequestEntityTooLarge, "body too large")
		return
	case errors.Is(err, ghapi.ErrWebhookSignature):
		s.metrics.webhooks.inc("bad_signature")
		log.Warn("webhook refused", "status", http.StatusUnauthorized, "error", err.Error())
		writeText(w, http.StatusUnauthorized, "signature does not verify")
		return
	case err != nil:
		s.metrics.webhooks.inc("malformed")
		log.Warn("webhook refused", "status", http.StatusBadRequest, "error", err.Error())
		writeText(w, http.StatusBadRequest, "malformed request")
		return
	}
	switch event := r.Header.Get("X-GitHub-Event"); event {
	case "deployment_protection_rule":
	case "ping":
		s.metrics.webhooks.inc("ping")
		writeText(w, http.StatusOK, "pong")
		return
	default:
		s.metrics.webhooks.inc("ignored")
		log.Info("webhook ignored", "event", clip(event, 64))
		writeText(w, http.StatusAccepted, "ignored")
		return
	}
	ev, err := ghapi.ParseDeploymentProtectionRule(body)
	if err == nil && ev.Action != "requested" {
		s.metrics.webhooks.inc("ignored")
		writeText(w, http.StatusAccepted, "ignored")
		return
	}
	var runID int64
	if err == nil {
		// The token goes to this URL: it must be the API's review
		// endpoint of a run of the webhook's repository.
		runID, err = s.api.CallbackRun(ev.CallbackURL, ev.Owner, ev.Repo)
	}
	if err != nil {
		// No review can be posted for it: it stays pending (never
		// approved) and the log says why.
		s.metrics.webhooks.inc("malformed")
		s.metrics.decisions.inc("pending")
		log.Error("webhook not answerable: left pending", "status", http.StatusBadRequest, "error", err.Error())
		writeText(w, http.StatusBadRequest, "malformed deployment_protection_rule")
		return
	}
	j := job{delivery: delivery, received: s.now(), ev: ev, runID: runID}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.draining {
		s.metrics.webhooks.inc("unavailable")
		writeText(w, http.StatusServiceUnavailable, "shutting down")
		return
	}
	select {
	case s.queue <- j:
	default:
		s.metrics.webhooks.inc("overloaded")
		log.Error("queue full: delivery refused (redeliver it)", "queue", cap(s.queue))
		writeText(w, http.StatusServiceUnavailable, "overloaded")
		return
	}
	s.metrics.webhooks.inc("accepted")
	writeText(w, http.StatusAccepted, "accepted")
}

// process decides one delivery and posts the review. A failure to reach
// GitHub for the token or the review leaves the rule pending: never an
// approval.
func (s *Server) process(ctx context.Context, j job) {
	ev := j.ev
	log := s.log.With("delivery", j.delivery, "repository", ev.Owner+"/"+ev.Repo, "repository_id", ev.RepositoryID,
		"environment", ev.Environment, "run_id", j.runID, "sha", ev.SHA)
	s.metrics.inflight.add(1)
	defer s.metrics.inflight.add(-1)
	finish := func(outcome string, attrs ...any) {
		d := s.now().Sub(j.received)
		s.metrics.decisions.inc(outcome)
		s.metrics.latency.observe(outcome, d.Seconds())
		attrs = append(attrs, "outcome", outcome, "duration_ms", d.Milliseconds())
		if outcome == "pending" {
			log.Error("decision left pending", attrs...)
			return
		}
		log.Info("decision", attrs...)
	}

	dctx, cancel := context.WithTimeout(ctx, s.set.DecisionTimeout)
	defer cancel()
	installation := ev.InstallationID
	if installation == 0 {
		id, err := s.app.RepoInstallation(dctx, ev.Owner, ev.Repo)
		if err != nil {
			finish("pending", "error", "find the app's installation: "+err.Error())
			return
		}
		installation = id
	}
	gh, err := s.app.Installation(dctx, installation, ev.Owner, ev.Repo)
	if err != nil {
		finish("pending", "error", err.Error())
		return
	}
	req := Request{Owner: ev.Owner, Repo: ev.Repo, RepositoryID: ev.RepositoryID, Environment: ev.Environment, RunID: j.runID, SHA: ev.SHA, Ref: ev.Ref}
	var v Verdict
	rule, ok := s.rules[ruleKey{ev.RepositoryID, strings.ToLower(ev.Environment)}]
	if !ok {
		v = reject("no rule for repository id %d (%s/%s) and environment %q in airlock serve's configuration", ev.RepositoryID, ev.Owner, ev.Repo, ev.Environment)
	} else {
		v = decide(dctx, rule, req, gh, s.now)
		if !v.Approved && dctx.Err() != nil {
			v.Reasons = append([]string{fmt.Sprintf("no decision within %s", s.set.DecisionTimeout)}, v.Reasons...)
		}
	}
	cctx, ccancel := context.WithTimeout(ctx, callbackTimeout)
	defer ccancel()
	if err := gh.ReviewCustomGate(cctx, ev.Owner, ev.Repo, j.runID, ev.Environment, v.State(), v.Comment()); err != nil {
		finish("pending", "verdict", v.State(), "reasons", v.Reasons, "error", "post the review: "+err.Error())
		return
	}
	attrs := []any{"decision", v.Decision}
	if !v.Approved {
		attrs = append(attrs, "reasons", v.Reasons)
	}
	finish(v.State(), attrs...)
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// countingTransport counts GitHub requests and records the rate limit
// left; it sees only status codes and that header.
type countingTransport struct {
	next http.RoundTripper
	m    *metrics
}

// CloseIdleConnections reaches the transport underneath.
func (t *countingTransport) CloseIdleConnections() {
	if c, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

func (t *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		t.m.github.inc("error")
		return resp, err
	}
	t.m.github.inc(strconv.Itoa(resp.StatusCode))
	if v, err := strconv.ParseFloat(resp.Header.Get("X-RateLimit-Remaining"), 64); err == nil {
		t.m.rateLeft.set(v)
	}
	return resp, nil
}
