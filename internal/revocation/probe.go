package revocation

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/airlock-dev/airlock/internal/httpx"
)

// Defaults for Options.
const (
	DefaultMaxBody       = 1 << 20 // 1 MiB: an introspection answer is a few hundred bytes
	DefaultBackoff       = 200 * time.Millisecond
	DefaultMaxRetryAfter = 10 * time.Second
	// MaxAttempts bounds every request: one try and two retries, and only
	// for transient failures (network errors, 5xx, 429).
	MaxAttempts = httpx.MaxAttempts
)

// Options configures the checkers. Client is required and must have a
// Timeout: it bounds each attempt, the CheckAll deadline bounds them all.
type Options struct {
	Client *http.Client
	// Now is the clock (JWT expiry, CheckedAt); nil means time.Now.
	Now func() time.Time
	// ReadFile reads jwks-file and deny-list files; nil means os.ReadFile.
	ReadFile func(string) ([]byte, error)
	// MaxBody caps every response body; 0 means DefaultMaxBody.
	MaxBody int64
	// Backoff is the delay before the first retry, doubled for the next
	// and jittered to between half and all of it (httpx.Retry); 0 means
	// DefaultBackoff.
	Backoff time.Duration
	// MaxRetryAfter caps how long a server's Retry-After is honoured; a
	// longer request ends the retries. 0 means DefaultMaxRetryAfter.
	MaxRetryAfter time.Duration
	// UserAgent is sent with every request; empty means "airlock".
	UserAgent string
}

// NewCheckers returns a Checker for every Kind sharing one HTTP prober.
func NewCheckers(o Options) (Checkers, error) {
	p, err := newProber(o)
	if err != nil {
		return Checkers{}, err
	}
	read := o.ReadFile
	if read == nil {
		read = os.ReadFile
	}
	return Checkers{Now: p.now, ByKind: map[Kind]Checker{
		KindOAuth2:      &OAuth2Checker{http: p},
		KindGitHubToken: &GitHubTokenChecker{http: p},
		KindVault:       &VaultChecker{http: p},
		KindJWT:         &JWTChecker{http: p, readFile: read},
	}}, nil
}

// prober is the HTTP client every checker shares: no redirects, capped
// bodies, bounded retries of transient failures only.
type prober struct {
	client        *http.Client
	now           func() time.Time
	maxBody       int64
	backoff       time.Duration
	maxRetryAfter time.Duration
	userAgent     string
}

func newProber(o Options) (*prober, error) {
	if o.Client == nil {
		return nil, errors.New("revocation: no http client")
	}
	if o.Client.Timeout <= 0 {
		return nil, errors.New("revocation: the http client has no timeout")
	}
	// A copy, so the caller's client is left alone. Redirects are answers
	// too: an endpoint that redirects is misconfigured or not the issuer,
	// and following a 307 would re-send the token elsewhere.
	p := &prober{client: httpx.Harden(o.Client, httpx.NoRedirects), now: o.Now, maxBody: o.MaxBody, backoff: o.Backoff, maxRetryAfter: o.MaxRetryAfter, userAgent: o.UserAgent}
	if p.now == nil {
		p.now = time.Now
	}
	if p.maxBody <= 0 {
		p.maxBody = DefaultMaxBody
	}
	if p.backoff <= 0 {
		p.backoff = DefaultBackoff
	}
	if p.maxRetryAfter <= 0 {
		p.maxRetryAfter = DefaultMaxRetryAfter
	}
	if p.userAgent == "" {
		p.userAgent = "airlock"
	}
	return p, nil
}

// response is an answer read in full (up to the cap).
type response struct {
	status   int
	header   http.Header
	body     []byte
	attempts int
	// note says why retrying stopped early, if it did.
	note string
}

// probeError is a failure to get any answer. Its message is built here from
// classified causes, never from a body, and names no secret.
type probeError struct {
	msg      string
	attempts int
}

func (e *probeError) Error() string {
	if e.attempts > 1 {
		return fmt.Sprintf("%s after %d attempts", e.msg, e.attempts)
	}
	return e.msg
}

// do sends the request built by newReq through the core's retry loop.
// newReq is called per attempt because a request body can be read only
// once. Every request a checker makes may be sent twice with the effect of
// once, so all are retried alike: lookups and introspection (RFC 7662) are
// reads, and revoking a token twice revokes it once (RFC 7009 answers 200
// for a token already invalid, GitHub's DELETE is idempotent, Vault's
// revoke-self on a dead token is refused). A 5xx or 429 that outlasts the
// retries is returned as the answer, for the checker to call unknown.
func (p *prober) do(ctx context.Context, newReq func(context.Context) (*http.Request, error)) (*response, error) {
	var (
		last     *response
		failures []error // transport failures, in order
	)
	err := p.retry().Do(ctx, func(ctx context.Context, n int) (httpx.Wait, error) {
		last = nil
		req, err := newReq(ctx)
		if err != nil {
			return httpx.Final, &probeError{msg: "cannot build the request: " + httpx.StripURL(err).Error()}
		}
		req.Header.Set("User-Agent", p.userAgent)
		resp, err := httpx.Do(p.client, req)
		var r *response
		if err == nil {
			r, err = p.read(resp)
		}
		if err != nil {
			var pe *probeError
			if errors.As(err, &pe) { // not transient (e.g. body too large)
				return httpx.Final, pe
			}
			failures = append(failures, err)
			return httpx.ForError(ctx, true, err), err
		}
		r.attempts, last = n, r
		if w := httpx.ForStatus(true, r.status, r.header, p.now()); w.Retries() {
			return w, errRetryableAnswer
		}
		return httpx.Final, nil
	})
	var g *httpx.GaveUpError
	var pe *probeError
	switch {
	case err == nil:
		return last, nil
	case last != nil: // a 5xx or 429 the loop stopped retrying
		if errors.As(err, &g) && (g.TooLong || g.Interrupted) {
			last.note = g.Reason
		}
		return last, nil
	case errors.As(err, &pe):
		pe.attempts = attemptsOf(err, len(failures)+1)
		return nil, pe
	case ctx.Err() != nil:
		return nil, &probeError{msg: ctxMessage(ctx, failures), attempts: attemptsOf(err, max(len(failures), 1))}
	}
	return nil, &probeError{msg: httpx.Describe(failures[len(failures)-1]), attempts: attemptsOf(err, len(failures))}
}

// errRetryableAnswer marks an answer the loop may retry; it never leaves do.
var errRetryableAnswer = errors.New("transient answer")

func (p *prober) retry() httpx.Retry {
	return httpx.Retry{Backoff: p.backoff, MaxWait: p.maxRetryAfter, Now: p.now}
}

func attemptsOf(err error, fallback int) int {
	var g *httpx.GaveUpError
	if errors.As(err, &g) {
		return g.Attempts
	}
	return fallback
}

func (p *prober) read(resp *http.Response) (*response, error) {
	defer resp.Body.Close()
	body, err := httpx.ReadBody(resp.Body, p.maxBody)
	var tooLarge *httpx.TooLargeError
	switch {
	case errors.As(err, &tooLarge):
		return nil, &probeError{msg: fmt.Sprintf("HTTP %d with a body larger than %d bytes", resp.StatusCode, p.maxBody)}
	case err != nil:
		return nil, fmt.Errorf("reading the response: %w", err)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

// ctxMessage says the deadline (or a cancel) ended the probe, and what
// went wrong before it if anything did.
func ctxMessage(ctx context.Context, failures []error) string {
	msg := "no answer before the deadline"
	if errors.Is(ctx.Err(), context.Canceled) {
		msg = "canceled"
	}
	for i := len(failures) - 1; i >= 0; i-- {
		if err := failures[i]; !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			return msg + " (earlier attempt: " + httpx.Describe(err) + ")"
		}
	}
	return msg
}

// endpoint names a URL in details: host and path, no query (which could
// carry anything).
func endpoint(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "an invalid URL"
	}
	return u.Host + u.EscapedPath()
}

func host(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}

// describe is the Detail for an answer the checker could not use.
func describe(what string, r *response) string {
	s := fmt.Sprintf("%s: HTTP %d", what, r.status)
	if r.attempts > 1 {
		s += fmt.Sprintf(" after %d attempts", r.attempts)
	}
	if r.note != "" {
		s += " (" + r.note + ")"
	}
	return s
}
