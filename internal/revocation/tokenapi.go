package revocation

import (
	"context"
	"net/http"
	"strconv"
)

// tokenAPI describes an issuer that answers "is this token alive?" by being
// asked with the token itself (GitHub's REST API, Vault's token API): an
// optional revoke call, then a lookup whose status says live, dead or unknown.
// Only a dead status with the issuer's own error shape counts as revoked, so
// a proxy or login page in front of the API cannot pass for the issuer.
type tokenAPI struct {
	kind Kind
	// revoke is asked first when the credential says revoke: true.
	revokeMethod, revokePath string
	revokeOK                 func(status int) bool
	lookupPath               string
	liveDetail               string // after "HTTP 200"
	deadStatus               int
	deadDetail               string // after "HTTP <deadStatus>"
	// deadShape reports whether a dead answer's body has the issuer's error
	// shape; shapeName names that shape in the detail when it has not.
	deadShape func(body []byte) bool
	shapeName string
	// deadProof, when set, is what a dead answer must say besides having
	// the shape to prove the token dead (Vault's "invalid token"); one
	// without it is unknown, with ambiguous as its detail, unless confirm
	// settles it.
	deadProof func(body []byte) bool
	ambiguous string
	// confirm asks elsewhere about a dead-status answer without proof; it
	// may set r's status. before is the live answer of a lookup made
	// before revoking (nil if none).
	confirm func(ctx context.Context, p *prober, c Credential, r *Result, before []byte)
	// lookupFirst: with revoke, look up once before revoking, so that a
	// live answer tells who the token was (onLive) before it cannot.
	lookupFirst bool
	// onLive reads identity fields from a live answer (never the token),
	// and returns a note for the detail (empty for none).
	onLive func(r *Result, c Credential, body []byte) string
	// authorize sets the headers that carry the token.
	authorize func(req *http.Request, token string)
}

func (a *tokenAPI) check(ctx context.Context, p *prober, c Credential) Result {
	r := newResult(c, p.now)
	r.IssuerHost = host(c.APIURL)
	if r.Issuer == "" {
		r.Issuer = c.APIURL
	}
	if msg := precheck(c, a.kind); msg != "" {
		r.Detail = msg
		return r
	}
	var pre string
	var before []byte
	if c.Revoke && a.lookupFirst {
		what := "GET " + endpoint(c.APIURL+a.lookupPath)
		if resp, err := a.call(ctx, p, c, http.MethodGet, a.lookupPath); err == nil && resp.status == http.StatusOK {
			before = resp.body
			note := ""
			if a.onLive != nil {
				note = a.onLive(&r, c, resp.body)
			}
			pre = what + ": HTTP 200 before revoking" + note + ", then "
		}
	}
	if c.Revoke {
		what := a.revokeMethod + " " + endpoint(c.APIURL+a.revokePath)
		resp, err := a.call(ctx, p, c, a.revokeMethod, a.revokePath)
		switch {
		case err != nil:
			pre += what + " failed: " + err.Error() + ", then "
		case a.revokeOK(resp.status):
			r.Revoked, r.RevokeHTTPStatus = true, resp.status
			pre += describe(what, resp) + ", then "
		default:
			r.RevokeHTTPStatus = resp.status
			pre += describe(what, resp) + " (expected 204; not revoked by airlock), then "
		}
	}
	what := "GET " + endpoint(c.APIURL+a.lookupPath)
	resp, err := a.call(ctx, p, c, http.MethodGet, a.lookupPath)
	if err != nil {
		r.Detail = pre + what + ": " + err.Error()
		return r
	}
	r.HTTPStatus = resp.status
	switch resp.status {
	case http.StatusOK:
		r.Status = StatusActive
		r.Detail = pre + what + ": HTTP 200 " + a.liveDetail
		if a.onLive != nil {
			r.Detail += a.onLive(&r, c, resp.body)
		}
	case a.deadStatus:
		if !a.deadShape(resp.body) {
			r.Detail = pre + describe(what, resp) + " but not " + a.shapeName
			return r
		}
		if a.deadProof != nil && !a.deadProof(resp.body) {
			r.Detail = pre + describe(what, resp) + " " + a.ambiguous
			if a.confirm != nil {
				a.confirm(ctx, p, c, &r, before)
			}
			return r
		}
		r.Status = StatusRevoked
		r.Detail = pre + what + ": " + "HTTP " + strconv.Itoa(a.deadStatus) + " " + a.deadDetail
	default:
		r.Detail = pre + describe(what, resp) + " (expected " + strconv.Itoa(a.deadStatus) + " for a revoked token)"
	}
	return r
}

// call is a lookup (GET) or a revocation (DELETE, or Vault's POST
// revoke-self), retried like a GET (prober.do): a token revoked twice is
// revoked once, and the lookup after it says which happened.
func (a *tokenAPI) call(ctx context.Context, p *prober, c Credential, method, path string) (*response, error) {
	return p.do(ctx, func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, method, c.APIURL+path, nil)
		if err != nil {
			return nil, err
		}
		a.authorize(req, c.sec.token.reveal())
		return req, nil
	})
}
