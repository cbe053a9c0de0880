package testsvc

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"syscall"
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
	held  int // the socket holding a refused port (Refuse), or 0
	t     testing.TB
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
	p := &FaultProxy{t: t}
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
// now on. The port stays taken until Close: a socket bound to it but not
// listening answers a connect with a reset (ECONNREFUSED), and no other
// listener, such as a parallel test's server given port 0, can get it.
// A freed port did get reused, and then the refused requests reached that
// test's server.
func (p *FaultProxy) Refuse() {
	addr, ok := p.srv.Listener.Addr().(*net.TCPAddr)
	_ = p.srv.Listener.Close()
	if !ok || addr.IP.To4() == nil {
		return
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		p.t.Fatalf("fault proxy: hold %s: %v", addr, err)
	}
	sa := &syscall.SockaddrInet4{Port: addr.Port}
	copy(sa.Addr[:], addr.IP.To4())
	if err := syscall.Bind(fd, sa); err != nil {
		_ = syscall.Close(fd)
		p.t.Fatalf("fault proxy: hold %s: %v", addr, err)
	}
	p.mu.Lock()
	p.held = fd
	p.mu.Unlock()
}

// Close stops the proxy and closes every connection to it.
func (p *FaultProxy) Close() {
	p.srv.CloseClientConnections()
	p.srv.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.held > 0 {
		_ = syscall.Close(p.held)
		p.held = 0
	}
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
