// Package mint requests the production credential after an allow and checks
// what the production issuer handed back before anyone may use it.
//
// Two standard grants: RFC 8693 token exchange and RFC 7523 JWT bearer, the
// job's OIDC token being the subject token or the assertion. What came back
// is introspected (RFC 7662) and must be active, carry no scope beyond the
// requested ones, expire no later than the decision's notAfter, and be an
// identity no QA credential used (C3 on the issued identity). Any violation
// revokes the token (RFC 7009) and is a deny: a value (Outcome), not an
// error. An unreachable issuer, a 5xx or a malformed answer is a
// fault.Operational error, after revoking whatever was issued.
//
// Secrets: Credential.Token is the only place the token lives. Mint calls
// Minter.Mask with it as soon as it has it (the CLI masks it in the runner's
// log at once). It never appears in an error, the Record or the Identity;
// the client secret neither.
//
// Endpoints are explicit inputs, not discovered: discovery would add a
// request whose answer (attacker-influenced if the issuer URL is wrong)
// decides where the token is sent; the three URLs are configuration the
// workflow author reviews.
package mint

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/httpx"
	"github.com/airlock-dev/airlock/internal/revocation"
)

// Grant names the OAuth 2.0 grant the issuer is asked with.
type Grant string

// The two grants.
const (
	GrantTokenExchange Grant = "token-exchange" // RFC 8693
	GrantJWTBearer     Grant = "jwt-bearer"     // RFC 7523
)

// Grant type URNs and token types on the wire.
const (
	TokenExchangeURN  = "urn:ietf:params:oauth:grant-type:token-exchange"
	JWTBearerURN      = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	TokenTypeJWT      = "urn:ietf:params:oauth:token-type:jwt"
	TokenTypeAccess   = "urn:ietf:params:oauth:token-type:access_token"
	AuthClientSecret  = "client_secret_basic"
	AuthNone          = "none"
	maxBody           = 1 << 20
	revokeConfirmHint = "access_token"
)

// Input names (action.yml), used in configuration errors.
const (
	InputTokenURL      = "mint-token-url"
	InputGrant         = "mint-grant"
	InputClientID      = "mint-client-id"
	InputClientSecret  = "mint-client-secret-env"
	InputAuthMethod    = "mint-client-auth"
	InputAudience      = "mint-audience"
	InputIntrospectURL = "mint-introspect-url"
	InputRevokeURL     = "mint-revoke-url"
	InputIssuer        = "mint-issuer"
)

// Config is the production issuer's side of minting.
type Config struct {
	TokenURL      string
	IntrospectURL string
	RevokeURL     string
	// Issuer is the production issuer's identifier; when set, the
	// introspected iss (if any) must equal it, and it is recorded.
	Issuer string
	Grant  Grant
	// ClientID and ClientSecret authenticate airlock at the token,
	// introspection and revocation endpoints (ClientSecret comes from the
	// environment variable the mint-client-secret-env input names).
	ClientID     string
	ClientSecret string `json:"-"`
	// AuthMethod is client_secret_basic (default when empty) or none.
	AuthMethod string
	// Audience is what the job's OIDC token is requested for.
	Audience string
}

// Validate checks the configuration before any side effect.
func (c Config) Validate() error {
	for _, u := range []struct{ input, v string }{{InputTokenURL, c.TokenURL}, {InputIntrospectURL, c.IntrospectURL}, {InputRevokeURL, c.RevokeURL}} {
		if u.v == "" {
			return fault.Configf("%s is required when minting", u.input)
		}
		p, err := url.Parse(u.v)
		if err != nil {
			return fault.Configf("%s: not a URL: %w", u.input, httpx.StripURL(err))
		}
		if p.User != nil {
			return fault.Configf("%s: credentials in the URL are refused", u.input)
		}
		if err := httpx.CheckURL(p); err != nil {
			return fault.Configf("%s: %w", u.input, err)
		}
	}
	switch c.Grant {
	case GrantTokenExchange, GrantJWTBearer:
	case "":
		return fault.Configf("%s is required when minting: %q or %q", InputGrant, GrantTokenExchange, GrantJWTBearer)
	default:
		return fault.Configf("%s: unknown grant %q: expected %q or %q", InputGrant, c.Grant, GrantTokenExchange, GrantJWTBearer)
	}
	switch c.AuthMethod {
	case "", AuthClientSecret:
		if c.ClientID == "" {
			return fault.Configf("%s is required with %s %s", InputClientID, InputAuthMethod, AuthClientSecret)
		}
		if c.ClientSecret == "" {
			return fault.Configf("%s: the environment variable it names is empty or unset (%s %s)", InputClientSecret, InputAuthMethod, AuthClientSecret)
		}
	case AuthNone:
		if c.ClientSecret != "" {
			return fault.Configf("%s: a client secret was given with %s none", InputClientSecret, InputAuthMethod)
		}
	default:
		return fault.Configf("%s: unknown method %q: expected %q or %q", InputAuthMethod, c.AuthMethod, AuthClientSecret, AuthNone)
	}
	if c.Audience == "" {
		return fault.Configf("%s is required when minting (the audience of the job's OIDC token)", InputAudience)
	}
	return nil
}

// Minter holds the side effects.
type Minter struct {
	HTTP *http.Client
	Now  func() time.Time
	// Mask is called with the token as soon as it is read from the answer,
	// before anything else; nil does nothing.
	Mask func(secret string)
	// Retry is the policy for the connection-refused retry of the token
	// POST, and for introspection and revocation.
	Retry httpx.Retry
}

// Identity is the issued credential's identity, from introspection.
type Identity struct {
	Issuer      string    `json:"issuer,omitempty"`
	Subject     string    `json:"subject,omitempty"`
	ClientID    string    `json:"client_id,omitempty"`
	Scopes      []string  `json:"scopes"`
	ExpiresAt   time.Time `json:"expires_at"`
	TokenID     string    `json:"token_id,omitempty"`
	TokenSHA256 string    `json:"token_sha256"`
}

// Credential is an issued, checked production credential.
type Credential struct {
	// Token is the access token: the only place it lives. The caller has
	// masked it (Minter.Mask) and hands it only to the next step.
	Token    string `json:"-"`
	Identity Identity
	Grant    Grant
}

// String never shows the token.
func (c *Credential) String() string {
	return fmt.Sprintf("credential sub=%q client_id=%q sha256=%s", c.Identity.Subject, c.Identity.ClientID, c.Identity.TokenSHA256)
}

// RevocationResult is what revoking an issued credential did.
type RevocationResult struct {
	// Revoked is true when the revocation endpoint answered 200.
	Revoked    bool `json:"revoked"`
	HTTPStatus int  `json:"http_status,omitempty"`
	// ConfirmedInactive is true when introspection afterwards said
	// active:false.
	ConfirmedInactive bool   `json:"confirmed_inactive"`
	Detail            string `json:"detail"`
}

// Record is the evidence of minting for the signed decision. Never the token.
type Record struct {
	Grant Grant `json:"grant"`
	// Status is "issued" or "denied".
	Status      string            `json:"status"`
	Reason      string            `json:"reason,omitempty"`
	Issuer      string            `json:"issuer,omitempty"`
	Subject     string            `json:"subject,omitempty"`
	ClientID    string            `json:"client_id,omitempty"`
	Scopes      []string          `json:"scopes"`
	Requested   []string          `json:"requested_scopes"`
	ExpiresAt   *time.Time        `json:"expires_at,omitempty"`
	NotAfter    time.Time         `json:"not_after"`
	TokenID     string            `json:"token_id,omitempty"`
	TokenSHA256 string            `json:"token_sha256,omitempty"`
	Revocation  *RevocationResult `json:"revocation,omitempty"`
}

// Record statuses.
const (
	StatusIssued = "issued"
	StatusDenied = "denied"
)

// Outcome is Mint's answer: an issued credential, or a deny.
type Outcome struct {
	// Credential is nil on a deny.
	Credential *Credential
	Record     Record
}

// Denied reports whether no credential may be used.
func (o *Outcome) Denied() bool { return o.Credential == nil }

func (m *Minter) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// Mint requests the credential for exactly scopes, with the job's OIDC
// token subjectToken, and checks it against notAfter and the QA identities
// (the revocation report's credentials). A deny is an Outcome; an error is
// a configuration or operational failure, after revoking what was issued
// (the revocation is then in the error's text, not the token).
func (m *Minter) Mint(ctx context.Context, cfg Config, subjectToken string, scopes []string, notAfter time.Time, qa []revocation.Result) (*Outcome, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if m.HTTP == nil {
		return nil, fault.Configf("mint: no HTTP client")
	}
	if subjectToken == "" {
		return nil, fault.Operationalf("mint: the job's OIDC token is empty")
	}
	if len(scopes) == 0 {
		return nil, fault.Configf("mint: the decision grants no scope: nothing to request")
	}
	req := append([]string(nil), scopes...)
	rec := Record{Grant: cfg.Grant, Requested: req, NotAfter: notAfter.UTC(), Issuer: cfg.Issuer, Scopes: []string{}}
	form := url.Values{"scope": {strings.Join(scopes, " ")}}
	switch cfg.Grant {
	case GrantTokenExchange:
		form.Set("grant_type", TokenExchangeURN)
		form.Set("subject_token", subjectToken)
		form.Set("subject_token_type", TokenTypeJWT)
		form.Set("requested_token_type", TokenTypeAccess)
	case GrantJWTBearer:
		form.Set("grant_type", JWTBearerURN)
		form.Set("assertion", subjectToken)
	}
	issuedAt := m.now()
	tr, status, err := m.post(ctx, cfg, cfg.TokenURL, form, false)
	if err != nil {
		return nil, fault.Operationalf("mint: token endpoint %s: %w", httpx.RedactString(cfg.TokenURL), err)
	}
	if status != http.StatusOK {
		return m.refused(cfg, rec, status, tr)
	}
	var tok struct {
		AccessToken     string          `json:"access_token"`
		TokenType       string          `json:"token_type"`
		ExpiresIn       json.RawMessage `json:"expires_in"`
		Scope           *string         `json:"scope"`
		IssuedTokenType string          `json:"issued_token_type"`
	}
	if err := json.Unmarshal(tr, &tok); err != nil {
		// Nothing can be revoked: the token is not readable.
		return nil, fault.Operationalf("mint: token endpoint %s: the answer is not JSON (%s); if a token was issued it could not be read to revoke it", httpx.RedactString(cfg.TokenURL), jsonErr(err))
	}
	if tok.AccessToken == "" {
		return nil, fault.Operationalf("mint: token endpoint %s: HTTP 200 without access_token", httpx.RedactString(cfg.TokenURL))
	}
	token := tok.AccessToken
	if m.Mask != nil {
		m.Mask(token)
	}
	sum := sha256.Sum256([]byte(token))
	rec.TokenSHA256 = hex.EncodeToString(sum[:])
	cred := &Credential{Token: token, Grant: cfg.Grant, Identity: Identity{TokenSHA256: rec.TokenSHA256}}

	// From here on, every path either returns the checked credential or
	// revokes it.
	fail := func(format string, a ...any) (*Outcome, error) {
		rr := m.revoke(ctx, cfg, token)
		return nil, fault.Operationalf("mint: "+format+"; issued token %s: %s", append(a, shortSum(rec.TokenSHA256), rr.summary())...)
	}
	deny := func(format string, a ...any) (*Outcome, error) {
		rr := m.revoke(ctx, cfg, token)
		rec.Status, rec.Reason, rec.Revocation = StatusDenied, fmt.Sprintf(format, a...), &rr
		return &Outcome{Record: rec}, nil
	}
	if !strings.EqualFold(tok.TokenType, "bearer") && !strings.EqualFold(tok.TokenType, "N_A") {
		return fail("token endpoint answered token_type %q, expected Bearer", clip(tok.TokenType))
	}
	if cfg.Grant == GrantTokenExchange && tok.IssuedTokenType != "" && tok.IssuedTokenType != TokenTypeAccess {
		return deny("the issuer issued %q, not an access token", clip(tok.IssuedTokenType))
	}
	var expiresIn *int64
	if len(tok.ExpiresIn) > 0 && string(tok.ExpiresIn) != "null" {
		var n int64
		if err := json.Unmarshal(tok.ExpiresIn, &n); err != nil || n <= 0 {
			return fail("token endpoint answered expires_in %.40s, not a positive integer", string(tok.ExpiresIn))
		}
		expiresIn = &n
	}

	in, err := m.introspect(ctx, cfg, token)
	if err != nil {
		return fail("introspection %s: %v", httpx.RedactString(cfg.IntrospectURL), err)
	}
	if !in.Active {
		return deny("introspection says the issued token is not active")
	}
	id := &cred.Identity
	id.Issuer, id.Subject, id.ClientID, id.TokenID = in.Iss, in.Sub, in.ClientID, in.JTI
	if id.Issuer == "" {
		id.Issuer = cfg.Issuer
	}
	id.Scopes = strings.Fields(in.Scope)
	if in.Scope == "" && tok.Scope != nil {
		id.Scopes = strings.Fields(*tok.Scope)
	}
	rec.Issuer, rec.Subject, rec.ClientID, rec.TokenID, rec.Scopes = id.Issuer, id.Subject, id.ClientID, id.TokenID, id.Scopes
	if rec.Scopes == nil {
		rec.Scopes = []string{}
	}

	// Expiry: the stricter of expires_in and the introspected exp.
	var exp time.Time
	if expiresIn != nil {
		exp = issuedAt.Add(time.Duration(*expiresIn) * time.Second)
	}
	if in.Exp > 0 {
		if e := time.Unix(in.Exp, 0); exp.IsZero() || e.Before(exp) {
			exp = e
		}
	}
	if !exp.IsZero() {
		e := exp.UTC()
		id.ExpiresAt, rec.ExpiresAt = e, &e
	}

	if cfg.Issuer != "" && in.Iss != "" && normIssuer(in.Iss) != normIssuer(cfg.Issuer) {
		return deny("introspected issuer %q is not %s %q", clip(in.Iss), InputIssuer, cfg.Issuer)
	}
	if id.Subject == "" && id.ClientID == "" {
		return deny("introspection names neither a subject nor a client id: the issued identity cannot be compared with QA's")
	}
	if len(id.Scopes) == 0 {
		return deny("the issued token carries no scope the issuer told airlock of (introspection and token answer both silent)")
	}
	var extra []string
	for _, s := range id.Scopes {
		if !slices.Contains(scopes, s) {
			extra = append(extra, s)
		}
	}
	if tok.Scope != nil {
		for _, s := range strings.Fields(*tok.Scope) {
			if !slices.Contains(scopes, s) && !slices.Contains(extra, s) {
				extra = append(extra, s)
			}
		}
	}
	if len(extra) > 0 {
		return deny("the issued token carries scopes beyond the granted ones: %s", strings.Join(extra, " "))
	}
	if exp.IsZero() {
		return deny("the issued token's expiry is unknown (no expires_in, no introspected exp)")
	}
	if exp.After(notAfter) {
		return deny("the issued token expires at %s, after the decision's notAfter %s", exp.UTC().Format(time.RFC3339), notAfter.UTC().Format(time.RFC3339))
	}
	if reuse := CompareQA(*id, qa); len(reuse) > 0 {
		return deny("C3: the issued identity is a QA identity: %s", strings.Join(reuse, ", "))
	}
	rec.Status = StatusIssued
	return &Outcome{Credential: cred, Record: rec}, nil
}

// CompareQA names each field of the issued identity equal to a QA
// credential's subject or client id, as revocation's C3 does for a declared
// production identity ("credential.field=issued.field").
func CompareQA(id Identity, qa []revocation.Result) []string {
	var out []string
	for _, r := range qa {
		for _, q := range []struct{ field, v string }{{"subject", r.Subject}, {"client_id", r.ClientID}} {
			if q.v == "" {
				continue
			}
			for _, p := range []struct{ field, v string }{{"subject", id.Subject}, {"client_id", id.ClientID}} {
				if p.v != "" && p.v == q.v {
					out = append(out, fmt.Sprintf("%s.%s=issued.%s", r.Name, q.field, p.field))
				}
			}
		}
	}
	return out
}

// refused handles a non-200 token answer: an OAuth error (4xx with an error
// code) means nothing was issued: a deny. Anything else is operational.
func (m *Minter) refused(cfg Config, rec Record, status int, body []byte) (*Outcome, error) {
	var e struct {
		Error string `json:"error"`
	}
	if status >= 400 && status < 500 && json.Unmarshal(body, &e) == nil && e.Error != "" {
		if e.Error == "invalid_client" {
			return nil, fault.Configf("mint: token endpoint %s refused the client (%s): check %s and %s", httpx.RedactString(cfg.TokenURL), InputClientID, InputClientSecret, "invalid_client")
		}
		rec.Status, rec.Reason = StatusDenied, fmt.Sprintf("the issuer refused the grant: HTTP %d %s", status, clip(e.Error))
		return &Outcome{Record: rec}, nil
	}
	return nil, fault.Operationalf("mint: token endpoint %s answered HTTP %d", httpx.RedactString(cfg.TokenURL), status)
}

type introspection struct {
	Active   bool   `json:"active"`
	Scope    string `json:"scope"`
	ClientID string `json:"client_id"`
	Sub      string `json:"sub"`
	Iss      string `json:"iss"`
	JTI      string `json:"jti"`
	Exp      int64  `json:"exp"`
}

func (m *Minter) introspect(ctx context.Context, cfg Config, token string) (*introspection, error) {
	b, status, err := m.post(ctx, cfg, cfg.IntrospectURL, url.Values{"token": {token}, "token_type_hint": {"access_token"}}, true)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d", status)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("the answer is not a JSON object (%s)", jsonErr(err))
	}
	if _, ok := raw["active"]; !ok {
		return nil, errors.New(`the answer has no "active" member`)
	}
	var in introspection
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, fmt.Errorf("the answer does not have RFC 7662's types (%s)", jsonErr(err))
	}
	return &in, nil
}

// Revoke revokes cred (RFC 7009) and confirms by introspection, for the
// pipeline when a step after minting fails. It returns an error only when
// the configuration is unusable; a failed revocation is in the result.
func (m *Minter) Revoke(ctx context.Context, cfg Config, cred *Credential) (RevocationResult, error) {
	if err := cfg.Validate(); err != nil {
		return RevocationResult{}, err
	}
	if cred == nil || cred.Token == "" {
		return RevocationResult{}, fault.Configf("mint: nothing to revoke")
	}
	if m.HTTP == nil {
		return RevocationResult{}, fault.Configf("mint: no HTTP client")
	}
	return m.revoke(ctx, cfg, cred.Token), nil
}

// RevokeGrace is the least time revoking an issued credential (and
// confirming it) gets, even when the run's deadline has passed or passes
// meanwhile: a cancelled or timed-out run still revokes, and a hung issuer
// cannot hold the run longer than this past its deadline.
const RevokeGrace = 3 * time.Second

// revoke never fails: what happened is the result.
func (m *Minter) revoke(ctx context.Context, cfg Config, token string) RevocationResult {
	grace := RevokeGrace
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) > grace {
		grace = time.Until(dl)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	var rr RevocationResult
	b, status, err := m.post(ctx, cfg, cfg.RevokeURL, url.Values{"token": {token}, "token_type_hint": {revokeConfirmHint}}, true)
	rr.HTTPStatus = status
	switch {
	case err != nil:
		rr.Detail = "revocation failed: " + err.Error()
		return rr
	case status != http.StatusOK:
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(b, &e)
		rr.Detail = fmt.Sprintf("revocation failed: HTTP %d %s", status, clip(e.Error))
		return rr
	}
	rr.Revoked = true
	in, err := m.introspect(ctx, cfg, token)
	switch {
	case err != nil:
		rr.Detail = "revoked; confirmation by introspection failed: " + err.Error()
	case in.Active:
		rr.Detail = "revocation answered 200 but introspection still says active"
	default:
		rr.ConfirmedInactive = true
		rr.Detail = "revoked; introspection says active=false"
	}
	return rr
}

func (r RevocationResult) summary() string { return r.Detail }

// post sends a form with the client's authentication. Only a request that
// never left this machine is retried when idempotent is false: the token
// POST is not idempotent (a second one issues a second token, and the
// first could neither be used nor revoked), so a timeout or a 5xx after
// sending is final. Introspection and revocation are safe to repeat.
func (m *Minter) post(ctx context.Context, cfg Config, endpoint string, form url.Values, idempotent bool) ([]byte, int, error) {
	hc := httpx.Harden(m.HTTP, httpx.NoRedirects)
	if cfg.AuthMethod == AuthNone && cfg.ClientID != "" {
		form.Set("client_id", cfg.ClientID)
	}
	enc := form.Encode()
	var body []byte
	var status int
	r := m.Retry
	if r.Now == nil {
		r.Now = m.Now
	}
	err := r.Do(ctx, func(ctx context.Context, _ int) (httpx.Wait, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(enc))
		if err != nil {
			return httpx.Final, httpx.StripURL(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		if cfg.AuthMethod == "" || cfg.AuthMethod == AuthClientSecret {
			// RFC 6749 §2.3.1: form-encode id and secret before Basic.
			req.SetBasicAuth(url.QueryEscape(cfg.ClientID), url.QueryEscape(cfg.ClientSecret))
		}
		resp, err := httpx.Do(hc, req)
		if err != nil {
			return httpx.ForError(ctx, idempotent, err), err
		}
		defer httpx.Discard(resp.Body)
		b, err := httpx.ReadBody(resp.Body, maxBody)
		if err != nil {
			return httpx.Final, err
		}
		body, status = b, resp.StatusCode
		if status >= 500 || status == http.StatusTooManyRequests {
			return httpx.ForStatus(idempotent, status, resp.Header, m.now()), fmt.Errorf("HTTP %d", status)
		}
		return httpx.Final, nil
	})
	if err != nil && status != 0 && status < 500 && status != http.StatusTooManyRequests {
		return body, status, nil
	}
	if err != nil {
		return nil, status, errors.New(scrub(httpx.Describe(err), form, cfg.ClientSecret))
	}
	return body, status, nil
}

// scrub removes every secret the request carried from a transport error's
// text (a proxy or a URL error could echo them).
func scrub(s string, form url.Values, secret string) string {
	for _, k := range []string{"subject_token", "assertion", "token"} {
		if v := form.Get(k); v != "" {
			s = strings.ReplaceAll(s, v, "[redacted]")
		}
	}
	if secret != "" {
		s = strings.ReplaceAll(s, secret, "[redacted]")
	}
	return s
}

func jsonErr(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("%s is not a %s", te.Field, te.Type)
	}
	return "malformed"
}

func clip(s string) string {
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return s
}

func shortSum(s string) string {
	if len(s) > 12 {
		return "sha256:" + s[:12]
	}
	return "sha256:" + s
}

// normIssuer forgives a trailing slash and the case of scheme and host.
func normIssuer(s string) string {
	s = strings.TrimRight(s, "/")
	if i := strings.Index(s, "://"); i >= 0 {
		rest := s[i+3:]
		j := strings.IndexByte(rest, '/')
		if j < 0 {
			j = len(rest)
		}
		return strings.ToLower(s[:i+3+j]) + rest[j:]
	}
	return s
}
