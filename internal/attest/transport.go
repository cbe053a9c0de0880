package attest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/airlock-dev/airlock/internal/httpx"
)

// Service names, as they appear in errors.
const (
	ServiceFulcio = "fulcio"
	ServiceRekor  = "rekor"
	ServiceTSA    = "timestamp authority"
)

const (
	maxServiceBody  = 1 << 20
	defaultAttempt  = 20 * time.Second
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
	Attempts   int           // default and most: httpx.MaxAttempts
	PerAttempt time.Duration // default 20s
	MaxWait    time.Duration // default httpx.DefaultMaxWait
	// Sleep waits between attempts; tests record instead of sleeping.
	Sleep func(ctx context.Context, d time.Duration) error
}

func (r Retry) withDefaults() Retry {
	if r.PerAttempt <= 0 {
		r.PerAttempt = defaultAttempt
	}
	return r
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
		b, err := httpx.ReadBody(req.Body, maxRequest)
		req.Body.Close()
		var tooLarge *httpx.TooLargeError
		switch {
		case errors.As(err, &tooLarge):
			// Sending the first 16 MiB would be another request.
			return nil, fmt.Errorf("%s: request body exceeds %d bytes", t.service, maxRequest)
		case err != nil:
			return nil, fmt.Errorf("%s: read request body: %w", t.service, err)
		}
		body = b
	}
	endpoint := httpx.Redact(req.URL)
	// Every request the Sigstore clients make may be sent twice with the
	// effect of once, so POSTs are retried like GETs: Fulcio issues another
	// certificate for the same key (nothing reads the first), the TSA signs
	// the same digest again, and Rekor answers a second identical entry
	// with 409 and the first one (t.pass), which its client resolves.
	loop := httpx.Retry{Attempts: t.retry.Attempts, MaxWait: t.retry.MaxWait, Sleep: t.retry.Sleep, Now: t.now}
	var resp *http.Response
	var last *ServiceError
	err := loop.Do(t.ctx, func(ctx context.Context, n int) (httpx.Wait, error) {
		var wait httpx.Wait
		resp, wait, last = t.once(req, body, endpoint)
		if last == nil {
			return httpx.Final, nil
		}
		last.Attempts = n
		return wait, last
	})
	if err == nil {
		return resp, nil
	}
	var g *httpx.GaveUpError
	if errors.As(err, &g) {
		switch {
		case g.TooLong:
			last.Message = strings.TrimSpace(last.Message + " (" + g.Reason + ")")
		case g.Interrupted:
			last.Timeout = true
		}
	}
	return nil, last
}

// once makes one attempt and says whether to try again.
func (t *serviceTransport) once(req *http.Request, body []byte, endpoint string) (*http.Response, httpx.Wait, *ServiceError) {
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
		se := &ServiceError{Service: t.service, Endpoint: endpoint, cause: t.clean(err), Timeout: ctx.Err() != nil}
		return nil, httpx.ForError(t.ctx, true, err), se
	}
	defer resp.Body.Close()
	data, err := httpx.ReadBody(resp.Body, maxServiceBody)
	var tooLarge *httpx.TooLargeError
	switch {
	case errors.As(err, &tooLarge):
		return nil, httpx.Final, &ServiceError{Service: t.service, Endpoint: endpoint, Status: resp.StatusCode, Message: fmt.Sprintf("response larger than %d bytes", maxServiceBody)}
	case err != nil:
		se := &ServiceError{Service: t.service, Endpoint: endpoint, Status: resp.StatusCode, cause: t.clean(err), Timeout: ctx.Err() != nil}
		return nil, httpx.ForError(t.ctx, true, err), se
	}
	if (resp.StatusCode >= 200 && resp.StatusCode <= 299) || t.pass[resp.StatusCode] {
		resp.Body = io.NopCloser(bytes.NewReader(data))
		resp.ContentLength = int64(len(data))
		return resp, httpx.Final, nil
	}
	se := &ServiceError{Service: t.service, Endpoint: endpoint, Status: resp.StatusCode, Message: t.message(data)}
	return nil, httpx.ForStatus(true, resp.StatusCode, resp.Header, t.now()), se
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
	return errors.New(t.cleanString(httpx.StripURL(err).Error()))
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
