package revocation

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Defaults for Options.
const (
	DefaultMaxBody       = 1 << 20 // 1 MiB: an introspection answer is a few hundred bytes
	DefaultBackoff       = 200 * time.Millisecond
	DefaultMaxRetryAfter = 10 * time.Second
	// MaxAttempts bounds every request: one try and two retries, and only
	// for transient failures (network errors, 5xx, 429).
	MaxAttempts = 3
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
	// Backoff is the delay before the first retry, doubled for the next;
	// 0 means DefaultBackoff.
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
	c := *o.Client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	p := &prober{client: &c, now: o.Now, maxBody: o.MaxBody, backoff: o.Backoff, maxRetryAfter: o.MaxRetryAfter, userAgent: o.UserAgent}
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

// do sends the request built by newReq, retrying transient failures. newReq
// is called per attempt because a request body can be read only once.
func (p *prober) do(ctx context.Context, newReq func(context.Context) (*http.Request, error)) (*response, error) {
	var lastErr string
	for attempt := 1; ; attempt++ {
		req, err := newReq(ctx)
		if err != nil {
			return nil, &probeError{msg: "cannot build the request: " + safeErr(err)}
		}
		req.Header.Set("User-Agent", p.userAgent)
		resp, err := p.client.Do(req)
		var r *response
		if err == nil {
			r, err = p.read(resp)
			if r != nil {
				r.attempts = attempt
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, &probeError{msg: ctxMessage(ctx, lastErr, err), attempts: attempt}
			}
			var pe *probeError
			if errors.As(err, &pe) { // not transient (e.g. body too large)
				pe.attempts = attempt
				return nil, pe
			}
			lastErr = classify(err)
			if attempt >= MaxAttempts {
				return nil, &probeError{msg: lastErr, attempts: attempt}
			}
			if !p.sleep(ctx, p.backoff<<(attempt-1)) {
				return nil, &probeError{msg: ctxMessage(ctx, lastErr, nil), attempts: attempt}
			}
			continue
		}
		if !(r.status >= 500 || r.status == http.StatusTooManyRequests) || attempt >= MaxAttempts {
			return r, nil
		}
		wait := p.backoff << (attempt - 1)
		if ra, ok := retryAfter(r.header.Get("Retry-After"), p.now()); ok {
			if ra > p.maxRetryAfter {
				r.note = fmt.Sprintf("Retry-After %s exceeds the %s airlock waits", ra, p.maxRetryAfter)
				return r, nil
			}
			wait = ra
		}
		if dl, ok := ctx.Deadline(); ok && p.now().Add(wait).After(dl) {
			r.note = fmt.Sprintf("retrying after %s would pass the deadline", wait)
			return r, nil
		}
		if !p.sleep(ctx, wait) {
			r.note = "deadline reached while waiting to retry"
			return r, nil
		}
	}
}

func (p *prober) read(resp *http.Response) (*response, error) {
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, p.maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("reading the response: %w", err)
	}
	if int64(len(body)) > p.maxBody {
		return nil, &probeError{msg: fmt.Sprintf("HTTP %d with a body larger than %d bytes", resp.StatusCode, p.maxBody)}
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

func (p *prober) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// retryAfter parses RFC 9110 Retry-After: delay-seconds or an HTTP-date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		if n > int64(24*time.Hour/time.Second) {
			n = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		return d, true
	}
	return 0, false
}

func ctxMessage(ctx context.Context, last string, err error) string {
	msg := "no answer before the deadline"
	if errors.Is(ctx.Err(), context.Canceled) {
		msg = "canceled"
	}
	if last != "" {
		return msg + " (earlier attempt: " + last + ")"
	}
	if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		return msg + " (" + classify(err) + ")"
	}
	return msg
}

// classify names a transport failure without the request URL (which
// url.Error would repeat) or anything the server sent.
func classify(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.As(err, &ne) && ne.Timeout():
		return "timed out"
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return fmt.Sprintf("cannot resolve %q", dns.Name)
	}
	return "request failed: " + safeErr(err)
}

func safeErr(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
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
