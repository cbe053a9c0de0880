// Package identity requests and verifies the GitHub Actions OIDC token
// (control C1: the run is who it claims to be).
//
// Trust boundary: a raw token, a discovery document and a JWKS are untrusted
// input. Only a token whose RS256 signature verifies under the key its kid
// names — in the JWKS of exactly the configured issuer — with the configured
// audience and a current validity window becomes Claims. Every fact airlock
// uses about a run comes from those Claims, never from GITHUB_* variables.
//
// Two kinds of failure are kept apart: *VerificationError means the token is
// invalid (the caller denies), fault.Operational means airlock could not
// decide (discovery or JWKS unreachable or malformed; exit 3). Neither ever
// contains the token.
package identity

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/airlock-dev/airlock/internal/fault"
)

const (
	// maxLeeway bounds clock-skew tolerance: a larger one would stretch
	// GitHub's five-minute tokens well past their intended life.
	maxLeeway = 5 * time.Minute
	// maxTokenBytes rejects absurd input before any parsing; GitHub tokens
	// are about 1.5 KiB.
	maxTokenBytes = 64 << 10
)

// requiredClaims are the claims the gate's rules read. A token without one of
// them cannot be evaluated, so it is rejected rather than read as empty.
var requiredClaims = []string{
	"iss", "sub", "aud", "exp", "iat",
	"repository", "repository_id", "repository_owner_id",
	"ref", "sha", "run_id", "run_attempt", "actor", "runner_environment",
}

// Config configures a Verifier. Unsafe combinations are rejected by
// NewVerifier, not discovered during verification.
type Config struct {
	// Issuer is compared byte for byte with the token's iss and the discovery
	// document's issuer: no normalisation, a trailing slash matters. It must
	// be https, or http for a loopback host (tests, simulators).
	Issuer string
	// Audience must be one of the token's aud values, exactly. Required.
	Audience string
	// JWKS, when set, is the complete static key set (e.g. from a file for
	// offline verification): no discovery, no fetches, no rotation.
	// Otherwise keys come from discovery and the document's jwks_uri.
	JWKS []byte
	// HTTPClient performs discovery and JWKS fetches; required without JWKS.
	// It should carry a timeout.
	HTTPClient *http.Client
	// Now is the clock for exp, nbf and the refetch rate limit. Required.
	Now func() time.Time
	// Leeway tolerates clock skew on exp and nbf; 0 to 5 minutes. go-oidc's
	// own nbf check sees the clock shifted back by Leeway, so the effective
	// nbf tolerance is min(Leeway, 5m-Leeway): stricter, never looser.
	Leeway time.Duration
}

// Verifier verifies GitHub Actions OIDC tokens. It caches discovery and the
// JWKS, so one Verifier should be reused for the life of the process. It is
// safe for concurrent use.
type Verifier struct {
	issuer   string
	audience string
	now      func() time.Time
	leeway   time.Duration
	keys     *keySet
	oidc     *oidc.IDTokenVerifier
}

// NewVerifier validates cfg and returns a Verifier. Configuration errors are
// fault.Config. Nothing is fetched here: discovery happens on first use, under
// the caller's context.
func NewVerifier(cfg Config) (*Verifier, error) {
	if cfg.Issuer == "" {
		return nil, fault.Configf("oidc verifier: empty issuer")
	}
	iu, err := url.Parse(cfg.Issuer)
	if err != nil {
		return nil, fault.Configf("oidc verifier: issuer %q: %w", cfg.Issuer, err)
	}
	if err := checkTransportURL(iu); err != nil {
		return nil, fault.Configf("oidc verifier: issuer %q: %w", cfg.Issuer, err)
	}
	if iu.RawQuery != "" || iu.Fragment != "" || iu.Opaque != "" {
		return nil, fault.Configf("oidc verifier: issuer %q: must not have a query or fragment", cfg.Issuer)
	}
	if cfg.Audience == "" {
		return nil, fault.Configf("oidc verifier: empty audience")
	}
	if cfg.Now == nil {
		return nil, fault.Configf("oidc verifier: no clock")
	}
	if cfg.Leeway < 0 || cfg.Leeway > maxLeeway {
		return nil, fault.Configf("oidc verifier: leeway %v: must be between 0 and %v", cfg.Leeway, maxLeeway)
	}
	ks := &keySet{issuer: cfg.Issuer, hc: cfg.HTTPClient, now: cfg.Now, fetchLock: make(chan struct{}, 1)}
	if cfg.JWKS != nil {
		keys, err := parseJWKS(cfg.JWKS)
		if err != nil {
			return nil, fault.Configf("oidc verifier: static jwks: %w", err)
		}
		ks.static, ks.keys, ks.fetched = true, keys, true
	} else if cfg.HTTPClient == nil {
		return nil, fault.Configf("oidc verifier: no http client and no static jwks")
	}

	v := &Verifier{
		issuer:   cfg.Issuer,
		audience: cfg.Audience,
		now:      cfg.Now,
		leeway:   cfg.Leeway,
		keys:     ks,
	}
	v.oidc = oidc.NewVerifier(cfg.Issuer, ks, &oidc.Config{
		ClientID:             cfg.Audience,
		SupportedSigningAlgs: []string{"RS256"},
		// Shifting the clock back by Leeway is how go-oidc's exact exp check
		// learns our leeway; our own checks below use the real clock.
		Now: func() time.Time { return v.now().Add(-v.leeway) },
	})
	return v, nil
}

// VerificationError means the token is not valid evidence: the caller turns it
// into a deny. Reason is safe to show to users; it never contains the token.
type VerificationError struct {
	Reason string
	Err    error
}

func (e *VerificationError) Error() string {
	if e.Err != nil {
		return "oidc token rejected: " + e.Reason + ": " + e.Err.Error()
	}
	return "oidc token rejected: " + e.Reason
}

func (e *VerificationError) Unwrap() error { return e.Err }

// Verify checks rawToken and returns its claims. go-oidc performs the standard
// checks (signature through our kid-strict key set, issuer, audience, expiry);
// the checks after it are stricter than go-oidc's (no built-in nbf leeway,
// iat, GitHub's required claims) and also name the exact reason when go-oidc
// rejects.
func (v *Verifier) Verify(ctx context.Context, rawToken string) (*Claims, error) {
	if len(rawToken) > maxTokenBytes {
		return nil, &VerificationError{Reason: fmt.Sprintf("token longer than %d bytes", maxTokenBytes)}
	}
	// Reject what the header already condemns before any key lookup (and so
	// before any network request on behalf of an unauthenticated token).
	if err := checkHeader(rawToken); err != nil {
		return nil, err
	}

	st := &verifyState{}
	tok, oidcErr := v.oidc.Verify(context.WithValue(ctx, verifyStateKey{}, st), rawToken)
	if st.err != nil {
		return nil, st.err // typed: operational or VerificationError
	}
	if st.payload == nil {
		// go-oidc refused before asking for a key: a malformed token.
		return nil, &VerificationError{Reason: "malformed token", Err: oidcErr}
	}
	payload := st.payload
	if oidcErr == nil {
		// The same verified bytes, as go-oidc holds them.
		var raw json.RawMessage
		if err := tok.Claims(&raw); err != nil {
			return nil, &VerificationError{Reason: "malformed claims", Err: err}
		}
		payload = raw
	}
	claims, err := v.checkClaims(payload)
	if err != nil {
		return nil, err
	}
	if oidcErr != nil {
		// go-oidc saw something our checks did not: still a rejection.
		return nil, &VerificationError{Reason: "rejected by oidc verifier", Err: oidcErr}
	}
	return claims, nil
}

// checkHeader refuses what the header alone condemns: any alg but RS256, a
// missing kid. It also requires canonical base64url in every segment: the
// lenient decoder go-jose uses ignores the spare low bits of the last
// character, so without this a token with an altered signature character
// would still verify.
func checkHeader(raw string) error {
	segs := strings.Split(raw, ".")
	if len(segs) != 3 {
		return &VerificationError{Reason: "malformed token: expected three dot-separated segments"}
	}
	decoded := make([][]byte, 3)
	for i, seg := range segs {
		if b, err := base64.RawURLEncoding.Strict().DecodeString(seg); err == nil && len(b) > 0 {
			decoded[i] = b
		}
	}
	if decoded[0] == nil {
		return &VerificationError{Reason: "malformed token: header is not canonical base64url"}
	}
	var h struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(decoded[0], &h); err != nil {
		return &VerificationError{Reason: "malformed token: header is not a json object"}
	}
	// alg first: a "none" token has no signature, and saying so is the
	// useful reason.
	if h.Alg != "RS256" {
		return &VerificationError{Reason: fmt.Sprintf("alg not RS256: got %q", h.Alg)}
	}
	if h.Kid == "" {
		return &VerificationError{Reason: "missing kid"}
	}
	for i := 1; i < 3; i++ {
		if decoded[i] == nil {
			return &VerificationError{Reason: fmt.Sprintf("malformed token: %s is not canonical base64url", segmentNames[i])}
		}
	}
	return nil
}

var segmentNames = [3]string{"header", "payload", "signature"}

// checkClaims runs on a payload whose signature has verified. Order matters
// only for the message: the first failed rule is reported.
func (v *Verifier) checkClaims(payload []byte) (*Claims, error) {
	var present map[string]json.RawMessage
	if err := json.Unmarshal(payload, &present); err != nil {
		return nil, &VerificationError{Reason: "malformed claims", Err: jsonErrorWithoutInput(err)}
	}
	var c Claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, &VerificationError{Reason: "malformed claims", Err: jsonErrorWithoutInput(err)}
	}
	for _, name := range requiredClaims {
		raw, ok := present[name]
		if !ok || isEmptyJSON(raw) {
			return nil, &VerificationError{Reason: fmt.Sprintf("missing required claim %q", name)}
		}
	}
	if c.Issuer != v.issuer {
		return nil, &VerificationError{Reason: fmt.Sprintf("issuer expected %q got %q", v.issuer, c.Issuer)}
	}
	if !slices.Contains(c.Audience, v.audience) {
		return nil, &VerificationError{Reason: fmt.Sprintf("audience expected %q got %q", v.audience, []string(c.Audience))}
	}

	now := v.now()
	exp := time.Unix(c.Expiry, 0).UTC()
	if !exp.After(now.Add(-v.leeway)) {
		return nil, &VerificationError{Reason: "expired at " + exp.Format(time.RFC3339)}
	}
	if _, ok := present["nbf"]; ok {
		nbf := time.Unix(c.NotBefore, 0).UTC()
		if nbf.After(now.Add(v.leeway)) {
			return nil, &VerificationError{Reason: "not valid before " + nbf.Format(time.RFC3339)}
		}
	}
	if c.IssuedAt > c.Expiry {
		return nil, &VerificationError{Reason: fmt.Sprintf("issued at %s, after expiry %s",
			time.Unix(c.IssuedAt, 0).UTC().Format(time.RFC3339), exp.Format(time.RFC3339))}
	}

	sub, err := ParseSubject(c.Subject)
	if err != nil {
		return nil, &VerificationError{Reason: "unparseable sub", Err: err}
	}
	c.ParsedSubject = sub
	return &c, nil
}

// isEmptyJSON treats null, "" and [] as absent: an empty repository_id is no
// more an identity than a missing one.
func isEmptyJSON(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return bytes.Equal(t, []byte("null")) || bytes.Equal(t, []byte(`""`)) || bytes.Equal(t, []byte("[]"))
}

// IsVerificationError reports whether err says the token itself is invalid
// (deny) as opposed to a failure to decide.
func IsVerificationError(err error) bool {
	var ve *VerificationError
	return errors.As(err, &ve)
}
