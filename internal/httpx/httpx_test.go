package httpx_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/httpx"
)

// secret stands for what must never reach an error: a pre-signed URL's
// signature, a token, a password.
const secret = "s3cr3t-SIG-do-not-print"

// recorder replaces the loop's sleep and records the waits.
type recorder struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (r *recorder) sleep(ctx context.Context, d time.Duration) error {
	r.mu.Lock()
	r.waits = append(r.waits, d)
	r.mu.Unlock()
	return ctx.Err()
}

func (r *recorder) get() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Duration(nil), r.waits...)
}

// fetch is the pattern every package follows: one attempt builds the
// request, sends it with httpx.Do, reads the body with ReadBody and asks
// ForError or ForStatus whether to go again.
func fetch(ctx context.Context, hc *http.Client, r httpx.Retry, method, rawURL string, idempotent bool, limit int64) (body []byte, attempts int, err error) {
	if r.Now == nil {
		r.Now = time.Now
	}
	err = r.Do(ctx, func(ctx context.Context, n int) (httpx.Wait, error) {
		attempts = n
		req, err := http.NewRequestWithContext(ctx, method, rawURL, strings.NewReader("payload"))
		if err != nil {
			return httpx.Final, httpx.StripURL(err)
		}
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := httpx.Do(hc, req)
		if err != nil {
			return httpx.ForError(ctx, idempotent, err), fmt.Errorf("%s %s: %w", method, httpx.RedactString(rawURL), err)
		}
		defer resp.Body.Close()
		b, err := httpx.ReadBody(resp.Body, limit)
		if err != nil {
			return httpx.ForError(ctx, idempotent, err), fmt.Errorf("%s %s: read: %w", method, httpx.RedactString(rawURL), err)
		}
		if resp.StatusCode/100 != 2 {
			return httpx.ForStatus(idempotent, resp.StatusCode, resp.Header, r.Now()), fmt.Errorf("%s %s: HTTP %d", method, httpx.RedactString(rawURL), resp.StatusCode)
		}
		body = b
		return httpx.Final, nil
	})
	return body, attempts, err
}

// server answers with the handlers in turn, the last one for ever after.
func server(t *testing.T, hs ...http.HandlerFunc) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		hs[min(i, len(hs)-1)](w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func status(code int, retryAfter string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.WriteHeader(code)
		_, _ = w.Write([]byte("answer " + secret))
	}
}

func ok(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }

func noSecret(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), secret) {
		t.Errorf("error holds the secret: %v", err)
	}
}

func TestRetryAfterParses(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"2", 2 * time.Second, true},
		{" 7 ", 7 * time.Second, true},
		{"0", 0, true},
		{"86400", 24 * time.Hour, true},
		{"86401", 0, false},       // more than a day: malformed
		{"99999999999", 0, false}, // would overflow a Duration
		{"-1", 0, false},
		{"+5", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
		{"", 0, false},
		{now.Add(7 * time.Second).Format(http.TimeFormat), 7 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true}, // past: now
		{now.Add(25 * time.Hour).Format(http.TimeFormat), 0, false},
		{now.Add(9 * time.Second).Format(time.RFC850), 9 * time.Second, true},
		{"Fri, 32 Jan 2026 00:00:00 GMT", 0, false},
	} {
		got, ok := httpx.RetryAfter(http.Header{"Retry-After": {tc.in}}, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("RetryAfter(%q): expected %s,%v got %s,%v", tc.in, tc.want, tc.ok, got, ok)
		}
	}
	if _, ok := httpx.RetryAfter(http.Header{}, now); ok || httpx.HasRetryAfter(http.Header{}) {
		t.Error("no header: expected not ok")
	}
}

func TestRetriesTransientAnswers(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	date := now.Add(9 * time.Second).Format(http.TimeFormat)
	for _, tc := range []struct {
		name     string
		handlers []http.HandlerFunc
		method   string
		ok       bool
		attempts int
		// waits: exact when server-given; a backoff is checked to lie
		// between half and all of the value.
		waits   []time.Duration
		backoff bool
		words   []string
	}{
		{"503 Retry-After seconds", []http.HandlerFunc{status(503, "2"), ok}, "GET", true, 2, []time.Duration{2 * time.Second}, false, nil},
		{"429 Retry-After date", []http.HandlerFunc{status(429, date), ok}, "GET", true, 2, []time.Duration{9 * time.Second}, false, nil},
		{"502 then 503 then ok", []http.HandlerFunc{status(502, ""), status(503, ""), ok}, "GET", true, 3, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}, true, nil},
		{"500 for ever", []http.HandlerFunc{status(500, "")}, "GET", false, 3, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}, true, []string{"HTTP 500", "gave up after 3 attempts"}},
		{"bad Retry-After is the backoff", []http.HandlerFunc{status(503, "soon"), ok}, "GET", true, 2, []time.Duration{100 * time.Millisecond}, true, nil},
		{"negative Retry-After is the backoff", []http.HandlerFunc{status(503, "-3"), ok}, "GET", true, 2, []time.Duration{100 * time.Millisecond}, true, nil},
		{"huge Retry-After is the backoff", []http.HandlerFunc{status(429, "99999999999"), ok}, "GET", true, 2, []time.Duration{100 * time.Millisecond}, true, nil},
		{"Retry-After over MaxWait ends it", []http.HandlerFunc{status(429, "120")}, "GET", false, 1, nil, false, []string{"HTTP 429", "asked to retry after 2m0s, more than the 30s airlock waits"}},
		{"501 is final", []http.HandlerFunc{status(501, "")}, "GET", false, 1, nil, false, []string{"HTTP 501"}},
		{"400 is final", []http.HandlerFunc{status(400, "1")}, "GET", false, 1, nil, false, []string{"HTTP 400"}},
		{"PUT is idempotent", []http.HandlerFunc{status(503, ""), ok}, "PUT", true, 2, []time.Duration{100 * time.Millisecond}, true, nil},
		{"DELETE is idempotent", []http.HandlerFunc{status(502, ""), ok}, "DELETE", true, 2, []time.Duration{100 * time.Millisecond}, true, nil},
		{"POST not retried after 503", []http.HandlerFunc{status(503, "1"), ok}, "POST", false, 1, nil, false, []string{"HTTP 503", "not retried: the request may have taken effect"}},
		{"PATCH not retried after 500", []http.HandlerFunc{status(500, ""), ok}, "PATCH", false, 1, nil, false, []string{"not retried"}},
		{"POST retried after 429", []http.HandlerFunc{status(429, "1"), ok}, "POST", true, 2, []time.Duration{time.Second}, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, hits := server(t, tc.handlers...)
			rec := &recorder{}
			r := httpx.Retry{Backoff: 100 * time.Millisecond, Sleep: rec.sleep, Now: func() time.Time { return now }}
			body, attempts, err := fetch(t.Context(), httpx.NewClient(httpx.Options{}), r, tc.method, srv.URL+"/x?sig="+secret, httpx.Idempotent(tc.method), 1<<10)
			if tc.ok != (err == nil) {
				t.Fatalf("expected ok=%v, got %v", tc.ok, err)
			}
			if tc.ok && string(body) != "ok" {
				t.Errorf("body: expected ok, got %q", body)
			}
			if attempts != tc.attempts || int(hits.Load()) != tc.attempts {
				t.Errorf("attempts: expected %d, got %d (server saw %d)", tc.attempts, attempts, hits.Load())
			}
			got := rec.get()
			if len(got) != len(tc.waits) {
				t.Fatalf("waits: expected %v, got %v", tc.waits, got)
			}
			for i := range got {
				if tc.backoff && (got[i] < tc.waits[i]/2 || got[i] > tc.waits[i]) || !tc.backoff && got[i] != tc.waits[i] {
					t.Errorf("wait %d: expected %v (backoff %v), got %v", i, tc.waits[i], tc.backoff, got[i])
				}
			}
			for _, w := range tc.words {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error %v: expected it to contain %q", err, w)
				}
			}
			noSecret(t, err)
		})
	}
}

// refusedURL is a loopback address nothing listens on.
func refusedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr + "/x?sig=" + secret
}

func TestNoAnswer(t *testing.T) {
	t.Run("connection refused, GET retried", func(t *testing.T) {
		rec := &recorder{}
		_, attempts, err := fetch(t.Context(), httpx.NewClient(httpx.Options{}), httpx.Retry{Sleep: rec.sleep}, "GET", refusedURL(t), true, 1<<10)
		if err == nil || attempts != 3 || len(rec.get()) != 2 {
			t.Fatalf("expected 3 attempts and an error, got %d, %v", attempts, err)
		}
		if d := httpx.Describe(err); d != "connection refused" {
			t.Errorf("Describe: expected connection refused, got %q", d)
		}
		noSecret(t, err)
	})
	t.Run("connection refused, POST retried: nothing was sent", func(t *testing.T) {
		rec := &recorder{}
		_, attempts, err := fetch(t.Context(), httpx.NewClient(httpx.Options{}), httpx.Retry{Sleep: rec.sleep}, "POST", refusedURL(t), false, 1<<10)
		if err == nil || attempts != 3 || strings.Contains(err.Error(), "not retried") {
			t.Fatalf("expected 3 attempts, got %d, %v", attempts, err)
		}
		noSecret(t, err)
	})
	t.Run("connection dropped after the POST, not retried", func(t *testing.T) {
		srv, hits := server(t, func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		})
		rec := &recorder{}
		_, attempts, err := fetch(t.Context(), httpx.NewClient(httpx.Options{}), httpx.Retry{Sleep: rec.sleep}, "POST", srv.URL+"/?sig="+secret, false, 1<<10)
		var g *httpx.GaveUpError
		if !errors.As(err, &g) || attempts != 1 || hits.Load() != 1 || !strings.Contains(err.Error(), "not retried: the request may have taken effect") {
			t.Fatalf("expected 1 attempt and a not-retried error, got %d (%d hits), %v", attempts, hits.Load(), err)
		}
		noSecret(t, err)
	})
	t.Run("connection dropped, GET retried", func(t *testing.T) {
		srv, hits := server(t, func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		}, ok)
		rec := &recorder{}
		body, _, err := fetch(t.Context(), httpx.NewClient(httpx.Options{}), httpx.Retry{Sleep: rec.sleep}, "GET", srv.URL, true, 1<<10)
		if err != nil || string(body) != "ok" || hits.Load() != 2 {
			t.Fatalf("expected the GET retried into a success, got %q, %v (%d hits)", body, err, hits.Load())
		}
	})
	t.Run("timeout", func(t *testing.T) {
		release := make(chan struct{})
		srv, hits := server(t, func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		})
		defer close(release)
		rec := &recorder{}
		hc := httpx.NewClient(httpx.Options{Timeout: 50 * time.Millisecond})
		_, attempts, err := fetch(t.Context(), hc, httpx.Retry{Sleep: rec.sleep}, "GET", srv.URL+"/?sig="+secret, true, 1<<10)
		if err == nil || attempts != 3 || hits.Load() != 3 {
			t.Fatalf("expected 3 timed-out attempts, got %d (%d hits), %v", attempts, hits.Load(), err)
		}
		if d := httpx.Describe(err); d != "timed out" {
			t.Errorf("Describe: expected timed out, got %q", d)
		}
		noSecret(t, err)
	})
	t.Run("slow body", func(t *testing.T) {
		release := make(chan struct{})
		srv, hits := server(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "100")
			w.WriteHeader(200)
			_, _ = w.Write([]byte("partial"))
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-release:
			}
		})
		defer close(release)
		rec := &recorder{}
		hc := httpx.NewClient(httpx.Options{Timeout: 100 * time.Millisecond})
		_, attempts, err := fetch(t.Context(), hc, httpx.Retry{Sleep: rec.sleep}, "GET", srv.URL+"/?sig="+secret, true, 1<<10)
		if err == nil || attempts != 3 || hits.Load() != 3 || !strings.Contains(err.Error(), "read") {
			t.Fatalf("expected 3 attempts failing in the body, got %d (%d hits), %v", attempts, hits.Load(), err)
		}
		noSecret(t, err)
	})
}

func TestOversizedBodyIsFinal(t *testing.T) {
	srv, hits := server(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(strings.Repeat("x", 2048))) })
	_, attempts, err := fetch(t.Context(), httpx.NewClient(httpx.Options{}), httpx.Retry{}, "GET", srv.URL, true, 1024)
	var tl *httpx.TooLargeError
	if !errors.As(err, &tl) || tl.Limit != 1024 || attempts != 1 || hits.Load() != 1 {
		t.Fatalf("expected one attempt and a *TooLargeError of 1024, got %d, %v", attempts, err)
	}
	if b, err := httpx.ReadBody(strings.NewReader("1234"), 4); err != nil || string(b) != "1234" {
		t.Errorf("a body of exactly the cap: %q, %v", b, err)
	}
}

// seen records the credential headers a redirect target received.
type seen struct {
	mu      sync.Mutex
	hits    int
	headers http.Header
}

func target(t *testing.T) (*httptest.Server, *seen) {
	s := &seen{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hits++
		s.headers = r.Header.Clone()
		s.mu.Unlock()
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	return srv, s
}

func redirector(t *testing.T, to string, code int) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/same" {
			_, _ = w.Write([]byte("ok"))
			return
		}
		http.Redirect(w, r, to, code)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func redirectRequest(t *testing.T, hc *http.Client, from string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, from, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("Cookie", "session="+secret)
	req.Header.Set("X-Vault-Token", secret)
	req.Header.Set("Accept", "application/json")
	resp, err := httpx.Do(hc, req)
	if resp != nil {
		httpx.Discard(resp.Body)
	}
	return resp, err
}

func TestRedirects(t *testing.T) {
	other, got := target(t)
	// The other server is another origin: another port on loopback.
	from := redirector(t, other.URL+"/blob?sig="+secret, http.StatusTemporaryRedirect)

	t.Run("same origin refuses another host", func(t *testing.T) {
		_, err := redirectRequest(t, httpx.NewClient(httpx.Options{}), from.URL+"/?q="+secret)
		if !errors.Is(err, httpx.ErrRedirectRefused) {
			t.Fatalf("expected ErrRedirectRefused, got %v", err)
		}
		noSecret(t, err)
		if got.hits != 0 {
			t.Errorf("the other host got %d requests", got.hits)
		}
	})
	t.Run("same origin follows its own", func(t *testing.T) {
		self := httptest.NewServer(nil)
		t.Cleanup(self.Close)
		var auth string
		self.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/a" {
				http.Redirect(w, r, "/b", http.StatusFound)
				return
			}
			auth = r.Header.Get("Authorization")
		})
		resp, err := redirectRequest(t, httpx.NewClient(httpx.Options{}), self.URL+"/a")
		if err != nil || resp.StatusCode != 200 || auth != "Bearer "+secret {
			t.Fatalf("expected the same-origin redirect followed with the header, got %v, %q", err, auth)
		}
	})
	t.Run("cross origin strips credentials", func(t *testing.T) {
		hc := httpx.Harden(&http.Client{Timeout: 5 * time.Second}, httpx.CrossOriginWithoutCredentials)
		resp, err := redirectRequest(t, hc, from.URL+"/?q="+secret)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("expected the redirect followed, got %v", err)
		}
		got.mu.Lock()
		defer got.mu.Unlock()
		if got.hits != 1 {
			t.Fatalf("the other host got %d requests, expected 1", got.hits)
		}
		for k, vs := range got.headers {
			for _, v := range vs {
				if strings.Contains(v, secret) {
					t.Errorf("header %s carried the secret to another origin: %q", k, v)
				}
			}
		}
		if got.headers.Get("Accept") != "application/json" {
			t.Errorf("Accept was dropped: %v", got.headers)
		}
	})
	t.Run("no redirect to plain http off loopback", func(t *testing.T) {
		away := redirector(t, "http://storage.example.com/x?sig="+secret, http.StatusFound)
		hc := httpx.Harden(&http.Client{Timeout: 5 * time.Second}, httpx.CrossOriginWithoutCredentials)
		_, err := redirectRequest(t, hc, away.URL)
		if !errors.Is(err, httpx.ErrRedirectRefused) || !strings.Contains(err.Error(), "plain http is allowed only to loopback") {
			t.Fatalf("expected the downgrade refused, got %v", err)
		}
		noSecret(t, err)
	})
	t.Run("no redirects hands back the 3xx", func(t *testing.T) {
		hc := httpx.NewClient(httpx.Options{Redirects: httpx.NoRedirects})
		before := got.hits
		resp, err := redirectRequest(t, hc, from.URL)
		if err != nil || resp.StatusCode != http.StatusTemporaryRedirect || got.hits != before {
			t.Fatalf("expected the 307 as the answer, got %v, %v", resp, err)
		}
	})
	t.Run("redirect loop stops", func(t *testing.T) {
		loop := httptest.NewServer(nil)
		t.Cleanup(loop.Close)
		loop.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/again", http.StatusFound) })
		_, err := redirectRequest(t, httpx.NewClient(httpx.Options{}), loop.URL)
		if err == nil || !strings.Contains(err.Error(), "stopped after 5 redirects") {
			t.Fatalf("expected the loop stopped, got %v", err)
		}
	})
}

func TestHardenCopies(t *testing.T) {
	if httpx.Harden(nil, httpx.SameOrigin) != nil {
		t.Error("Harden(nil) should be nil")
	}
	orig := &http.Client{Timeout: time.Second}
	h := httpx.Harden(orig, httpx.NoRedirects)
	if orig.CheckRedirect != nil || h == orig || h.Jar != nil || h.Timeout != time.Second || h.CheckRedirect == nil {
		t.Errorf("expected a hardened copy keeping the timeout and the original untouched")
	}
	c := httpx.NewClient(httpx.Options{})
	if c.Timeout != httpx.DefaultTimeout || c.Jar != nil || c.CheckRedirect == nil {
		t.Errorf("NewClient: expected the default timeout, no jar, a redirect policy")
	}
	tr, ok := c.Transport.(*http.Transport)
	if !ok || tr.TLSClientConfig == nil || tr.TLSClientConfig.MinVersion < 0x0303 {
		t.Errorf("NewClient: expected TLS 1.2 at least")
	}
	if httpx.NewClient(httpx.Options{Timeout: -1}).Timeout != 0 {
		t.Error("a negative timeout should leave the client unbounded for the transport to bound")
	}
}

func TestCheckURL(t *testing.T) {
	for raw, want := range map[string]string{
		"https://api.github.com/x?sig=" + secret:  "",
		"http://127.0.0.1:8080/x":                 "",
		"http://localhost/x":                      "",
		"http://[::1]/x":                          "",
		"http://example.com/x?sig=" + secret:      "plain http is allowed only to loopback",
		"ftp://example.com/x":                     "expected scheme https",
		"https://user:" + secret + "@example.com": "carries user credentials",
		"/relative":                               "absolute URL",
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		err = httpx.CheckURL(u)
		switch {
		case want == "" && err != nil:
			t.Errorf("CheckURL(%s): %v", httpx.Redact(u), err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("CheckURL(%s): expected %q, got %v", httpx.Redact(u), want, err)
		}
		noSecret(t, err)
	}
	if got := httpx.RedactString("https://u:" + secret + "@h.example/p?sig=" + secret + "#f"); got != "https://h.example/p" {
		t.Errorf("RedactString: %q", got)
	}
	if got := httpx.RedactString("https://h.example/%zz?" + secret); got != "an invalid URL" {
		t.Errorf("RedactString of an invalid URL: %q", got)
	}
}

func TestIdempotent(t *testing.T) {
	for m, want := range map[string]bool{"GET": true, "HEAD": true, "PUT": true, "DELETE": true, "OPTIONS": true, "": true, "POST": false, "PATCH": false} {
		if httpx.Idempotent(m) != want {
			t.Errorf("Idempotent(%q): expected %v", m, want)
		}
	}
}

func TestDeadlineAndCancel(t *testing.T) {
	t.Run("a wait past the deadline is not started", func(t *testing.T) {
		srv, hits := server(t, status(503, "5"))
		rec := &recorder{}
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		_, _, err := fetch(ctx, httpx.NewClient(httpx.Options{}), httpx.Retry{Sleep: rec.sleep}, "GET", srv.URL, true, 1<<10)
		var g *httpx.GaveUpError
		if !errors.As(err, &g) || !g.Interrupted || !strings.Contains(err.Error(), "would pass the deadline") || hits.Load() != 1 || len(rec.get()) != 0 {
			t.Fatalf("expected to stop before waiting, got %v after %d requests, waits %v", err, hits.Load(), rec.get())
		}
	})
	t.Run("cancel during the wait ends it", func(t *testing.T) {
		// The server asks for an hour and the real sleep would take it:
		// only ctx ending can bring the call back before the test times out.
		srv, hits := server(t, status(503, "3600"))
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(20*time.Millisecond, cancel)
		_, _, err := fetch(ctx, httpx.NewClient(httpx.Options{}), httpx.Retry{MaxWait: 2 * time.Hour}, "GET", srv.URL, true, 1<<10)
		var g *httpx.GaveUpError
		if !errors.As(err, &g) || !g.Interrupted || !errors.Is(err, context.Canceled) || hits.Load() != 1 {
			t.Fatalf("expected the wait interrupted by the cancel, got %v", err)
		}
	})
	t.Run("cancel before a request is final", func(t *testing.T) {
		srv, hits := server(t, ok)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, attempts, err := fetch(ctx, httpx.NewClient(httpx.Options{}), httpx.Retry{}, "GET", srv.URL, true, 1<<10)
		if !errors.Is(err, context.Canceled) || attempts != 1 || hits.Load() != 0 {
			t.Fatalf("expected one canceled attempt and no request, got %d, %v", attempts, err)
		}
		if d := httpx.Describe(err); d != "canceled" {
			t.Errorf("Describe: %q", d)
		}
	})
}

func TestAttemptsBounded(t *testing.T) {
	for _, n := range []int{-1, 0, 1, 2, 3, 4, 100} {
		srv, hits := server(t, status(503, "0"))
		_, _, err := fetch(t.Context(), httpx.NewClient(httpx.Options{}), httpx.Retry{Attempts: n}, "GET", srv.URL, true, 1<<10)
		want := n
		if n <= 0 || n > httpx.MaxAttempts {
			want = httpx.MaxAttempts
		}
		if err == nil || int(hits.Load()) != want {
			t.Errorf("Attempts %d: expected %d requests, got %d (%v)", n, want, hits.Load(), err)
		}
	}
}

func TestStripURL(t *testing.T) {
	ue := &url.Error{Op: "Get", URL: "https://u:" + secret + "@h.example/p?sig=" + secret, Err: errors.New("boom")}
	err := httpx.StripURL(fmt.Errorf("wrapped: %w", ue))
	if err.Error() != "Get: boom" {
		t.Errorf("StripURL: %q", err)
	}
	if httpx.StripURL(nil) != nil {
		t.Error("StripURL(nil) should be nil")
	}
	plain := errors.New("plain")
	if httpx.StripURL(plain) != plain {
		t.Error("StripURL should leave other errors alone")
	}
}

// TestNoGoroutineLeft runs every kind of failure and checks that once the
// idle connections are closed nothing the core started is still running.
func TestNoGoroutineLeft(t *testing.T) {
	release := make(chan struct{})
	srv, _ := server(t, status(503, ""), status(429, "0"), func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	before := runtime.NumGoroutine()
	tr := httpx.DefaultTransport()
	hc := httpx.NewClient(httpx.Options{Transport: tr, Timeout: 50 * time.Millisecond})
	for range 5 {
		_, _, _ = fetch(t.Context(), hc, httpx.Retry{Backoff: time.Millisecond}, "GET", srv.URL, true, 1<<10)
		_, _, _ = fetch(t.Context(), hc, httpx.Retry{Backoff: time.Millisecond}, "GET", refusedURL(t), true, 1<<10)
	}
	close(release)
	tr.CloseIdleConnections()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		tr.CloseIdleConnections()
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines before, %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}
