package identity

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/airlock-dev/airlock/internal/fault"
)

const (
	// minRSABits rejects keys that are too weak to trust for a promotion
	// decision, whatever the key set says.
	minRSABits = 2048
	// refetchInterval rate-limits JWKS refetches caused by unknown kids, so a
	// stream of tokens with invented kids cannot turn us into a load
	// generator against the issuer.
	refetchInterval = 10 * time.Second
)

// keySet is our oidc.KeySet. Unlike go-oidc's RemoteKeySet it selects exactly
// one key by the token's kid and never tries the others: a token either names
// its key or is rejected. An unknown kid triggers one rate-limited refetch, to
// follow the issuer's key rotation.
type keySet struct {
	issuer string
	hc     *http.Client
	now    func() time.Time
	static bool

	// fetchLock serialises discovery and JWKS fetches; a channel rather than
	// a mutex so waiting honours the caller's context.
	fetchLock chan struct{}

	mu        sync.RWMutex
	jwksURL   string
	keys      map[string]jwkEntry
	fetched   bool
	fetchedAt time.Time
}

var _ oidc.KeySet = (*keySet)(nil)

// jwkEntry is a usable key, or the reason a key published under that kid
// cannot be used (wrong type, too short, wrong alg, duplicate kid).
type jwkEntry struct {
	pub      *rsa.PublicKey
	unusable string
}

// verifyState travels in the context from Verifier.Verify into
// VerifySignature, because go-oidc flattens the KeySet's error into a string:
// without it an unreachable JWKS could not be told from a forged token.
type verifyState struct {
	err     error  // typed failure from the key set
	payload []byte // set only after the signature verified
}

type verifyStateKey struct{}

// VerifySignature parses the JWS accepting RS256 only (so "none" and HMAC
// never reach key selection), selects the key named by kid and verifies.
func (k *keySet) VerifySignature(ctx context.Context, token string) ([]byte, error) {
	st, _ := ctx.Value(verifyStateKey{}).(*verifyState)
	if st == nil {
		st = &verifyState{}
	}
	payload, err := k.verify(ctx, token)
	if err != nil {
		st.err = err
		return nil, err
	}
	st.payload = payload
	return payload, nil
}

func (k *keySet) verify(ctx context.Context, token string) ([]byte, error) {
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return nil, &VerificationError{Reason: "malformed token or alg not RS256", Err: err}
	}
	if len(jws.Signatures) != 1 {
		return nil, &VerificationError{Reason: fmt.Sprintf("expected exactly one signature, got %d", len(jws.Signatures))}
	}
	kid := jws.Signatures[0].Header.KeyID
	if kid == "" {
		return nil, &VerificationError{Reason: "missing kid"}
	}
	pub, err := k.key(ctx, kid)
	if err != nil {
		return nil, err
	}
	payload, err := jws.Verify(pub)
	if err != nil {
		return nil, &VerificationError{Reason: "bad signature", Err: err}
	}
	return payload, nil
}

// key returns the key for kid, fetching the JWKS when it has never been
// fetched, or refetching once when kid is unknown and the last fetch is older
// than refetchInterval.
func (k *keySet) key(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	if e, ok := k.lookup(kid); ok {
		return e.result(kid)
	}
	if k.static {
		return nil, unknownKid(kid)
	}
	select {
	case k.fetchLock <- struct{}{}:
	case <-ctx.Done():
		return nil, fault.Operationalf("wait for jwks of %q: %w", k.issuer, ctx.Err())
	}
	defer func() { <-k.fetchLock }()

	// Another caller may have fetched while we waited.
	if e, ok := k.lookup(kid); ok {
		return e.result(kid)
	}
	k.mu.RLock()
	fetched, fetchedAt := k.fetched, k.fetchedAt
	k.mu.RUnlock()
	if fetched && k.now().Sub(fetchedAt) < refetchInterval {
		return nil, unknownKid(kid)
	}
	if err := k.refresh(ctx); err != nil {
		return nil, err
	}
	if e, ok := k.lookup(kid); ok {
		return e.result(kid)
	}
	return nil, unknownKid(kid)
}

func (k *keySet) lookup(kid string) (jwkEntry, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	e, ok := k.keys[kid]
	return e, ok
}

func (e jwkEntry) result(kid string) (*rsa.PublicKey, error) {
	if e.pub == nil {
		return nil, &VerificationError{Reason: fmt.Sprintf("key %q is not usable: %s", kid, e.unusable)}
	}
	return e.pub, nil
}

func unknownKid(kid string) error {
	return &VerificationError{Reason: fmt.Sprintf("unknown kid %q", kid)}
}

// refresh discovers the jwks_uri (once) and replaces the cached keys. Keys
// the issuer stopped publishing are dropped: rotation also revokes.
func (k *keySet) refresh(ctx context.Context) error {
	k.mu.RLock()
	jwksURL := k.jwksURL
	k.mu.RUnlock()
	if jwksURL == "" {
		u, err := discover(ctx, k.hc, k.issuer)
		if err != nil {
			return err
		}
		jwksURL = u
		k.mu.Lock()
		k.jwksURL = u
		k.mu.Unlock()
	}
	ju, _ := url.Parse(jwksURL) // validated by discover
	body, err := get(ctx, k.hc, jwksURL, redactURL(ju), nil)
	if err != nil {
		return fault.Operationalf("fetch jwks of %q: %w", k.issuer, err)
	}
	keys, err := parseJWKS(body)
	if err != nil {
		return fault.Operationalf("fetch jwks of %q from %s: %w", k.issuer, redactURL(ju), err)
	}
	k.mu.Lock()
	k.keys, k.fetched, k.fetchedAt = keys, true, k.now()
	k.mu.Unlock()
	return nil
}

// discover reads issuer's discovery document and returns its jwks_uri. The
// document must name exactly the configured issuer (OpenID Connect Discovery
// 1.0 §4.3), otherwise a misrouted or hostile endpoint could hand us its keys.
func discover(ctx context.Context, hc *http.Client, issuer string) (string, error) {
	wellKnown := strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
	wu, err := url.Parse(wellKnown)
	if err != nil {
		return "", fault.Operationalf("discover oidc issuer %q: %w", issuer, err)
	}
	body, err := get(ctx, hc, wellKnown, redactURL(wu), nil)
	if err != nil {
		return "", fault.Operationalf("discover oidc issuer %q: %w", issuer, err)
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", fault.Operationalf("discover oidc issuer %q: malformed discovery document: %w", issuer, err)
	}
	if doc.Issuer != issuer {
		return "", fault.Operationalf("discover oidc issuer: discovery document issuer: expected %q, got %q", issuer, doc.Issuer)
	}
	if doc.JWKSURI == "" {
		return "", fault.Operationalf("discover oidc issuer %q: discovery document has no jwks_uri", issuer)
	}
	ju, err := url.Parse(doc.JWKSURI)
	if err != nil {
		return "", fault.Operationalf("discover oidc issuer %q: malformed jwks_uri: %w", issuer, err)
	}
	if err := checkTransportURL(ju); err != nil {
		return "", fault.Operationalf("discover oidc issuer %q: jwks_uri %s: %w", issuer, redactURL(ju), err)
	}
	return doc.JWKSURI, nil
}

// parseJWKS decodes a JWK Set key by key, so that one key we cannot use (an
// EC key, a future algorithm) neither breaks the set nor silently vanishes:
// it is kept as unusable under its kid and a token naming it is rejected with
// a reason. Keys without kid can never be selected and are dropped.
func parseJWKS(body []byte) (map[string]jwkEntry, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("malformed jwks: %w", err)
	}
	if len(set.Keys) == 0 {
		return nil, errors.New("malformed jwks: no keys")
	}
	keys := make(map[string]jwkEntry, len(set.Keys))
	for i, raw := range set.Keys {
		var meta struct {
			Kid string `json:"kid"`
			Kty string `json:"kty"`
			Alg string `json:"alg"`
			Use string `json:"use"`
		}
		if err := json.Unmarshal(raw, &meta); err != nil {
			return nil, fmt.Errorf("malformed jwks: key %d: %w", i, err)
		}
		if meta.Kid == "" {
			continue
		}
		if _, dup := keys[meta.Kid]; dup {
			// Two keys under one kid would make selection ambiguous.
			keys[meta.Kid] = jwkEntry{unusable: "kid published more than once"}
			continue
		}
		keys[meta.Kid] = usableKey(raw, meta.Kty, meta.Alg, meta.Use)
	}
	return keys, nil
}

func usableKey(raw json.RawMessage, kty, alg, use string) jwkEntry {
	switch {
	case kty != "RSA":
		return jwkEntry{unusable: fmt.Sprintf("kty %q, expected RSA", kty)}
	case alg != "" && alg != string(jose.RS256):
		return jwkEntry{unusable: fmt.Sprintf("alg %q, expected RS256", alg)}
	case use != "" && use != "sig":
		return jwkEntry{unusable: fmt.Sprintf("use %q, expected sig", use)}
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(raw); err != nil {
		// go-jose also checks x5c/x5t against the key here.
		return jwkEntry{unusable: fmt.Sprintf("invalid jwk: %v", err)}
	}
	pub, ok := jwk.Key.(*rsa.PublicKey)
	if !ok {
		return jwkEntry{unusable: fmt.Sprintf("not an RSA public key (%T)", jwk.Key)}
	}
	if bits := pub.N.BitLen(); bits < minRSABits {
		return jwkEntry{unusable: fmt.Sprintf("RSA key of %d bits, minimum %d", bits, minRSABits)}
	}
	return jwkEntry{pub: pub}
}
