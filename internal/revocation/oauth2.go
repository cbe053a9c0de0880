package revocation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// OAuth2Checker asks the issuer's RFC 7662 introspection endpoint. Only a
// JSON object whose "active" member is the boolean false counts as revoked;
// with revoke: true it first revokes the token at the RFC 7009 endpoint.
//
// RFC 7662 §2.2 lets a server answer {"active": false} for any token it does
// not recognise, so pointing introspection-url at the wrong server makes a
// live token look dead. Pin the issuer's URL in the configuration; airlock
// cannot detect that mistake.
type OAuth2Checker struct{ http *prober }

var _ Checker = (*OAuth2Checker)(nil)

// introspection is one well-formed (ok) or unusable answer.
type introspection struct {
	ok                     bool
	active                 bool
	status                 int
	detail                 string
	subject, clientID, iss string
}

// Check implements Checker.
func (o *OAuth2Checker) Check(ctx context.Context, c Credential) Result {
	r := newResult(c, o.http.now)
	r.IssuerHost = host(c.IntrospectionURL)
	if msg := precheck(c, KindOAuth2); msg != "" {
		r.Detail = msg
		return r
	}
	var pre string
	if c.Revoke {
		// RFC 7662 returns nothing but "active" for a dead token, so the
		// identity (for C3) can only be learnt before revoking.
		if before := o.introspect(ctx, c); before.ok && before.active {
			r.Subject, r.ClientID = before.subject, before.clientID
			if before.iss != "" {
				r.Issuer = before.iss
			}
		}
		status, detail := o.revoke(ctx, c)
		r.RevokeHTTPStatus = status
		r.Revoked = status == http.StatusOK
		pre = detail + ", then "
	}
	in := o.introspect(ctx, c)
	r.HTTPStatus = in.status
	r.Detail = pre + in.detail
	if !in.ok {
		return r
	}
	if in.active {
		r.Status = StatusActive
		r.Subject, r.ClientID = in.subject, in.clientID
		if in.iss != "" {
			r.Issuer = in.iss
		}
		return r
	}
	r.Status = StatusRevoked
	return r
}

// post sends the token to introspection or revocation. Retried like a GET
// (prober.do): introspection is a read (RFC 7662), and revoking a token
// already revoked answers 200 and changes nothing (RFC 7009 §2.2).
func (o *OAuth2Checker) post(ctx context.Context, c Credential, endpointURL string) (*response, error) {
	form := url.Values{"token": {c.sec.token.reveal()}}.Encode()
	return o.http.do(ctx, func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpointURL, strings.NewReader(form))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		switch c.ClientAuth {
		case ClientAuthBasic:
			// RFC 6749 §2.3.1: both parts are form-urlencoded first.
			req.SetBasicAuth(url.QueryEscape(c.sec.clientID), url.QueryEscape(c.sec.clientSecret.reveal()))
		case ClientAuthBearer:
			req.Header.Set("Authorization", "Bearer "+c.sec.bearerToken.reveal())
		}
		return req, nil
	})
}

func (o *OAuth2Checker) introspect(ctx context.Context, c Credential) introspection {
	what := "introspection at " + endpoint(c.IntrospectionURL)
	resp, err := o.post(ctx, c, c.IntrospectionURL)
	if err != nil {
		return introspection{detail: what + ": " + err.Error()}
	}
	in := introspection{status: resp.status}
	switch {
	case resp.status == http.StatusUnauthorized || resp.status == http.StatusForbidden:
		in.detail = describe(what, resp) + ": the endpoint refused airlock's client authentication"
		return in
	case resp.status >= 300 && resp.status < 400:
		in.detail = describe(what, resp) + ": redirects are not followed (point introspection-url at the endpoint itself)"
		return in
	case resp.status != http.StatusOK:
		in.detail = describe(what, resp) + " (expected 200)"
		return in
	}
	members, err := jsonObject(resp.body)
	if err != nil {
		in.detail = fmt.Sprintf("%s: HTTP 200 but the body is %v, not an RFC 7662 answer", what, err)
		return in
	}
	raw, ok := members["active"]
	if !ok {
		in.detail = what + `: HTTP 200 but the answer has no "active" member`
		return in
	}
	switch string(bytes.TrimSpace(raw)) {
	case "true":
		in.active = true
		in.detail = what + ": active=true (the token is live)"
	case "false":
		in.detail = what + ": active=false"
	default:
		in.detail = what + `: HTTP 200 but "active" is not a boolean`
		return in
	}
	in.ok = true
	in.subject, in.clientID, in.iss = jsonString(members["sub"]), jsonString(members["client_id"]), jsonString(members["iss"])
	return in
}

func (o *OAuth2Checker) revoke(ctx context.Context, c Credential) (int, string) {
	what := "revocation at " + endpoint(c.RevocationURL)
	resp, err := o.post(ctx, c, c.RevocationURL)
	if err != nil {
		return 0, what + " failed: " + err.Error()
	}
	if resp.status != http.StatusOK {
		return resp.status, describe(what, resp) + " (expected 200; not revoked by airlock)"
	}
	return resp.status, what + ": HTTP 200"
}

// jsonObject parses a single JSON object and rejects duplicate members: with
// Go's last-one-wins, {"active":true,"active":false} would read as false.
func jsonObject(body []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil {
		return nil, errors.New("not JSON")
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not a JSON object")
	}
	out := map[string]json.RawMessage{}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, errors.New("malformed JSON")
		}
		k, _ := kt.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, errors.New("malformed JSON")
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("JSON with member %q twice", k)
		}
		out[k] = v
	}
	if _, err := dec.Token(); err != nil {
		return nil, errors.New("malformed JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("JSON followed by more data")
	}
	return out, nil
}

// jsonString returns a JSON string member's value, or "" for anything else.
func jsonString(raw json.RawMessage) string {
	var s string
	if raw == nil || json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// precheck returns why c cannot be checked by a checker of kind k, or "".
func precheck(c Credential, k Kind) string {
	if c.Kind != k {
		return fmt.Sprintf("internal: a %s credential reached the %s checker", c.Kind, k)
	}
	if c.sec == nil || c.sec.token.empty() {
		return "the credential was not resolved from the environment"
	}
	return ""
}
