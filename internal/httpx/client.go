// Package httpx is airlock's one HTTP core: how a client is built, where a
// request may go, how a redirect is followed, how an answer is read and how
// a failure is retried. Every package that talks HTTP goes through it.
//
// Trust boundary: everything a server sends is untrusted. Bodies are read
// through a cap; a redirect never carries a credential (Authorization,
// cookies, token headers) to another origin and never leaves https except
// for loopback; errors name scheme, host and path only, never a query
// (pre-signed URLs carry signatures there), userinfo or a header.
package httpx

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/airlock-dev/airlock/internal/endpoint"
)

// DefaultTimeout bounds one request (dial, headers, body) of a client built
// by NewClient.
const DefaultTimeout = 30 * time.Second

// maxRedirects bounds every redirect chain.
const maxRedirects = 5

// Redirects is a redirect policy.
type Redirects int

const (
	// SameOrigin follows redirects that keep scheme and host (a renamed
	// repository) and refuses any other: the request carries a credential,
	// and Go forwards it to the same host even over a downgrade to http.
	SameOrigin Redirects = iota
	// NoRedirects hands the 3xx to the caller as the answer: an endpoint
	// that redirects is misconfigured or not the issuer, and following a
	// 307 would re-send a POST body (a token) elsewhere.
	NoRedirects
	// CrossOriginWithoutCredentials follows a redirect to another origin
	// (GitHub's asset API to its storage host) only over https or to
	// loopback, and strips every header but a few harmless ones, so neither
	// the token nor a cookie goes with it. Same-origin hops keep headers.
	CrossOriginWithoutCredentials
)

// ErrRedirectRefused is wrapped by the error of a redirect a policy refused.
var ErrRedirectRefused = errors.New("refusing the redirect")

// Options configures NewClient.
type Options struct {
	// Timeout bounds one request; 0 means DefaultTimeout, < 0 none (a
	// transport or context bounds it instead).
	Timeout time.Duration
	// Transport carries the requests; nil means a clone of
	// http.DefaultTransport with TLS 1.2 at least.
	Transport http.RoundTripper
	// Redirects is the redirect policy; the zero value is SameOrigin.
	Redirects Redirects
}

// NewClient returns a client with a timeout, TLS defaults, no cookie jar and
// the redirect policy of o.
func NewClient(o Options) *http.Client {
	t := o.Transport
	if t == nil {
		t = DefaultTransport()
	}
	timeout := o.Timeout
	switch {
	case timeout == 0:
		timeout = DefaultTimeout
	case timeout < 0:
		timeout = 0
	}
	return &http.Client{Transport: t, Timeout: timeout, CheckRedirect: o.Redirects.check}
}

// DefaultTransport is a clone of http.DefaultTransport that refuses TLS
// versions below 1.2.
func DefaultTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	if t.TLSClientConfig == nil {
		t.TLSClientConfig = &tls.Config{}
	}
	t.TLSClientConfig.MinVersion = tls.VersionTLS12
	return t
}

// Harden returns a copy of an injected client (tests inject theirs; the CLI
// injects NewClient's) with no cookie jar and redirect policy r, so the
// caller's client is left as it was and the package's policy holds whatever
// the caller set. A nil client is nil.
func Harden(hc *http.Client, r Redirects) *http.Client {
	if hc == nil {
		return nil
	}
	own := *hc
	own.Jar = nil
	own.CheckRedirect = r.check
	return &own
}

func (r Redirects) check(req *http.Request, via []*http.Request) error {
	if r == NoRedirects {
		return http.ErrUseLastResponse
	}
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	prev, first := via[len(via)-1].URL, via[0].URL
	if err := CheckURL(req.URL); err != nil {
		return fmt.Errorf("%w from %s to %s: %w", ErrRedirectRefused, Redact(prev), Redact(req.URL), err)
	}
	if req.URL.Scheme == first.Scheme && req.URL.Host == first.Host {
		return nil
	}
	if r != CrossOriginWithoutCredentials {
		return fmt.Errorf("%w from %s://%s to another origin %s://%s", ErrRedirectRefused, first.Scheme, first.Host, req.URL.Scheme, req.URL.Host)
	}
	stripCredentials(req.Header)
	return nil
}

// safeHeaders are the only request headers a cross-origin redirect keeps.
var safeHeaders = map[string]bool{
	"Accept": true, "Accept-Encoding": true, "Accept-Language": true,
	"User-Agent": true, "Range": true, "Content-Type": true,
}

// stripCredentials keeps only safeHeaders: a denylist (Authorization,
// Cookie, X-Vault-Token, …) would miss the next token header.
func stripCredentials(h http.Header) {
	for k := range h {
		if !safeHeaders[http.CanonicalHeaderKey(k)] {
			delete(h, k)
		}
	}
}

// CheckURL is where airlock may send a request: an absolute URL with a host,
// no userinfo, over https, or plain http to this machine only
// (endpoint.IsLoopback). Its errors name the host, never the query.
func CheckURL(u *url.URL) error {
	switch {
	case u == nil:
		return errors.New("no URL")
	case u.User != nil:
		return fmt.Errorf("URL to host %q carries user credentials", truncate(u.Host, 100))
	case u.Host == "" || u.Hostname() == "":
		return errors.New("not an absolute URL with a host")
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && endpoint.IsLoopback(u.Hostname()):
		return nil
	case u.Scheme == "http":
		return fmt.Errorf("plain http is allowed only to loopback, got host %q", truncate(u.Hostname(), 100))
	default:
		return fmt.Errorf("expected scheme https, got %q", truncate(u.Scheme, 20))
	}
}

// Redact is what an error may say about u: scheme, host and path.
func Redact(u *url.URL) string {
	if u == nil {
		return ""
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

// RedactString is Redact of a URL still in text; one that does not parse
// is "an invalid URL" (url.Parse's error would quote it).
func RedactString(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "an invalid URL"
	}
	return Redact(u)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
