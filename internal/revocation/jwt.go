package revocation

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// JWTChecker decides offline, from the token itself: a JWT is revoked when
// its exp is at or before now, or when its jti is on the deny list (a file or
// URL: newline-separated jtis, or a JSON array of strings). With jwks-url or
// jwks-file the signature is checked first (RS256/384/512, PS256, ES256/384,
// EdDSA; the key chosen by kid); a signature that does not verify is
// unknown, not revoked, because it means the wrong key set as often as a
// forged token.
//
// Why a JWT that only introspection knows is revoked must use kind oauth2:
// a JWT is self-contained. Revoking it at the issuer (RFC 7009) changes the
// issuer's database, not the token: its signature still verifies and its exp
// is still in the future, so every offline check — this one included — still
// sees a valid token. Only the issuer can say it was revoked, through
// introspection (RFC 7662). Ory Hydra with the JWT access-token strategy is
// exactly this case, and the tests show it: after revocation this checker
// says active while OAuth2Checker says revoked. Use kind jwt only for tokens
// whose issuer has no introspection and revokes through expiry or a
// published deny list.
type JWTChecker struct {
	http     *prober
	readFile func(string) ([]byte, error)
}

var _ Checker = (*JWTChecker)(nil)

var jwtAlgs = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.ES256, jose.ES384, jose.EdDSA,
	// HMAC tokens are parsed so that their exp and jti can be read without
	// a JWKS; they can never be verified against one.
	jose.HS256, jose.HS384, jose.HS512,
}

// Check implements Checker.
func (j *JWTChecker) Check(ctx context.Context, c Credential) Result {
	r := newResult(c, j.http.now)
	if c.JWKSURL != "" {
		r.IssuerHost = host(c.JWKSURL)
	}
	if msg := precheck(c, KindJWT); msg != "" {
		r.Detail = msg
		return r
	}
	jws, err := jose.ParseSigned(c.sec.token.reveal(), jwtAlgs)
	if err != nil || len(jws.Signatures) != 1 {
		r.Detail = "the token is not a compact JWS with one signature by a supported algorithm"
		return r
	}
	payload := jws.UnsafePayloadWithoutVerification()
	sigNote := "signature not checked (no jwks-url or jwks-file)"
	if c.JWKSURL != "" || c.JWKSFile != "" {
		payload, sigNote = j.verify(ctx, c, jws, &r)
		if payload == nil {
			r.Detail = sigNote
			return r
		}
	}

	claims, err := jsonObject(payload)
	if err != nil {
		r.Detail = fmt.Sprintf("the JWT payload is %v, not a claims object", err)
		return r
	}
	iss := jsonString(claims["iss"])
	r.Subject, r.ClientID = jsonString(claims["sub"]), jsonString(claims["client_id"])
	if r.ClientID == "" {
		r.ClientID = jsonString(claims["azp"])
	}
	if iss != "" {
		if c.Issuer != "" && strings.TrimRight(iss, "/") != strings.TrimRight(c.Issuer, "/") {
			r.Detail = fmt.Sprintf("the token's issuer %q is not the configured issuer %q", iss, c.Issuer)
			return r
		}
		r.Issuer = iss
		if r.IssuerHost == "" {
			r.IssuerHost = host(iss)
		}
	}
	now := j.http.now()
	if raw, ok := claims["exp"]; ok {
		exp, err := numericDate(raw)
		if err != nil {
			r.Detail = "the exp claim is not a NumericDate"
			return r
		}
		if !exp.After(now) {
			r.Status = StatusRevoked
			r.Detail = fmt.Sprintf("expired at %s; %s", exp.UTC().Format(time.RFC3339), sigNote)
			return r
		}
		sigNote = fmt.Sprintf("exp %s is in the future; %s", exp.UTC().Format(time.RFC3339), sigNote)
	} else {
		sigNote = "no exp claim (never expires); " + sigNote
	}

	if c.DenyList == "" {
		r.Status = StatusActive
		r.Detail = sigNote + "; no deny-list configured"
		return r
	}
	jti := jsonString(claims["jti"])
	denied, detail, ok := j.denyList(ctx, c)
	if !ok {
		r.Detail = sigNote + "; " + detail
		return r
	}
	if jti != "" && denied[jti] {
		r.Status = StatusRevoked
		r.Detail = fmt.Sprintf("jti is on the deny list (%s); %s", detail, sigNote)
		return r
	}
	r.Status = StatusActive
	if jti == "" {
		r.Detail = fmt.Sprintf("%s; the token has no jti, so the deny list (%s) cannot name it", sigNote, detail)
	} else {
		r.Detail = fmt.Sprintf("%s; jti not on the deny list (%s)", sigNote, detail)
	}
	return r
}

// verify checks the signature against the JWKS and returns the verified
// payload, or nil and why not.
func (j *JWTChecker) verify(ctx context.Context, c Credential, jws *jose.JSONWebSignature, r *Result) ([]byte, string) {
	sig := jws.Signatures[0]
	if strings.HasPrefix(sig.Header.Algorithm, "HS") {
		return nil, fmt.Sprintf("the token is signed with %s (a shared secret), which no JWKS can verify", sig.Header.Algorithm)
	}
	set, src, ok := j.jwks(ctx, c, r)
	if !ok {
		return nil, src
	}
	keys := set.Keys
	kid := sig.Header.KeyID
	if kid != "" {
		keys = set.Key(kid)
		if len(keys) == 0 {
			return nil, fmt.Sprintf("no key with kid %q in the JWKS (%s)", kid, src)
		}
	}
	for _, k := range keys {
		// Public() drops private and symmetric material: only public keys verify.
		pub := k.Public()
		if pub.Key == nil {
			continue
		}
		if k.Algorithm != "" && k.Algorithm != sig.Header.Algorithm {
			continue
		}
		if payload, err := jws.Verify(pub.Key); err == nil {
			note := fmt.Sprintf("signature (%s) verified against the JWKS (%s)", sig.Header.Algorithm, src)
			if kid != "" {
				note = fmt.Sprintf("signature (%s, kid %q) verified against the JWKS (%s)", sig.Header.Algorithm, kid, src)
			}
			return payload, note
		}
	}
	return nil, fmt.Sprintf("the signature (%s, kid %q) does not verify against the JWKS (%s): wrong key set or a forged token", sig.Header.Algorithm, kid, src)
}

func (j *JWTChecker) jwks(ctx context.Context, c Credential, r *Result) (*jose.JSONWebKeySet, string, bool) {
	var body []byte
	var src string
	if c.JWKSFile != "" {
		src = "file " + c.JWKSFile
		b, err := j.readFile(c.JWKSFile)
		if err != nil {
			return nil, fmt.Sprintf("cannot read the JWKS %s", src), false
		}
		body = b
	} else {
		src = endpoint(c.JWKSURL)
		b, status, detail := j.get(ctx, c.JWKSURL, "JWKS at "+src)
		r.HTTPStatus = status
		if b == nil {
			return nil, detail, false
		}
		body = b
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil || len(set.Keys) == 0 {
		return nil, fmt.Sprintf("the JWKS (%s) is not a JSON Web Key Set with keys", src), false
	}
	return &set, src, true
}

// denyList returns the set of denied jtis and where it came from.
func (j *JWTChecker) denyList(ctx context.Context, c Credential) (map[string]bool, string, bool) {
	var body []byte
	var src string
	if isURL(c.DenyList) {
		src = endpoint(c.DenyList)
		b, _, detail := j.get(ctx, c.DenyList, "deny list at "+src)
		if b == nil {
			return nil, detail, false
		}
		body = b
	} else {
		src = "file " + c.DenyList
		b, err := j.readFile(c.DenyList)
		if err != nil {
			return nil, fmt.Sprintf("cannot read the deny list %s", src), false
		}
		body = b
	}
	out := map[string]bool{}
	trimmed := bytes.TrimSpace(body)
	if bytes.HasPrefix(trimmed, []byte("[")) {
		var list []string
		if err := json.Unmarshal(trimmed, &list); err != nil {
			return nil, fmt.Sprintf("the deny list (%s) starts with '[' but is not a JSON array of strings", src), false
		}
		for _, s := range list {
			out[s] = true
		}
		return out, src, true
	}
	sc := bufio.NewScanner(bytes.NewReader(trimmed))
	sc.Buffer(make([]byte, 0, 64*1024), len(trimmed)+1)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out[line] = true
	}
	if sc.Err() != nil {
		return nil, fmt.Sprintf("cannot read the deny list (%s)", src), false
	}
	return out, src, true
}

// get fetches a public document (JWKS, deny list); only a 200 is used.
func (j *JWTChecker) get(ctx context.Context, u, what string) ([]byte, int, string) {
	resp, err := j.http.do(ctx, func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", "application/json, text/plain")
		return req, nil
	})
	if err != nil {
		return nil, 0, what + ": " + err.Error()
	}
	if resp.status != http.StatusOK {
		return nil, resp.status, describe(what, resp) + " (expected 200)"
	}
	return resp.body, resp.status, ""
}

// numericDate parses RFC 7519 NumericDate: JSON number of seconds.
func numericDate(raw json.RawMessage) (time.Time, error) {
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil {
		return time.Time{}, err
	}
	if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1e11 {
		return time.Time{}, fmt.Errorf("out of range")
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), nil
}
