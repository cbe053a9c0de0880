package githubsim

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
)

// Conditional requests, as GitHub answers them: every 200 to a GET carries
// an ETag of its body; a request whose If-None-Match names it is answered
// 304 with no body, and a 304 does not count against the rate limit
// ("Making a conditional request does not count against your primary rate
// limit if a 304 response is returned").

// bufferWriter holds a handler's answer until its ETag is known.
type bufferWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferWriter) Header() http.Header { return b.header }
func (b *bufferWriter) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}
func (b *bufferWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

// serveConditional runs a GET handler and answers 304 when the client
// already holds the body; charged says the request was counted against a
// token's budget (and is refunded on a 304).
func (s *Server) serveConditional(w http.ResponseWriter, r *http.Request, rt *route, charged bool) {
	buf := &bufferWriter{header: w.Header()}
	rt.h(buf, r)
	status := buf.status
	if status == 0 {
		status = http.StatusOK
	}
	if status == http.StatusOK {
		sum := sha256.Sum256(buf.body.Bytes())
		etag := `W/"` + hex.EncodeToString(sum[:16]) + `"`
		w.Header().Set("ETag", etag)
		if etagMatches(r.Header.Get("If-None-Match"), etag) {
			if charged {
				s.refund(w, r)
			}
			w.Header().Del("Content-Type")
			w.Header().Del("Content-Length")
			w.WriteHeader(http.StatusNotModified)
			s.mu.Lock()
			s.notModified++
			s.mu.Unlock()
			return
		}
	}
	w.WriteHeader(status)
	_, _ = w.Write(buf.body.Bytes())
}

// etagMatches compares as RFC 9110's weak comparison does for
// If-None-Match: a list of tags or "*".
func etagMatches(header, etag string) bool {
	if header == "" {
		return false
	}
	bare := strings.TrimPrefix(etag, "W/")
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == bare {
			return true
		}
	}
	return false
}

// refund gives back the request a 304 took from the token's budget.
func (s *Server) refund(w http.ResponseWriter, r *http.Request) {
	_, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	s.mu.Lock()
	ts := s.tokens[tok]
	used := 0
	if ts != nil && ts.used > 0 {
		ts.used--
		used = ts.used
	}
	s.mu.Unlock()
	if ts == nil {
		return
	}
	w.Header().Set("X-RateLimit-Remaining", strconv.Itoa(max(s.cfg.rateLimit-used, 0)))
	w.Header().Set("X-RateLimit-Used", strconv.Itoa(min(used, s.cfg.rateLimit)))
}

// NotModified counts the 304s served: conditional requests that cost no
// rate limit.
func (s *Server) NotModified() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.notModified
}
