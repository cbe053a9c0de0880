package ghapi

import (
	"net/http"
)

// Conditional requests: a GET whose answer the cache holds is sent with
// If-None-Match; GitHub's 304 then costs no rate limit and the cached body
// is used. Only 2xx answers that carry an ETag are remembered.

// Entry is one remembered answer.
type Entry struct {
	ETag string   `json:"etag"`
	Link []string `json:"link,omitempty"`
	Body []byte   `json:"body"`
}

func (e *Entry) header() http.Header {
	h := http.Header{}
	for _, l := range e.Link {
		h.Add("Link", l)
	}
	return h
}

// Cache holds answers by request URL (the token is never part of it).
// Implementations must be safe for concurrent use.
type Cache interface {
	Lookup(url string) (*Entry, bool)
	Store(url string, e *Entry)
	// NotModified counts a 304 answered from the cache.
	NotModified()
}

// WithCache makes GETs conditional on what c remembers.
func WithCache(c Cache) Option {
	return func(cl *Client) error {
		cl.cache = c
		return nil
	}
}

// condition adds If-None-Match when the cache holds the URL, and returns
// what it holds.
func (c *Client) condition(req *http.Request) *Entry {
	if c.cache == nil || req.Method != http.MethodGet {
		return nil
	}
	e, ok := c.cache.Lookup(req.URL.String())
	if !ok || e.ETag == "" {
		return nil
	}
	req.Header.Set("If-None-Match", e.ETag)
	return e
}

// remember stores a 2xx answer that has an ETag.
func (c *Client) remember(req *http.Request, resp *http.Response, body []byte) {
	if c.cache == nil || req.Method != http.MethodGet {
		return
	}
	etag := resp.Header.Get("ETag")
	if etag == "" {
		return
	}
	c.cache.Store(req.URL.String(), &Entry{ETag: etag, Link: resp.Header.Values("Link"), Body: append([]byte(nil), body...)})
}
