package testsvc

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/airlock-dev/airlock/internal/githubsim"
)

// FaultProxy is a loopback reverse proxy in front of a real server (Hydra,
// the Vault simulator, a TUF repository, a Sigstore service): it forwards
// every request unchanged, except those an injected fault matches, which get
// the fault instead (played by githubsim.ServeFault, so a fault looks the
// same in front of any server). Refuse makes its port refuse connections.
type FaultProxy struct {
	URL string

	srv   *httptest.Server
	mu    sync.Mutex
	match func(*http.Request) bool
	fault *githubsim.Fault
	hits  int
	seen  int
}

// StartFaultProxy starts a proxy to upstream (a base URL; "" answers 501 to
// anything a fault does not take). It closes when the test ends.
func StartFaultProxy(t testing.TB, upstream string) *FaultProxy {
	t.Helper()
	var next http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "fault proxy: no upstream", http.StatusNotImplemented)
	})
	if upstream != "" {
		u, err := url.Parse(upstream)
		if err != nil {
			t.Fatalf("fault proxy upstream %q: %v", upstream, err)
		}
		rp := httputil.NewSingleHostReverseProxy(u)
		rp.Transport = &http.Transport{Proxy: nil, DisableKeepAlives: true}
		next = rp
	}
	p := &FaultProxy{}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.seen++
		p.mu.Unlock()
		if f := p.take(r); f != nil && githubsim.ServeFault(w, r, *f) {
			return
		}
		next.ServeHTTP(w, r)
	}))
	p.URL = p.srv.URL
	t.Cleanup(p.Close)
	return p
}

// Inject makes every request that match accepts (nil: every request) get f.
func (p *FaultProxy) Inject(match func(*http.Request) bool, f githubsim.Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if match == nil {
		match = func(*http.Request) bool { return true }
	}
	p.match, p.fault = match, &f
}

// PathContains matches requests whose path contains s.
func PathContains(s string) func(*http.Request) bool {
	return func(r *http.Request) bool { return strings.Contains(r.URL.Path, s) }
}

// Hits is how many requests a fault answered.
func (p *FaultProxy) Hits() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hits
}

// Requests is how many requests reached the proxy, faulted or forwarded.
func (p *FaultProxy) Requests() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen
}

// Refuse closes the proxy's listener: connections to URL are refused from
// now on (the port stays unused by this process until the test ends).
func (p *FaultProxy) Refuse() { _ = p.srv.Listener.Close() }

// Close stops the proxy and closes every connection to it.
func (p *FaultProxy) Close() {
	p.srv.CloseClientConnections()
	p.srv.Close()
}

func (p *FaultProxy) take(r *http.Request) *githubsim.Fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fault == nil || !p.match(r) {
		return nil
	}
	p.hits++
	return p.fault
}
