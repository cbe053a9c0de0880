package identity

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/airlock-dev/airlock/internal/endpoint"
)

const (
	// maxBodyBytes caps every response this package reads: discovery
	// documents, JWKS and token responses are a few KiB.
	maxBodyBytes = 1 << 20
	maxAttempts  = 3
	// retryBase is the first backoff; it doubles per attempt.
	retryBase = 200 * time.Millisecond
	// maxRetryAfter bounds how long a server may make us wait between attempts.
	maxRetryAfter = 5 * time.Second
)

// errStatus is a non-200 answer. The body is deliberately not part of the
// message: a token endpoint may echo credentials back.
type errStatus struct{ code int }

func (e *errStatus) Error() string { return fmt.Sprintf("unexpected status %d", e.code) }

// get performs a GET and returns the body of a 200 answer, read through a cap.
// Only transient answers (429, 502, 503, 504) are retried, at most maxAttempts
// times in total; a timeout or refused connection is reported at once because
// the caller's context or client already bounded it.
//
// Errors name redacted (scheme://host/path, no query) rather than the URL and
// never include the request headers, which may carry a bearer token.
func get(ctx context.Context, hc *http.Client, rawURL, redacted string, header http.Header) ([]byte, error) {
	var lastErr error
	for attempt := 1; ; attempt++ {
		body, retryAfter, err := getOnce(ctx, hc, rawURL, redacted, header)
		if err == nil {
			return body, nil
		}
		lastErr = err
		if retryAfter < 0 || attempt >= maxAttempts {
			return nil, lastErr
		}
		wait := retryBase << (attempt - 1)
		if retryAfter > 0 {
			wait = min(retryAfter, maxRetryAfter)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("GET %s: %w (after %v)", redacted, ctx.Err(), lastErr)
		case <-t.C:
		}
	}
}

// getOnce returns retryAfter < 0 when the failure must not be retried, 0 to
// use the default backoff, or the server's Retry-After.
func getOnce(ctx context.Context, hc *http.Client, rawURL, redacted string, header http.Header) (body []byte, retryAfter time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, -1, fmt.Errorf("GET %s: build request: %w", redacted, stripURLError(err))
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Header.Set("Accept", "application/json")
	resp, err := guardRedirects(hc).Do(req)
	if err != nil {
		// url.Error repeats the full URL; the redacted form is enough.
		return nil, -1, fmt.Errorf("GET %s: %w", redacted, stripURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// Drain a little so the connection can be reused; never keep it.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		err := fmt.Errorf("GET %s: %w", redacted, &errStatus{code: resp.StatusCode})
		switch resp.StatusCode {
		case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return nil, parseRetryAfter(resp.Header.Get("Retry-After")), err
		}
		return nil, -1, err
	}
	body, err = io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes+1))
	if err != nil {
		return nil, -1, fmt.Errorf("GET %s: read body: %w", redacted, err)
	}
	if len(body) > maxBodyBytes {
		return nil, -1, fmt.Errorf("GET %s: response body exceeds %d bytes", redacted, maxBodyBytes)
	}
	return body, 0, nil
}

// guardRedirects returns a shallow copy of hc (same Transport, same
// timeout) that refuses redirects to a URL we would not have requested
// directly: a redirect must not downgrade a key set or a bearer token to
// plain http. The caller's own CheckRedirect still runs after ours.
func guardRedirects(hc *http.Client) *http.Client {
	c := *hc
	next := hc.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if err := checkTransportURL(req.URL); err != nil {
			return fmt.Errorf("redirect to %s refused: %w", redactURL(req.URL), err)
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 5 {
			return errors.New("stopped after 5 redirects")
		}
		return nil
	}
	return &c
}

// parseRetryAfter understands delay-seconds only; an HTTP-date (rare, and
// dependent on a clock we would have to trust) falls back to our backoff.
func parseRetryAfter(v string) time.Duration {
	secs, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || secs < 0 {
		return 0
	}
	return time.Duration(secs) * time.Second
}

func stripURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// redactURL keeps scheme, host and path: enough to say which endpoint failed.
func redactURL(u *url.URL) string {
	r := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
	return r.String()
}

// checkTransportURL allows https anywhere and plain http only to loopback, so
// neither a bearer token nor a key set travels in clear over a network.
func checkTransportURL(u *url.URL) error {
	if u.User != nil {
		return errors.New("must not contain user info")
	}
	if u.Host == "" {
		return errors.New("has no host")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if endpoint.IsLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("http is allowed only for loopback hosts, got host %q", u.Hostname())
	default:
		return fmt.Errorf("scheme must be https, got %q", u.Scheme)
	}
}
