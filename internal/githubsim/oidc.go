package githubsim

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const (
	issuerPath = "/_services/token"
	tokenPath  = "/_apis/actions/idtoken"
)

// claimsSupported is the list from GitHub's discovery document.
var claimsSupported = []string{
	"sub", "aud", "exp", "iat", "iss", "jti", "nbf", "ref", "sha", "repository",
	"repository_id", "repository_owner", "repository_owner_id", "enterprise",
	"enterprise_id", "run_id", "run_number", "run_attempt", "actor", "actor_id",
	"workflow", "workflow_ref", "workflow_sha", "head_ref", "base_ref", "event_name",
	"ref_type", "ref_protected", "environment", "environment_node_id",
	"job_workflow_ref", "job_workflow_sha", "repository_visibility",
	"runner_environment", "issuer_scope", "check_run_id",
}

type signingKey struct {
	kid  string
	priv *rsa.PrivateKey
}

func newSigningKey(priv *rsa.PrivateKey) *signingKey {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	kid := fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
	return &signingKey{kid: kid, priv: priv}
}

func (s *Server) registerOIDC() {
	s.handleSpecial(RouteOIDCDiscovery, "GET "+issuerPath+"/.well-known/openid-configuration", authNone, s.discovery)
	s.handleSpecial(RouteOIDCJWKS, "GET "+issuerPath+"/.well-known/jwks", authNone, s.jwks)
	s.handleSpecial(RouteActionsToken, "GET "+tokenPath, authRequestToken, s.actionsToken)
}

// currentKey returns the current signing key, generating the first one on
// demand so that REST-only tests do not pay for RSA key generation.
func (s *Server) currentKey() (*signingKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.keys) == 0 {
		priv, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, fmt.Errorf("githubsim: generate signing key: %w", err)
		}
		s.keys = append(s.keys, newSigningKey(priv))
	}
	return s.keys[len(s.keys)-1], nil
}

// RotateKey makes a new RSA-2048 key current; older keys stay in the JWKS
// until RetireOldKeys.
func (s *Server) RotateKey() error {
	if _, err := s.currentKey(); err != nil { // the key being rotated away must exist
		return err
	}
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("githubsim: generate signing key: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = append(s.keys, newSigningKey(priv))
	return nil
}

// RetireOldKeys drops every non-current key from the JWKS.
func (s *Server) RetireOldKeys() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.keys) > 1 {
		s.keys = s.keys[len(s.keys)-1:]
	}
}

// CurrentKeyID is the kid of the key new tokens are signed with.
func (s *Server) CurrentKeyID() (string, error) {
	k, err := s.currentKey()
	if err != nil {
		return "", err
	}
	return k.kid, nil
}

// SetRunClaims sets the claims the Actions token endpoint puts in the tokens it
// mints. If the claims name a repository and a run_id, that run becomes known
// to the REST API.
func (s *Server) SetRunClaims(claims map[string]any) {
	c := make(map[string]any, len(claims))
	for k, v := range claims {
		c[k] = v
	}
	repo, _ := c["repository"].(string)
	runID, _ := c["run_id"].(string)
	s.mu.Lock()
	s.runClaims = c
	s.mu.Unlock()
	if owner, name, ok := strings.Cut(repo, "/"); ok {
		if id, err := strconv.ParseInt(runID, 10, 64); err == nil {
			s.AddRun(owner, name, id)
		}
	}
}

// RunToken mints what the Actions token endpoint would answer for audience:
// the run claims plus iss, aud, iat, nbf, exp and jti (run claims win).
func (s *Server) RunToken(audience string) (string, error) {
	s.mu.Lock()
	run := make(map[string]any, len(s.runClaims)+6)
	for k, v := range s.runClaims {
		run[k] = v
	}
	s.mu.Unlock()
	if audience == "" {
		owner, _ := run["repository_owner"].(string)
		audience = "https://github.com/" + owner
	}
	now := s.cfg.now()
	claims := map[string]any{
		"iss": s.IssuerURL(),
		"aud": audience,
		"iat": now.Unix(),
		"nbf": now.Add(-5 * time.Minute).Unix(),
		"exp": now.Add(5 * time.Minute).Unix(),
		"jti": randomHex(16),
	}
	for k, v := range run {
		claims[k] = v
	}
	return s.MintToken(claims)
}

// MintToken signs claims exactly as given with the current key (RS256, kid in
// the header).
func (s *Server) MintToken(claims map[string]any) (string, error) {
	k, err := s.currentKey()
	if err != nil {
		return "", err
	}
	return signRS256(k, claims)
}

func signRS256(k *signingKey, claims map[string]any) (string, error) {
	hdr, err := json.Marshal(map[string]string{"alg": "RS256", "kid": k.kid, "typ": "JWT"})
	if err != nil {
		return "", fmt.Errorf("githubsim: marshal jwt header: %w", err)
	}
	body, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("githubsim: marshal jwt claims: %w", err)
	}
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString(hdr) + "." + enc.EncodeToString(body)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(nil, k.priv, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("githubsim: sign jwt: %w", err)
	}
	return signing + "." + enc.EncodeToString(sig), nil
}

func (s *Server) discovery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                s.IssuerURL(),
		"jwks_uri":                              s.IssuerURL() + "/.well-known/jwks",
		"subject_types_supported":               []string{"public", "pairwise"},
		"response_types_supported":              []string{"id_token"},
		"claims_supported":                      claimsSupported,
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"scopes_supported":                      []string{"openid"},
	})
}

func (s *Server) jwks(w http.ResponseWriter, _ *http.Request) {
	if _, err := s.currentKey(); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error(), "")
		return
	}
	s.mu.Lock()
	keys := make([]map[string]string, 0, len(s.keys))
	for _, k := range s.keys {
		keys = append(keys, map[string]string{
			"kty": "RSA",
			"alg": "RS256",
			"use": "sig",
			"kid": k.kid,
			"n":   base64.RawURLEncoding.EncodeToString(k.priv.N.Bytes()),
			"e":   base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.priv.E)).Bytes()),
		})
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"keys": keys})
}

// actionsToken answers like the Actions runtime token service:
// {"count": N, "value": "<jwt>"}.
func (s *Server) actionsToken(w http.ResponseWriter, r *http.Request) {
	tok, err := s.RunToken(r.URL.Query().Get("audience"))
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error(), "")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"count": len(tok), "value": tok})
}
