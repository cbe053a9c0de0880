// Package issuersim is the demo's production issuer: an in-memory OAuth 2.0
// authorization server that speaks RFC 8693 token exchange (a verified
// OIDC token in, an opaque access token out), RFC 7662 introspection and
// RFC 7009 revocation, on loopback.
//
// It exists because `airlock demo` runs with no network and no server
// binary: the tests mint at real issuers (Ory Hydra for RFC 7523,
// zitadel/oidc's op for RFC 8693). Its trust policy is the one a real
// production issuer would hold: the subject token must verify against the
// trusted OIDC issuer's keys for the expected audience, the workload's
// subject maps to one production principal, and only allowed scopes are
// issued.
package issuersim

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// Policy is the issuer's trust policy.
type Policy struct {
	// TrustedIssuer and JWKSURL verify the subject token; Audience is the
	// aud it must carry.
	TrustedIssuer, JWKSURL, Audience string
	// Subject is the workload (the token's sub) allowed to exchange, and
	// Principal the production identity it becomes.
	Subject, Principal string
	// ClientID and ClientSecret authenticate the client (Basic).
	ClientID, ClientSecret string
	// Scopes may be issued; a request for any other is invalid_scope.
	Scopes []string
	// Lifetime of an issued token.
	Lifetime time.Duration
}

type token struct {
	sub, scope, jti string
	exp             time.Time
}

// Server is a running issuer.
type Server struct {
	policy Policy
	srv    *http.Server
	url    string
	keys   *oidc.IDTokenVerifier
	mu     sync.Mutex
	tokens map[string]token
}

// Start serves p on a loopback port; hc fetches the trusted issuer's keys.
func Start(p Policy, hc *http.Client) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	ctx := oidc.ClientContext(context.Background(), hc)
	s := &Server{
		policy: p,
		url:    "http://" + ln.Addr().String(),
		keys:   oidc.NewVerifier(p.TrustedIssuer, oidc.NewRemoteKeySet(ctx, p.JWKSURL), &oidc.Config{ClientID: p.Audience}),
		tokens: map[string]token{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth2/token", s.token)
	mux.HandleFunc("POST /oauth2/introspect", s.introspect)
	mux.HandleFunc("POST /oauth2/revoke", s.revoke)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go s.srv.Serve(ln) //nolint:errcheck // ends with Close
	return s, nil
}

// URL is the issuer's identifier and base URL.
func (s *Server) URL() string { return s.url }

// Close stops the server.
func (s *Server) Close() error { return s.srv.Close() }

func (s *Server) authenticated(r *http.Request) bool {
	id, secret, ok := r.BasicAuth()
	return ok && subtle.ConstantTimeCompare([]byte(id), []byte(s.policy.ClientID)) == 1 &&
		subtle.ConstantTimeCompare([]byte(secret), []byte(s.policy.ClientSecret)) == 1
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc}) //nolint:errcheck
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if !s.authenticated(r) {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return
	}
	if r.PostFormValue("grant_type") != "urn:ietf:params:oauth:grant-type:token-exchange" {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "only token exchange")
		return
	}
	if r.PostFormValue("subject_token_type") != "urn:ietf:params:oauth:token-type:jwt" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "subject_token_type must be jwt")
		return
	}
	if r.PostFormValue("actor_token") != "" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "delegation is not allowed")
		return
	}
	idt, err := s.keys.Verify(r.Context(), r.PostFormValue("subject_token"))
	if err != nil || idt.Subject != s.policy.Subject {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "the subject token is not trusted")
		return
	}
	scopes := strings.Fields(r.PostFormValue("scope"))
	for _, sc := range scopes {
		if !slices.Contains(s.policy.Scopes, sc) {
			oauthError(w, http.StatusBadRequest, "invalid_scope", "scope "+sc+" is not allowed")
			return
		}
	}
	if len(scopes) == 0 {
		oauthError(w, http.StatusBadRequest, "invalid_scope", "no scope requested")
		return
	}
	value, jti := random(), random()
	t := token{sub: s.policy.Principal, scope: strings.Join(scopes, " "), jti: jti, exp: time.Now().Add(s.policy.Lifetime)}
	s.mu.Lock()
	s.tokens[value] = t
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(map[string]any{ //nolint:errcheck
		"access_token":      value,
		"issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
		"token_type":        "Bearer",
		"expires_in":        int64(s.policy.Lifetime / time.Second),
		"scope":             t.scope,
	})
}

func (s *Server) lookup(value string) (token, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[value]
	if ok && time.Now().After(t.exp) {
		delete(s.tokens, value)
		return token{}, false
	}
	return t, ok
}

func (s *Server) introspect(w http.ResponseWriter, r *http.Request) {
	if !s.authenticated(r) {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	t, ok := s.lookup(r.PostFormValue("token"))
	if !ok {
		json.NewEncoder(w).Encode(map[string]bool{"active": false}) //nolint:errcheck
		return
	}
	json.NewEncoder(w).Encode(map[string]any{ //nolint:errcheck
		"active": true, "scope": t.scope, "client_id": s.policy.ClientID, "sub": t.sub,
		"iss": s.url, "jti": t.jti, "exp": t.exp.Unix(), "token_type": "Bearer",
	})
}

func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	if !s.authenticated(r) {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return
	}
	s.mu.Lock()
	delete(s.tokens, r.PostFormValue("token"))
	s.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func random() string {
	b := make([]byte, 24)
	rand.Read(b) //nolint:errcheck // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}
