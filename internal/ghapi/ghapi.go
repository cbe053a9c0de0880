// Package ghapi is airlock's GitHub REST client and the only package that
// imports go-github.
//
// Trust boundary: every response from the API is untrusted input. Bodies are
// read through a size cap, decoded into explicit types and checked for the
// fields airlock relies on; anything missing or malformed is an operational
// error, never a default that could read as "no protection" or "approved".
// The token goes out only in the Authorization header, only to the configured
// host, and never into an error. Attestation bundles GitHub hands out as
// pre-signed blob storage URLs are fetched without it (blob.go).
//
// go-github is used to build requests (base URL, media type, API version) and
// for response types that decode safely. Its Client.Do is not used: it decodes
// an empty body as success, reads error bodies without a bound and keeps
// process-wide rate-limit state on the wall clock, which our bounded,
// ctx-aware retry cannot control. Environment reviewers are decoded into our
// own types because go-github v62's RequiredReviewer.UnmarshalJSON
// dereferences a missing "type" and panics.
package ghapi

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
	"unicode"

	"github.com/google/go-github/v62/github"

	"github.com/airlock-dev/airlock/internal/endpoint"
	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/httpx"
)

const (
	// DefaultMaxBodyBytes caps every response body.
	DefaultMaxBodyBytes = 1 << 20
	// DefaultMaxRetryWait is the longest Retry-After airlock waits for.
	DefaultMaxRetryWait = time.Minute
	maxPages            = 50
)

// Client calls GitHub's REST API.
type Client struct {
	gh      *github.Client
	base    *url.URL
	token   string
	hc      *http.Client
	now     func() time.Time
	sleep   func(context.Context, time.Duration) error
	maxWait time.Duration
	maxBody int64
	upload  *url.URL // releases.go
	cache   Cache    // conditional.go
}

// Option configures New.
type Option func(*Client) error

// WithClock sets the clock used to read Retry-After dates and rate-limit
// resets.
func WithClock(now func() time.Time) Option {
	return func(c *Client) error {
		if now == nil {
			return errors.New("clock: expected a function, got nil")
		}
		c.now = now
		return nil
	}
}

// WithSleep replaces the wait between attempts (tests record the waits
// instead of sleeping). sleep must return ctx.Err() when ctx ends first.
func WithSleep(sleep func(ctx context.Context, d time.Duration) error) Option {
	return func(c *Client) error {
		if sleep == nil {
			return errors.New("sleep: expected a function, got nil")
		}
		c.sleep = sleep
		return nil
	}
}

// WithMaxRetryWait bounds how long one wait before a retry may be; GitHub
// asking for longer fails at once.
func WithMaxRetryWait(d time.Duration) Option {
	return func(c *Client) error {
		if d <= 0 {
			return fmt.Errorf("max retry wait: expected > 0, got %s", d)
		}
		c.maxWait = d
		return nil
	}
}

// WithMaxBodyBytes sets the response size cap.
func WithMaxBodyBytes(n int64) Option {
	return func(c *Client) error {
		if n <= 0 {
			return fmt.Errorf("max body bytes: expected > 0, got %d", n)
		}
		c.maxBody = n
		return nil
	}
}

// New returns a client for the REST API at apiURL (https://api.github.com, or
// https://HOST/api/v3 on GHES). Plain http is accepted only for loopback
// hosts, so a token never crosses a network in clear text.
func New(apiURL, token string, hc *http.Client, opts ...Option) (*Client, error) {
	if token == "" {
		return nil, fault.Configf("github token: expected a token, got an empty string")
	}
	return newClient(apiURL, token, hc, opts)
}

// NewAnonymous returns a client that sends no token: what an auditor reading
// a public repository's releases and attestations needs. GitHub hides draft
// releases and private repositories from it (404), and its rate limit is low.
func NewAnonymous(apiURL string, hc *http.Client, opts ...Option) (*Client, error) {
	return newClient(apiURL, "", hc, opts)
}

func newClient(apiURL, token string, hc *http.Client, opts []Option) (*Client, error) {
	base, err := parseAPIURL(apiURL)
	if err != nil {
		return nil, err
	}
	if strings.IndexFunc(token, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return nil, fault.Configf("github token: contains whitespace or control characters")
	}
	if hc == nil {
		return nil, fault.Configf("github client: expected an *http.Client, got nil")
	}
	// A copy, so that our redirect rule does not change the caller's client.
	own := httpx.Harden(hc, httpx.SameOrigin)
	gh := github.NewClient(own)
	gh.BaseURL = base
	c := &Client{
		gh: gh, base: base, token: token, hc: own, now: time.Now, sleep: httpx.Sleep,
		maxWait: DefaultMaxRetryWait, maxBody: DefaultMaxBodyBytes,
	}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, fault.Configf("github client: %w", err)
		}
	}
	return c, nil
}

func parseAPIURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fault.Configf("github api url %q: %w", raw, err)
	}
	switch {
	case u.Host == "" || u.Hostname() == "":
		return nil, fault.Configf("github api url %q: expected an absolute URL with a host", raw)
	case u.User != nil:
		return nil, fault.Configf("github api url: must not carry credentials")
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return nil, fault.Configf("github api url %q: must not have a query or fragment", raw)
	case u.Scheme == "https":
	case u.Scheme == "http" && endpoint.IsLoopback(u.Hostname()):
	case u.Scheme == "http":
		return nil, fault.Configf("github api url %q: plain http is allowed only for loopback hosts", raw)
	default:
		return nil, fault.Configf("github api url %q: expected scheme https, got %q", raw, u.Scheme)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
		if u.RawPath != "" {
			u.RawPath += "/"
		}
	}
	return u, nil
}

// NotFoundError is GitHub's 404. GitHub also answers 404 when the token may
// not see a private repository, so it never proves absence: callers decide
// (for an environment, missing means deny).
type NotFoundError struct {
	// Resource names what was asked for, e.g. `environment "production" of octo/repo`.
	Resource string
}

func (e *NotFoundError) Error() string { return e.Resource + ": not found (HTTP 404)" }

// ForbiddenError is GitHub's 403 that is not a rate limit: the token may not
// read the resource. It is an operational failure for most callers; a caller
// for which "cannot tell" is a recordable fact (team membership) can branch on it.
type ForbiddenError struct {
	// Permission is the permission the call needs, e.g. "actions: read".
	Permission string
	msg        string
}

func (e *ForbiddenError) Error() string { return e.msg }

// op describes one API call for errors: what was asked and which permission
// the token needs for it.
type op struct {
	resource   string
	permission string
	method     string // "" is GET
	// retryPOST, set at the call site, says why a POST or PATCH has the
	// effect of one even if sent twice; without it such a request is not
	// retried once it may have reached GitHub (httpx.Idempotent).
	retryPOST string
	// download (releases.go) follows GitHub's redirect to its asset
	// storage host, without the token; maxBody overrides the cap when > 0.
	download bool
	maxBody  int64
}

func (o op) idempotent() bool { return httpx.Idempotent(o.method) || o.retryPOST != "" }

func (o op) verb() string {
	if o.method == "" {
		return "get"
	}
	return strings.ToLower(o.method)
}

// segment escapes one path segment; "." and ".." would be resolved away by
// URL parsing and change which resource is asked for.
func segment(kind, v string) (string, error) {
	if v == "" || v == "." || v == ".." {
		return "", fault.Usagef("%s: expected a name, got %q", kind, v)
	}
	return url.PathEscape(v), nil
}

func repoPath(owner, repo string) (string, error) {
	o, err := segment("owner", owner)
	if err != nil {
		return "", err
	}
	r, err := segment("repository", repo)
	if err != nil {
		return "", err
	}
	return "repos/" + o + "/" + r, nil
}

// get fetches one URL (relative to the base, or an absolute URL already
// checked by sameOrigin) with bounded retries and returns the capped body.
func (c *Client) get(ctx context.Context, o op, ref string) (body []byte, hdr http.Header, err error) {
	err = c.retry().Do(ctx, func(ctx context.Context, n int) (httpx.Wait, error) {
		var wait httpx.Wait
		var err error
		body, hdr, wait, err = c.attempt(ctx, o, ref)
		return wait, err
	})
	if err != nil {
		return nil, nil, gaveUp(err)
	}
	return body, hdr, nil
}

// retry is the core's loop with this client's clock, sleep and bound.
func (c *Client) retry() httpx.Retry {
	return httpx.Retry{MaxWait: c.maxWait, Sleep: c.sleep, Now: c.now}
}

// gaveUp keeps an error the loop stopped retrying operational.
func gaveUp(err error) error {
	var g *httpx.GaveUpError
	if errors.As(err, &g) {
		return fault.Operational(err)
	}
	return err
}

// attempt makes one request and says whether to try again.
func (c *Client) attempt(ctx context.Context, o op, ref string) (body []byte, hdr http.Header, wait httpx.Wait, err error) {
	req, err := c.gh.NewRequest(http.MethodGet, ref, nil)
	if err != nil {
		return nil, nil, httpx.Final, fault.Operationalf("get %s: build request: %w", o.resource, httpx.StripURL(err))
	}
	req = req.WithContext(ctx)
	c.authorize(req)
	cached := c.condition(req)
	resp, err := httpx.Do(c.hc, req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, httpx.Final, fault.Operationalf("get %s: %w", o.resource, ctx.Err())
		}
		return nil, nil, httpx.ForError(ctx, true, err), fault.Operationalf("get %s: %w", o.resource, err)
	}
	defer resp.Body.Close()
	body, err = httpx.ReadBody(resp.Body, c.maxBody)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, httpx.Final, fault.Operationalf("get %s: read response: %w", o.resource, ctx.Err())
		}
		return nil, nil, httpx.ForError(ctx, true, err), fault.Operationalf("get %s: HTTP %d: read response: %w", o.resource, resp.StatusCode, err)
	}
	if resp.StatusCode == http.StatusNotModified && cached != nil {
		c.cache.NotModified()
		return cached.Body, cached.header(), httpx.Final, nil
	}
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		c.remember(req, resp, body)
		return body, resp.Header, httpx.Final, nil
	}
	wait, err = c.classify(resp, body, o)
	return nil, nil, wait, err
}

// classify turns a non-2xx answer into an error and says whether to retry.
func (c *Client) classify(resp *http.Response, body []byte, o op) (httpx.Wait, error) {
	msg := errorMessage(resp, body)
	status := resp.StatusCode
	base := fmt.Sprintf("%s %s: HTTP %d %q", o.verb(), o.resource, status, msg)
	if id := resp.Header.Get("X-GitHub-Request-Id"); id != "" {
		base += " (request id " + truncate(id, 64) + ")"
	}
	switch {
	case status == http.StatusNotFound:
		return httpx.Final, &NotFoundError{Resource: o.resource}
	case status == http.StatusUnauthorized && c.token == "":
		return httpx.Final, fault.Operationalf("%s: GitHub requires a token for this (set GITHUB_TOKEN)", base)
	case status == http.StatusUnauthorized:
		return httpx.Final, fault.Operationalf("%s: the token was rejected (expired, revoked or not a token for this host)", base)
	case status == http.StatusTooManyRequests || (status == http.StatusForbidden && isRateLimited(resp, msg)):
		// A rate limit refuses before acting: safe to retry whatever the method.
		return httpx.After(c.rateLimitWait(resp)), fault.Operationalf("%s: rate limited", base)
	case status == http.StatusForbidden:
		msg := fmt.Sprintf("%s: the token lacks permission %s", base, o.permission)
		if accepted := resp.Header.Get("X-Accepted-GitHub-Permissions"); accepted != "" {
			msg += fmt.Sprintf(" (GitHub accepts %q)", truncate(accepted, 200))
		}
		return httpx.Final, fault.Operational(&ForbiddenError{Permission: o.permission, msg: msg})
	default:
		return httpx.ForStatus(o.idempotent(), resp.StatusCode, resp.Header, c.now()), fault.Operational(errors.New(base))
	}
}

// authorize adds the token, if the client has one.
func (c *Client) authorize(req *http.Request) {
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
}

func isRateLimited(resp *http.Response, msg string) bool {
	return httpx.HasRetryAfter(resp.Header) ||
		resp.Header.Get("X-RateLimit-Remaining") == "0" ||
		strings.Contains(strings.ToLower(msg), "rate limit")
}

// rateLimitWait follows GitHub's guidance: Retry-After if sent (and
// readable), else the primary limit's reset time, else at least a minute.
func (c *Client) rateLimitWait(resp *http.Response) time.Duration {
	if d, ok := httpx.RetryAfter(resp.Header, c.now()); ok {
		return d
	}
	if resp.Header.Get("X-RateLimit-Remaining") == "0" {
		if sec, err := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64); err == nil {
			return max(time.Unix(sec, 0).Sub(c.now())+time.Second, 0)
		}
	}
	return time.Minute
}

func errorMessage(resp *http.Response, body []byte) string {
	var e struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &e) == nil && e.Message != "" {
		return truncate(e.Message, 200)
	}
	return http.StatusText(resp.StatusCode)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// decodeStrict decodes exactly one JSON value; an empty body or trailing data
// is an error (go-github's Do would take an empty body as success).
func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("empty response body")
		}
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// nextLink returns the rel="next" URL of a Link header, checked to stay on
// the API's origin and below its base path: the token must not follow a link
// elsewhere.
func (c *Client) nextLink(hdr http.Header) (string, error) {
	for _, v := range hdr.Values("Link") {
		for _, part := range strings.Split(v, ",") {
			target, params, ok := strings.Cut(strings.TrimSpace(part), ";")
			if !ok || !strings.Contains(strings.ReplaceAll(params, " ", ""), `rel="next"`) {
				continue
			}
			target = strings.TrimSpace(target)
			if !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
				return "", fmt.Errorf("malformed Link header entry %q", truncate(part, 200))
			}
			u, err := url.Parse(target[1 : len(target)-1])
			if err != nil {
				return "", fmt.Errorf("link rel=next: %w", err)
			}
			if u.Scheme != c.base.Scheme || u.Host != c.base.Host || !strings.HasPrefix(u.Path, c.base.Path) || u.User != nil {
				return "", fmt.Errorf("link rel=next %q leaves the API at %q", truncate(u.Redacted(), 200), c.base.Scheme+"://"+c.base.Host+c.base.Path)
			}
			return u.String(), nil
		}
	}
	return "", nil
}

// getDecoded fetches one resource and decodes it; a body that does not decode
// is an operational failure naming the resource.
func getDecoded[T any](ctx context.Context, c *Client, o op, ref string, decode func([]byte) (T, error)) (T, error) {
	body, _, err := c.get(ctx, o, ref)
	if err != nil {
		var zero T
		return zero, err
	}
	v, err := decode(body)
	if err != nil {
		var zero T
		return zero, fault.Operationalf("get %s: %w", o.resource, err)
	}
	return v, nil
}
