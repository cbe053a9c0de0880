// Package githubsim is a GitHub that runs in-process: the REST API (GHES
// layout, under /api/v3), the Actions OIDC issuer and the Actions ID-token
// endpoint, with injectable faults and a request log.
//
// Trust boundary: none. Everything here is a test double that airlock's tests
// and `airlock demo` talk to over loopback. It signs tokens with keys it
// generates itself, so nothing it mints may ever be trusted outside a test or a
// demo; New refuses any listen address that is not loopback for that reason.
package githubsim

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// apiPrefix is where GHES serves REST; the simulator uses the GHES layout so
// that one listener can carry REST, the OIDC issuer and the token endpoint.
const apiPrefix = "/api/v3"

// Special route names (not REST patterns) accepted by InjectFault.
const (
	RouteOIDCDiscovery = "oidc-discovery"
	RouteOIDCJWKS      = "oidc-jwks"
	RouteActionsToken  = "actions-token"
	// RouteAttestationBlob serves bundles by bundle_url (blob.go).
	RouteAttestationBlob = "attestation-blob"
)

const docURL = "https://docs.github.com/rest"

// DefaultRateLimit is the requests per hour a token gets unless WithRateLimit
// says otherwise (GitHub's for a GITHUB_TOKEN is 1,000; 5,000 for apps).
const DefaultRateLimit = 5000

// Fault changes how one route answers. Faults queue per route: the first one
// applies until it has been used Times times, then the next one applies.
type Fault struct {
	// Status is the HTTP status to answer with. 0 with no Body and no
	// OversizeBytes means "only delay, then answer normally".
	Status int
	// Delay is waited before answering (or before the normal handler runs).
	Delay time.Duration
	// RetryAfter is sent verbatim as the Retry-After header when non-empty.
	RetryAfter string
	// RateLimitRemaining and RateLimitReset override X-RateLimit-Remaining and
	// X-RateLimit-Reset on the fault response.
	RateLimitRemaining *int
	RateLimitReset     time.Time
	// Message replaces the default message of the GitHub-shaped error body.
	Message string
	// DocumentationURL replaces the error body's documentation_url (GitHub's
	// secondary rate limit is recognised by ".../rate-limits-for-the-rest-api#about-secondary-rate-limits").
	DocumentationURL string
	// Body is sent raw instead of a GitHub-shaped error body; it may be
	// malformed on purpose.
	Body []byte
	// OversizeBytes sends a syntactically valid JSON body of exactly this
	// many bytes (status 200 unless Status says otherwise).
	OversizeBytes int
	// Drop closes the connection without an answer, with a TCP reset: the
	// client sees what a server that dies mid-request shows.
	Drop bool
	// Location is sent as the Location header (with a 3xx Status: a redirect).
	Location string
	// SlowBody answers (status 200 unless Status says otherwise) with the
	// start of a JSON body, then one more byte every SlowBody, until the
	// client gives up.
	SlowBody time.Duration
	// Times is how often the fault applies; 0 means forever.
	Times int
}

func (f Fault) delayOnly() bool {
	return f.Status == 0 && f.Body == nil && f.OversizeBytes == 0 && !f.Drop && f.SlowBody == 0
}

// ServeFault plays f on w for r, as a route with f injected would: the delay,
// then the fault's answer. It reports whether it answered; false means f only
// delays and the normal answer is still to come. Test harnesses that put
// faults in front of other servers use it, so every fault behaves alike.
func ServeFault(w http.ResponseWriter, r *http.Request, f Fault) bool {
	return serveFault(w, r, &f, DefaultRateLimit)
}

func serveFault(w http.ResponseWriter, r *http.Request, f *Fault, rateLimit int) bool {
	if !f.delayOnly() {
		// Read the request first: only then does net/http watch the
		// connection and end r's context when the client goes away, which a
		// fault that waits (Delay, SlowBody) relies on.
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 64<<20))
	}
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return true
		}
	}
	if f.delayOnly() {
		return false
	}
	writeFault(w, r, f, rateLimit)
	return true
}

// Request is one entry of the request log. The Authorization header is never
// stored: only whether it was present.
type Request struct {
	Method      string
	Path        string
	Query       string
	Route       string // registered route name; "" when no route matched
	OperationID string // GitHub's operationId, "" for non-REST routes
	Status      int
	HasAuth     bool
	Faulted     bool // a Fault produced (or delayed) the answer
	Time        time.Time
}

// RouteInfo describes one route the simulator serves.
type RouteInfo struct {
	Name        string // the key for InjectFault
	Method      string
	Path        string // path pattern below APIURL() for REST, full path otherwise
	OperationID string // GitHub's operationId for REST routes
	Permission  string // "actions:read" etc.; "" when no token is required
}

type authKind int

const (
	authNone         authKind = iota // public: discovery, JWKS
	authREST                         // a token the simulator issued
	authRequestToken                 // the Actions ID-token request token
)

type route struct {
	RouteInfo
	auth authKind
	h    http.HandlerFunc
}

// Option configures New.
type Option func(*config) error

type config struct {
	addr      string
	now       func() time.Time
	key       *rsa.PrivateKey
	rateLimit int
}

// WithAddr sets the listen address; it must be a loopback IP (port 0 picks a
// free port). The default is 127.0.0.1:0.
func WithAddr(addr string) Option {
	return func(c *config) error {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return fmt.Errorf("listen address %q: %w", addr, err)
		}
		ip := net.ParseIP(host)
		if ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("listen address %q: expected a loopback IP, got %q", addr, host)
		}
		c.addr = addr
		return nil
	}
}

// WithClock sets the clock used for token times, approval times and rate-limit
// windows.
func WithClock(now func() time.Time) Option {
	return func(c *config) error {
		if now == nil {
			return errors.New("clock: expected a function, got nil")
		}
		c.now = now
		return nil
	}
}

// WithSigningKey makes key the first signing key instead of generating one,
// which saves the cost of RSA key generation in tests that create many
// servers.
func WithSigningKey(key *rsa.PrivateKey) Option {
	return func(c *config) error {
		if key == nil || key.N.BitLen() < 2048 {
			return errors.New("signing key: expected an RSA key of at least 2048 bits")
		}
		c.key = key
		return nil
	}
}

// WithRateLimit sets the per-token request budget per hour (default 5000).
func WithRateLimit(n int) Option {
	return func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("rate limit: expected > 0, got %d", n)
		}
		c.rateLimit = n
		return nil
	}
}

// Server is a running simulator. All methods are safe for concurrent use.
type Server struct {
	cfg      config
	ln       net.Listener
	srv      *http.Server
	mux      *http.ServeMux
	url      string
	routes   map[string]*route // by mux pattern
	byName   map[string]*route
	reqToken string
	jobToken string
	blobKey  []byte // signs bundle_url queries; blob.go

	mu            sync.Mutex
	releases      map[string]*releaseState // by repoKey; releases.go
	checks        map[string]*checksState  // by repoKey; checks.go
	tokens        map[string]*tokenState
	faults        map[string][]*Fault
	faultsServed  map[string]int
	log           []Request
	unimplemented []Request
	keys          []*signingKey // last is current
	runClaims     map[string]any
	deploySeq     int64
	notModified   int
	repos         map[string]*repoState        // by lower-case "owner/repo"
	files         map[string][]byte            // by fileKey(owner, repo, ref, path)
	teams         map[string]map[string]string // "org/team" → login → state, all lower-case
	app           *appState                    // app.go
	attDigests    map[string][]string          // subjects by attestation; app.go
}

type tokenState struct {
	perms       map[string]string // permission name → "read" | "write"
	used        int
	windowStart time.Time
}

// New starts a simulator on a loopback port.
func New(opts ...Option) (*Server, error) {
	cfg := config{addr: "127.0.0.1:0", now: time.Now, rateLimit: DefaultRateLimit}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, fmt.Errorf("githubsim: %w", err)
		}
	}
	s := &Server{
		cfg:          cfg,
		mux:          http.NewServeMux(),
		routes:       map[string]*route{},
		byName:       map[string]*route{},
		reqToken:     randomHex(20),
		jobToken:     "ghs_" + randomHex(18),
		blobKey:      []byte(randomHex(32)),
		tokens:       map[string]*tokenState{},
		faults:       map[string][]*Fault{},
		faultsServed: map[string]int{},
		repos:        map[string]*repoState{},
		teams:        map[string]map[string]string{},
		runClaims:    map[string]any{},
	}
	if cfg.key != nil {
		s.keys = []*signingKey{newSigningKey(cfg.key)}
	}
	s.AddToken(s.jobToken, DefaultJobPermissions...)
	s.registerOIDC()
	s.registerREST()
	s.registerBlobs()

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return nil, fmt.Errorf("githubsim: listen on %s: %w", cfg.addr, err)
	}
	s.ln = ln
	s.url = "http://" + ln.Addr().String()
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Close stops the server and drops open connections.
func (s *Server) Close() { _ = s.srv.Close() }

// URL is the server root, e.g. http://127.0.0.1:PORT.
func (s *Server) URL() string { return s.url }

// APIURL is the REST base, the value GITHUB_API_URL has on GHES.
func (s *Server) APIURL() string { return s.url + apiPrefix }

// IssuerURL is the OIDC issuer in the GHES form.
func (s *Server) IssuerURL() string { return s.url + issuerPath }

// TokenRequestURL is what ACTIONS_ID_TOKEN_REQUEST_URL would be. It already
// carries a query, so clients append "&audience=AUD".
func (s *Server) TokenRequestURL() string { return s.url + tokenPath + "?api-version=2.0" }

// TokenRequestToken is what ACTIONS_ID_TOKEN_REQUEST_TOKEN would be.
func (s *Server) TokenRequestToken() string { return s.reqToken }

// JobToken is a REST token with DefaultJobPermissions, like a job's
// GITHUB_TOKEN.
func (s *Server) JobToken() string { return s.jobToken }

// DefaultJobPermissions are the permissions of JobToken: what a promotion job
// would grant in its `permissions:` block.
var DefaultJobPermissions = []string{
	"actions:read", "attestations:write", "checks:write", "contents:write",
	"deployments:read", "id-token:write", "metadata:read", "pull-requests:read",
	"statuses:write",
}

// AddToken makes token valid for REST calls with the given permissions, each
// "name:read" or "name:write" (write implies read). Every token can read
// metadata, as on GitHub.
func (s *Server) AddToken(token string, scopes ...string) {
	perms := map[string]string{"metadata": "read"}
	for _, sc := range scopes {
		name, level, ok := strings.Cut(sc, ":")
		if !ok || (level != "read" && level != "write") {
			panic(fmt.Sprintf("githubsim: AddToken: scope %q: expected NAME:read or NAME:write", sc))
		}
		if perms[name] != "write" {
			perms[name] = level
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[token] = &tokenState{perms: perms}
}

// RemoveToken makes token unknown again (answers 401), like a revoked token.
func (s *Server) RemoveToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tokens, token)
}

// Routes lists every route the simulator serves, sorted by name.
func (s *Server) Routes() []RouteInfo {
	out := make([]RouteInfo, 0, len(s.byName))
	for _, r := range s.byName {
		out = append(out, r.RouteInfo)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// InjectFault queues f for route, a REST pattern as registered (e.g.
// "GET /repos/{owner}/{repo}") or one of the Route* names. An unknown route
// panics: a fault that can never fire would make a test pass vacuously.
func (s *Server) InjectFault(route string, f Fault) {
	if _, ok := s.byName[route]; !ok {
		names := make([]string, 0, len(s.byName))
		for n := range s.byName {
			names = append(names, n)
		}
		slices.Sort(names)
		panic(fmt.Sprintf("githubsim: InjectFault: unknown route %q; known: %q", route, names))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[route] = append(s.faults[route], &f)
}

// FaultsServed is how many requests to route a fault took, counted when the
// fault starts (the request log has an entry only once the answer ends).
func (s *Server) FaultsServed(route string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faultsServed[route]
}

// ClearFaults drops every queued fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = map[string][]*Fault{}
}

// Requests returns a copy of the log of requests that matched a route.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.log)
}

// RequestsSince returns the requests logged after the first n (a length of
// Requests taken before the call under test), only those to route unless
// route is "".
func (s *Server) RequestsSince(n int, route string) []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Request
	for _, r := range s.log[min(n, len(s.log)):] {
		if route == "" || r.Route == route {
			out = append(out, r)
		}
	}
	return out
}

// Unimplemented returns the requests that matched no route (answered 501).
func (s *Server) Unimplemented() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.unimplemented)
}

// ServeHTTP routes a request; requests that match no route are answered 501
// with a GitHub-shaped body and logged, so tests notice calls the simulator
// does not model instead of silently getting a 404.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, pattern := s.mux.Handler(r); pattern == "" || s.routes[pattern] == nil {
		writeError(w, http.StatusNotImplemented, fmt.Sprintf("githubsim: no route for %s %s", r.Method, r.URL.Path), "")
		s.mu.Lock()
		s.unimplemented = append(s.unimplemented, Request{
			Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Status: http.StatusNotImplemented,
			HasAuth: r.Header.Get("Authorization") != "", Time: s.cfg.now(),
		})
		s.mu.Unlock()
		return
	}
	s.mux.ServeHTTP(w, r)
}

// rest registers a REST route: the pattern ("METHOD /path", a Go ServeMux
// pattern written as in GitHub's description, served below /api/v3), GitHub's
// operationId, the permission a token needs ("actions:read"; "" for none) and
// the handler. Auth, rate-limit headers, faults and the log come with it.
func (s *Server) rest(pattern, operationID, permission string, h http.HandlerFunc) {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		panic("githubsim: route pattern without method: " + pattern)
	}
	rt := &route{RouteInfo: RouteInfo{Name: pattern, Method: method, Path: path, OperationID: operationID, Permission: permission}, auth: authREST, h: h}
	s.register(method+" "+apiPrefix+path, rt)
}

// handleSpecial registers a non-REST route under a fixed name.
func (s *Server) handleSpecial(name, pattern string, auth authKind, h http.HandlerFunc) {
	method, path, _ := strings.Cut(pattern, " ")
	rt := &route{RouteInfo: RouteInfo{Name: name, Method: method, Path: path}, auth: auth, h: h}
	s.register(pattern, rt)
}

func (s *Server) register(muxPattern string, rt *route) {
	if _, dup := s.byName[rt.Name]; dup {
		panic("githubsim: duplicate route " + rt.Name)
	}
	s.routes[muxPattern] = rt
	s.byName[rt.Name] = rt
	s.mux.HandleFunc(muxPattern, func(w http.ResponseWriter, r *http.Request) { s.serveRoute(w, r, rt) })
}

func (s *Server) serveRoute(w http.ResponseWriter, r *http.Request, rt *route) {
	rec := &recorder{ResponseWriter: w}
	entry := Request{
		Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Route: rt.Name,
		OperationID: rt.OperationID, HasAuth: r.Header.Get("Authorization") != "", Time: s.cfg.now(),
	}
	defer func() {
		entry.Status = rec.status
		if entry.Status == 0 {
			entry.Status = http.StatusOK
		}
		s.mu.Lock()
		s.log = append(s.log, entry)
		s.mu.Unlock()
	}()

	if f := s.takeFault(rt.Name); f != nil {
		entry.Faulted = true
		if serveFault(rec, r, f, s.cfg.rateLimit) {
			return
		}
	}

	switch rt.auth {
	case authREST:
		charged := false
		if !s.anonymousRead(r) {
			if !s.authorizeREST(rec, r, rt) {
				return
			}
			charged = true
		}
		// Asset content streams as it would from GitHub's storage host,
		// which this simulator does not model for conditional requests.
		if r.Method == http.MethodGet && r.Header.Get("Accept") != "application/octet-stream" {
			s.serveConditional(rec, r, rt, charged)
			return
		}
	case authRequestToken:
		scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		if !strings.EqualFold(scheme, "bearer") || tok != s.reqToken {
			writeError(rec, http.StatusUnauthorized, "Bad credentials", "")
			return
		}
	}
	rt.h(rec, r)
}

// takeFault returns a copy of the fault that applies now, consuming one use.
func (s *Server) takeFault(name string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.faults[name]
	if len(q) == 0 {
		return nil
	}
	f := *q[0]
	s.faultsServed[name]++
	if q[0].Times > 0 {
		q[0].Times--
		if q[0].Times == 0 {
			s.faults[name] = q[1:]
		}
	}
	return &f
}

func writeFault(w http.ResponseWriter, r *http.Request, f *Fault, rateLimit int) {
	if f.Drop {
		dropConnection(w)
		return
	}
	h := w.Header()
	if f.Location != "" {
		h.Set("Location", f.Location)
	}
	if f.RetryAfter != "" {
		h.Set("Retry-After", f.RetryAfter)
	}
	if f.RateLimitRemaining != nil {
		h.Set("X-RateLimit-Limit", strconv.Itoa(rateLimit))
		h.Set("X-RateLimit-Remaining", strconv.Itoa(*f.RateLimitRemaining))
		h.Set("X-RateLimit-Resource", "core")
	}
	if !f.RateLimitReset.IsZero() {
		h.Set("X-RateLimit-Reset", strconv.FormatInt(f.RateLimitReset.Unix(), 10))
	}
	status := f.Status
	switch {
	case f.SlowBody > 0:
		writeSlowly(w, r, status, f.SlowBody)
	case f.OversizeBytes > 0:
		if status == 0 {
			status = http.StatusOK
		}
		h.Set("Content-Type", "application/json; charset=utf-8")
		h.Set("Content-Length", strconv.Itoa(f.OversizeBytes))
		w.WriteHeader(status)
		writeOversize(w, f.OversizeBytes)
	case f.Body != nil:
		if status == 0 {
			status = http.StatusOK
		}
		h.Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write(f.Body)
	default:
		msg := f.Message
		if msg == "" {
			msg = defaultMessage(status)
		}
		writeError(w, status, msg, f.DocumentationURL)
	}
}

// dropConnection closes the client's connection with a reset (SO_LINGER 0)
// instead of an answer.
func dropConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic("githubsim: cannot drop the connection: " + err.Error())
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// writeSlowly sends the start of a JSON object, then one byte per interval
// until the client goes away.
func writeSlowly(w http.ResponseWriter, r *http.Request, status int, interval time.Duration) {
	if status == 0 {
		status = http.StatusOK
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	rc := http.NewResponseController(w)
	_, _ = w.Write([]byte(`{"a":"`))
	_ = rc.Flush()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-t.C:
			if _, err := w.Write([]byte("a")); err != nil {
				return
			}
			if rc.Flush() != nil {
				return
			}
		}
	}
}

// writeOversize writes a JSON string of exactly n bytes (n >= 2), so the body
// is valid JSON and only its size is wrong.
func writeOversize(w http.ResponseWriter, n int) {
	if n < 2 {
		_, _ = w.Write([]byte("0")[:n])
		return
	}
	_, _ = w.Write([]byte{'"'})
	chunk := []byte(strings.Repeat("a", 32*1024))
	for left := n - 2; left > 0; {
		k := min(left, len(chunk))
		if _, err := w.Write(chunk[:k]); err != nil {
			return
		}
		left -= k
	}
	_, _ = w.Write([]byte{'"'})
}

func defaultMessage(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "Bad credentials"
	case http.StatusForbidden:
		return "Resource not accessible by integration"
	case http.StatusNotFound:
		return "Not Found"
	case http.StatusTooManyRequests:
		return "API rate limit exceeded"
	case http.StatusUnprocessableEntity:
		return "Validation Failed"
	default:
		if t := http.StatusText(status); t != "" {
			return t
		}
		return "Server Error"
	}
}

// authorizeREST checks the token, charges the rate limit and checks the
// route's permission, answering as GitHub does when one fails.
func (s *Server) authorizeREST(w http.ResponseWriter, r *http.Request, rt *route) bool {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		writeError(w, http.StatusUnauthorized, "Requires authentication", "")
		return false
	}
	scheme, tok, _ := strings.Cut(auth, " ")
	s.mu.Lock()
	ts := s.tokens[tok]
	if ts == nil || (!strings.EqualFold(scheme, "bearer") && !strings.EqualFold(scheme, "token")) {
		s.mu.Unlock()
		writeError(w, http.StatusUnauthorized, "Bad credentials", "")
		return false
	}
	now := s.cfg.now()
	if ts.windowStart.IsZero() || now.Sub(ts.windowStart) >= time.Hour {
		ts.windowStart, ts.used = now, 0
	}
	ts.used++
	used, reset := ts.used, ts.windowStart.Add(time.Hour)
	allowed := permits(ts.perms, rt.Permission)
	s.mu.Unlock()

	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(s.cfg.rateLimit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(max(s.cfg.rateLimit-used, 0)))
	h.Set("X-RateLimit-Used", strconv.Itoa(min(used, s.cfg.rateLimit)))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	h.Set("X-RateLimit-Resource", "core")
	if rt.Permission != "" {
		h.Set("X-Accepted-GitHub-Permissions", strings.Replace(rt.Permission, ":", "=", 1))
	}
	if used > s.cfg.rateLimit {
		writeError(w, http.StatusForbidden, "API rate limit exceeded for installation.",
			"https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api")
		return false
	}
	if !allowed {
		writeError(w, http.StatusForbidden, "Resource not accessible by integration", "")
		return false
	}
	return true
}

// anonymousRead: as on GitHub, anyone may read a public repository without
// a token (drafts stay hidden: see isAnonymous).
func (s *Server) anonymousRead(r *http.Request) bool {
	if !isAnonymous(r) || r.Method != http.MethodGet {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := s.repos[repoKey(r.PathValue("owner"), r.PathValue("repo"))]
	return rs != nil && rs.repo.Visibility == "public"
}

func isAnonymous(r *http.Request) bool { return r.Header.Get("Authorization") == "" }

func permits(perms map[string]string, need string) bool {
	if need == "" {
		return true
	}
	name, level, _ := strings.Cut(need, ":")
	have := perms[name]
	return have == "write" || (have == "read" && level == "read")
}

// recorder remembers the status for the request log.
type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection (Flush, Hijack).
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms.
	return hex.EncodeToString(b)
}
