package identity

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/airlock-dev/airlock/internal/httpx"
)

const (
	// maxBodyBytes caps every response this package reads: discovery
	// documents, JWKS and token responses are a few KiB.
	maxBodyBytes = 1 << 20
	// maxRetryWait bounds how long a server may make us wait between
	// attempts; one asking for longer ends the retries.
	maxRetryWait = 5 * time.Second
)

// errStatus is a non-200 answer. The body is deliberately not part of the
// message: a token endpoint may echo credentials back.
type errStatus struct{ code int }

func (e *errStatus) Error() string { return fmt.Sprintf("unexpected status %d", e.code) }

// get performs a GET through the core's retry loop and returns the body of a
// 200 answer, read through a cap. Transient failures (no answer, 429, 5xx)
// are retried, bounded by the loop and the caller's context.
//
// Redirects stay on the origin (httpx.SameOrigin): a redirect must not
// carry the runner's bearer token elsewhere or downgrade a key set to plain
// http. Errors name redacted (scheme://host/path, no query) rather than the
// URL and never include the request headers, which may carry a bearer token.
func get(ctx context.Context, hc *http.Client, rawURL, redacted string, header http.Header) ([]byte, error) {
	hc = httpx.Harden(hc, httpx.SameOrigin)
	var body []byte
	err := httpx.Retry{MaxWait: maxRetryWait}.Do(ctx, func(ctx context.Context, _ int) (httpx.Wait, error) {
		var wait httpx.Wait
		var err error
		body, wait, err = getOnce(ctx, hc, rawURL, redacted, header)
		return wait, err
	})
	if err != nil {
		return nil, err
	}
	return body, nil
}

func getOnce(ctx context.Context, hc *http.Client, rawURL, redacted string, header http.Header) ([]byte, httpx.Wait, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, httpx.Final, fmt.Errorf("GET %s: build request: %w", redacted, httpx.StripURL(err))
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Header.Set("Accept", "application/json")
	resp, err := httpx.Do(hc, req)
	if err != nil {
		return nil, httpx.ForError(ctx, true, err), fmt.Errorf("GET %s: %w", redacted, err)
	}
	if resp.StatusCode != http.StatusOK {
		httpx.Discard(resp.Body)
		return nil, httpx.ForStatus(true, resp.StatusCode, resp.Header, time.Now()),
			fmt.Errorf("GET %s: %w", redacted, &errStatus{code: resp.StatusCode})
	}
	defer resp.Body.Close()
	body, err := httpx.ReadBody(resp.Body, maxBodyBytes)
	if err != nil {
		return nil, httpx.ForError(ctx, true, err), fmt.Errorf("GET %s: read body: %w", redacted, err)
	}
	return body, httpx.Final, nil
}

// redactURL keeps scheme, host and path: enough to say which endpoint failed.
func redactURL(u *url.URL) string { return httpx.Redact(u) }

// checkTransportURL allows https anywhere and plain http only to loopback, so
// neither a bearer token nor a key set travels in clear over a network.
func checkTransportURL(u *url.URL) error { return httpx.CheckURL(u) }
