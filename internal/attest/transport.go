package attest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Service names, as they appear in errors.
const (
	ServiceFulcio = "fulcio"
	ServiceRekor  = "rekor"
	ServiceTSA    = "timestamp authority"
)

const (
	maxServiceBody  = 1 << 20
	maxAttempts     = 3
	baseBackoff     = 250 * time.Millisecond
	defaultAttempt  = 20 * time.Second
	defaultMaxWait  = 30 * time.Second
	maxServiceError = 200
)

// ServiceError is a signing service that refused, failed or did not answer.
// It names the service, so "exit 3" always says which one to look at.
type ServiceError struct {
	Service  string
	Endpoint string // scheme://host/path, no query
	// Status is the last HTTP status; 0 when there was no answer.
	Status int
	// Message is the service's own message (capped, secrets removed).
	Message  string
	Timeout  bool
	Attempts int
	cause    error
}

func (e *ServiceError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s at %s: ", e.Service, e.Endpoint)
	switch {
	case e.Timeout:
		b.WriteString("no answer in time (timeout)")
	case e.Status == 0:
		fmt.Fprintf(&b, "unreachable: %v", e.cause)
	case e.Status == http.StatusTooManyRequests:
		b.WriteString("HTTP 429: rate limited")
	case e.Status >= 500:
		fmt.Fprintf(&b, "HTTP %d: server error", e.Status)
	default:
		fmt.Fprintf(&b, "HTTP %d: refused", e.Status)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, " %q", e.Message)
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " (gave up after %d attempts)", e.Attempts)
	}
	return b.String()
}

// Retry bounds how a signing service is retried: only transient failures
// (no answer, timeouts, 429, 5xx), at most Attempts times, waiting for the
// service's Retry-After when it sends one but never longer than MaxWait.
type Retry struct {
	Attempts   int           // default 3
	PerAttempt time.Duration // default 20s
	MaxWait    time.Duration // default 30s
	// Sleep waits between attempts; tests record instead of sleeping.
	Sleep func(ctx context.Context, d time.Duration) error
}

func (r Retry) withDefaults() Retry {
	if r.Attempts <= 0 || r.Attempts > maxAttempts {
		r.Attempts = maxAttempts
	}
	if r.PerAttempt <= 0 {
		r.PerAttempt = defaultAttempt
	}
	if r.MaxWait <= 0 {
		r.MaxWait = defaultMaxWait
	}
	if r.Sleep == nil {
		r.Sleep = sleepCtx
	}
	return r
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// serviceTransport is the only way airlock talks to a signing service. The
// Sigstore clients it is handed to build requests without a context, retry on
// their own schedule (seconds, ignoring Retry-After) and copy error bodies
// into messages; this transport binds the call's context, does the bounded
// retrying itself, caps bodies, and turns every failure into a ServiceError
// with secrets removed, so the clients only ever see a success or an error.
type serviceTransport struct {
	ctx     context.Context
	service string
	base    http.RoundTripper
	retry   Retry
	now     func() time.Time
	// pass are statuses handed to the client as answers (Rekor's 409
	// "entry already exists", which the client resolves).
	pass   map[int]bool
	redact []string
}

var _ http.RoundTripper = (*serviceTransport)(nil)

func (t *serviceTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		const maxRequest = 16 << 20
		b, err := io.ReadAll(io.LimitReader(req.Body, maxRequest+1))
		req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: read request body: %w", t.service, err)
		}
		if len(b) > maxRequest {
			// Sending the first 16 MiB would be another request.
			return nil, fmt.Errorf("%s: request body exceeds %d bytes", t.service, maxRequest)
		}
		body = b
	}
	endpoint := redactedEndpoint(req.URL)
	var last *ServiceError
	for attempt := 1; ; attempt++ {
		resp, wait, serr := t.once(req, body, endpoint, attempt)
		if serr == nil {
			return resp, nil
		}
		serr.Attempts = attempt
		last = serr
		if wait < 0 || attempt >= t.retry.Attempts {
			return nil, last
		}
		if wait > t.retry.MaxWait {
			last.Message = strings.TrimSpace(last.Message + fmt.Sprintf(" (asked to retry after %s, more than the %s airlock waits)", wait, t.retry.MaxWait))
			return nil, last
		}
		if err := t.retry.Sleep(t.ctx, wait); err != nil {
			last.Timeout = true
			return nil, last
		}
	}
}

// once makes one attempt. wait < 0: final; otherwise retry after wait.
func (t *serviceTransport) once(req *http.Request, body []byte, endpoint string, attempt int) (*http.Response, time.Duration, *ServiceError) {
	ctx, cancel := context.WithTimeout(t.ctx, t.retry.PerAttempt)
	defer cancel()
	r := req.Clone(ctx)
	if body != nil {
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		se := &ServiceError{Service: t.service, Endpoint: endpoint, cause: t.clean(err)}
		switch {
		case t.ctx.Err() != nil:
			se.Timeout = true
			return nil, -1, se
		case ctx.Err() != nil:
			se.Timeout = true
		}
		return nil, backoff(attempt), se
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxServiceBody+1))
	if err != nil {
		se := &ServiceError{Service: t.service, Endpoint: endpoint, Status: resp.StatusCode, cause: t.clean(err), Timeout: ctx.Err() != nil}
		if t.ctx.Err() != nil {
			return nil, -1, se
		}
		return nil, backoff(attempt), se
	}
	if len(data) > maxServiceBody {
		return nil, -1, &ServiceError{Service: t.service, Endpoint: endpoint, Status: resp.StatusCode, Message: fmt.Sprintf("response larger than %d bytes", maxServiceBody)}
	}
	if (resp.StatusCode >= 200 && resp.StatusCode <= 299) || t.pass[resp.StatusCode] {
		resp.Body = io.NopCloser(bytes.NewReader(data))
		resp.ContentLength = int64(len(data))
		return resp, 0, nil
	}
	se := &ServiceError{Service: t.service, Endpoint: endpoint, Status: resp.StatusCode, Message: t.message(data)}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		if d, ok := t.retryAfter(resp.Header.Get("Retry-After")); ok {
			return nil, d, se
		}
		return nil, backoff(attempt), se
	}
	return nil, -1, se
}

func backoff(attempt int) time.Duration { return baseBackoff << (attempt - 1) }

func (t *serviceTransport) retryAfter(v string) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if sec, err := strconv.ParseInt(v, 10, 64); err == nil {
		if sec < 0 {
			return 0, true
		}
		if sec > 86400 {
			return 24 * time.Hour, true
		}
		return time.Duration(sec) * time.Second, true
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(at.Sub(t.now()), 0), true
	}
	return t.retry.MaxWait + time.Second, true
}

// message extracts a service's own error text: Fulcio and Rekor answer
// {"message": ...} (Rekor also {"code", "message"}), the TSA plain text.
func (t *serviceTransport) message(body []byte) string {
	var m struct {
		Message string `json:"message"`
	}
	s := ""
	if json.Unmarshal(body, &m) == nil && m.Message != "" {
		s = m.Message
	} else if len(body) > 0 && !bytes.ContainsAny(body[:min(len(body), 64)], "\x00") {
		s = strings.TrimSpace(string(body))
	}
	s = t.cleanString(s)
	if len(s) > maxServiceError {
		s = s[:maxServiceError] + "…"
	}
	return s
}

func (t *serviceTransport) cleanString(s string) string {
	for _, r := range t.redact {
		if r != "" {
			s = strings.ReplaceAll(s, r, "[redacted]")
		}
	}
	return s
}

func (t *serviceTransport) clean(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return errors.New(t.cleanString(err.Error()))
}

func redactedEndpoint(u *url.URL) string {
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

// serviceError digs the ServiceError out of whatever a Sigstore client
// wrapped it in (url.Error, go-openapi errors).
func serviceError(err error) (*ServiceError, bool) {
	var se *ServiceError
	if errors.As(err, &se) {
		return se, true
	}
	return nil, false
}
