package httpx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"syscall"
)

// TooLargeError is a body over its cap.
type TooLargeError struct{ Limit int64 }

func (e *TooLargeError) Error() string { return fmt.Sprintf("body exceeds %d bytes", e.Limit) }

// ReadBody reads r to the end, at most limit bytes; more is a
// *TooLargeError, never a body cut short.
func ReadBody(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, StripURL(err)
	}
	if int64(len(b)) > limit {
		return nil, &TooLargeError{Limit: limit}
	}
	return b, nil
}

// Discard reads and drops a little of an answer airlock will not use, so
// the connection can be reused, then closes it.
func Discard(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 64<<10))
	_ = body.Close()
}

// Do sends req and returns net/http's error without the URL it quotes
// (*url.Error): after a redirect that is the storage host's, whose query is
// a signature. Callers name the resource themselves.
func Do(hc *http.Client, req *http.Request) (*http.Response, error) {
	resp, err := hc.Do(req)
	return resp, StripURL(err)
}

// StripURL unwraps every *url.Error in err to its operation and cause.
func StripURL(err error) error {
	var ue *url.Error
	if err == nil || !errors.As(err, &ue) {
		return err
	}
	// The cause may quote the URL again (a redirect refusal names hosts
	// only; net errors name addresses only), so unwrapping once suffices.
	return &strippedError{op: ue.Op, err: ue.Err}
}

type strippedError struct {
	op  string
	err error
}

func (e *strippedError) Error() string { return e.op + ": " + e.err.Error() }
func (e *strippedError) Unwrap() error { return e.err }

// Describe names a transport failure in a few words without anything the
// server sent or the URL: connection refused, reset, timed out, the
// redirect refusal, or the stripped error.
func Describe(err error) string {
	var ne net.Error
	var dns *net.DNSError
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.As(err, &dns):
		return fmt.Sprintf("cannot resolve %q", dns.Name)
	case errors.As(err, &ne) && ne.Timeout():
		return "timed out"
	}
	return "request failed: " + StripURL(err).Error()
}
