package httpx

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const (
	// MaxAttempts bounds every request: one try and two retries.
	MaxAttempts = 3
	// DefaultBackoff is the wait before the first retry; it doubles for
	// the next and is jittered (between half and all of it).
	DefaultBackoff = 250 * time.Millisecond
	// DefaultMaxWait is the longest one wait between attempts may be,
	// Retry-After included.
	DefaultMaxWait = 30 * time.Second
	// maxRetryAfter is the longest Retry-After that parses. A server
	// asking for more than a day has sent something else (a timestamp in
	// the wrong form, an overflow): treated as malformed.
	maxRetryAfter = 24 * time.Hour
)

// Retry is the one retry loop's policy. The zero value is the default.
type Retry struct {
	// Attempts is the most attempts, 1 to MaxAttempts; 0 (or more) is
	// MaxAttempts.
	Attempts int
	// Backoff is the first wait; 0 is DefaultBackoff.
	Backoff time.Duration
	// MaxWait is the longest one wait may be. A server asking for longer
	// (Retry-After) ends the retries at once: coming back sooner would
	// ignore it, waiting longer is not what the run's deadline is for.
	// 0 is DefaultMaxWait.
	MaxWait time.Duration
	// Sleep waits d or until ctx ends (then it returns ctx's error);
	// nil is a timer. Tests record the waits instead.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now reads Retry-After dates and the deadline; nil is time.Now.
	Now func() time.Time
}

func (r Retry) withDefaults() Retry {
	if r.Attempts <= 0 || r.Attempts > MaxAttempts {
		r.Attempts = MaxAttempts
	}
	if r.Backoff <= 0 {
		r.Backoff = DefaultBackoff
	}
	if r.MaxWait <= 0 {
		r.MaxWait = DefaultMaxWait
	}
	if r.Sleep == nil {
		r.Sleep = Sleep
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	return r
}

// Wait is what an attempt asks of the loop: stop, retry after the
// jittered backoff, or retry after what the server asked.
type Wait struct {
	retry  bool
	after  time.Duration
	server bool
	// why a failure that could have been retried was not.
	why string
}

// Final stops the loop with the attempt's error.
var Final = Wait{}

// Backoff retries after the loop's jittered, doubling backoff.
func Backoff() Wait { return Wait{retry: true} }

// After retries after d, what the server asked (Retry-After, a rate
// limit's reset): not jittered, and more than MaxWait stops the loop.
func After(d time.Duration) Wait { return Wait{retry: true, after: max(d, 0), server: true} }

// finalBecause stops the loop and says why in the error.
func finalBecause(why string) Wait { return Wait{why: why} }

// Retries reports whether the attempt asked to be retried.
func (w Wait) Retries() bool { return w.retry }

// Idempotent reports whether a request with method can be sent twice with
// the effect of once (RFC 9110 §9.2.2): GET, HEAD, PUT, DELETE, OPTIONS,
// TRACE. A POST or PATCH is retried only where its API makes it so, and
// the call site says why.
func Idempotent(method string) bool {
	switch method {
	case "", http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

const notRetried = "not retried: the request may have taken effect"

// ForError is the Wait for a request that got no answer (err from Do or
// from reading the body). ctx ending is final. Otherwise an idempotent
// request is retried, and so is any request that never left this machine
// (the connection was not made: refused, unresolvable); any other may have
// reached the server and been applied, so it is not.
func ForError(ctx context.Context, idempotent bool, err error) Wait {
	switch {
	case err == nil:
		return Final
	case ctx.Err() != nil, errors.Is(err, ErrRedirectRefused):
		return Final
	case errors.As(err, new(*TooLargeError)):
		return Final
	case !idempotent && !notSent(err):
		return finalBecause(notRetried)
	}
	return Backoff()
}

// notSent reports whether err is a failure to connect, before any byte of
// the request was written.
func notSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial" || errors.As(err, new(*net.DNSError))
}

// ForStatus is the Wait for an answer that is not a success. 429 and 5xx
// (but 501, which will not change) are transient, honouring Retry-After.
// A non-idempotent request is retried only after a 429: a server rate
// limits before it acts, while a 5xx may come from a gateway after the
// origin applied the request.
func ForStatus(idempotent bool, status int, h http.Header, now time.Time) Wait {
	s := status
	switch {
	case s == http.StatusTooManyRequests:
	case s >= 500 && s != http.StatusNotImplemented && idempotent:
	case s >= 500 && s != http.StatusNotImplemented:
		return finalBecause(notRetried)
	default:
		return Final
	}
	if d, ok := RetryAfter(h, now); ok {
		return After(d)
	}
	return Backoff()
}

// HasRetryAfter reports whether h carries a Retry-After at all (GitHub's
// secondary rate limit is a 403 that does).
func HasRetryAfter(h http.Header) bool { return h.Get("Retry-After") != "" }

// RetryAfter is the one Retry-After parser (RFC 9110 §10.2.3):
// delay-seconds, or an HTTP-date (a date past is 0). Empty, malformed,
// negative, or more than a day is not ok: the caller uses its default
// backoff. now reads the date.
func RetryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	return parseRetryAfter(h.Get("Retry-After"), now)
}

func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if strings.HasPrefix(v, "-") || strings.HasPrefix(v, "+") { // delay-seconds is 1*DIGIT
		return 0, false
	}
	if sec, err := strconv.ParseInt(v, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		if err != nil || sec > int64(maxRetryAfter/time.Second) {
			return 0, false
		}
		return time.Duration(sec) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d := t.Sub(now)
	if d > maxRetryAfter {
		return 0, false
	}
	return max(d, 0), true
}

// GaveUpError is a failure the loop stopped retrying: the last attempt's
// error and why no further attempt was made.
type GaveUpError struct {
	Err      error
	Attempts int
	// Reason is, e.g., "gave up after 3 attempts".
	Reason string
	// TooLong is set when the server asked for a wait over MaxWait,
	// Interrupted when ctx ended while waiting.
	TooLong, Interrupted bool
	cause                error
}

func (e *GaveUpError) Error() string { return e.Err.Error() + " (" + e.Reason + ")" }

func (e *GaveUpError) Unwrap() []error {
	if e.cause != nil {
		return []error{e.Err, e.cause}
	}
	return []error{e.Err}
}

// Do runs attempt (n counts from 1) until it succeeds, asks to stop, or
// the policy ends it: attempts used up, a wait longer than MaxWait or past
// ctx's deadline, or ctx ending during a wait. The error is the attempt's,
// or a *GaveUpError wrapping it when a retry was asked for but not made.
func (r Retry) Do(ctx context.Context, attempt func(ctx context.Context, n int) (Wait, error)) error {
	r = r.withDefaults()
	for n := 1; ; n++ {
		w, err := attempt(ctx, n)
		if err == nil {
			return nil
		}
		if !w.retry {
			if w.why != "" {
				return &GaveUpError{Err: err, Attempts: n, Reason: w.why}
			}
			return err
		}
		if n >= r.Attempts {
			return &GaveUpError{Err: err, Attempts: n, Reason: fmt.Sprintf("gave up after %d attempts", n)}
		}
		d := w.after
		if !w.server {
			d = r.backoff(n)
		}
		if d > r.MaxWait {
			return &GaveUpError{Err: err, Attempts: n, TooLong: true,
				Reason: fmt.Sprintf("asked to retry after %s, more than the %s airlock waits", d, r.MaxWait)}
		}
		if dl, ok := ctx.Deadline(); ok && r.Now().Add(d).After(dl) {
			return &GaveUpError{Err: err, Attempts: n, Interrupted: true,
				Reason: fmt.Sprintf("retrying after %s would pass the deadline", d)}
		}
		if serr := r.Sleep(ctx, d); serr != nil {
			return &GaveUpError{Err: err, Attempts: n, Interrupted: true, cause: serr,
				Reason: "waiting to retry: " + serr.Error()}
		}
	}
}

// backoff is Backoff doubled per attempt, capped at MaxWait, jittered to
// between half and all of it so that clients failing together do not
// retry together.
func (r Retry) backoff(n int) time.Duration {
	d := r.Backoff << min(n-1, 20)
	if d <= 0 || d > r.MaxWait {
		d = r.MaxWait
	}
	return d/2 + rand.N(d/2+1)
}

// Sleep waits d, or returns ctx's error as soon as ctx ends.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
