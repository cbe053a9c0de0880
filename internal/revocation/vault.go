package revocation

import (
	"context"
	"encoding/json"
	"net/http"
)

// VaultChecker looks the QA token up with Vault's (or OpenBao's) own token
// API: GET {api-url}/v1/auth/token/lookup-self with X-Vault-Token. A 403
// carrying Vault's error shape ({"errors": […]}) means revoked, 200 means
// active, anything else (a sealed Vault's 503, a 400 "missing client token")
// unknown. With revoke: true it first calls POST
// /v1/auth/token/revoke-self (Vault answers 204).
type VaultChecker struct{ http *prober }

var _ Checker = (*VaultChecker)(nil)

// Check implements Checker.
func (v *VaultChecker) Check(ctx context.Context, c Credential) Result {
	r := newResult(c, v.http.now)
	r.IssuerHost = host(c.APIURL)
	if r.Issuer == "" {
		r.Issuer = c.APIURL
	}
	if msg := precheck(c, KindVault); msg != "" {
		r.Detail = msg
		return r
	}
	var pre string
	if c.Revoke {
		what := "POST " + endpoint(c.APIURL+"/v1/auth/token/revoke-self")
		resp, err := v.call(ctx, c, http.MethodPost, "/v1/auth/token/revoke-self")
		switch {
		case err != nil:
			pre = what + " failed: " + err.Error() + ", then "
		case resp.status == http.StatusNoContent || resp.status == http.StatusOK:
			r.Revoked, r.RevokeHTTPStatus = true, resp.status
			pre = describe(what, resp) + ", then "
		default:
			r.RevokeHTTPStatus = resp.status
			pre = describe(what, resp) + " (expected 204; not revoked by airlock), then "
		}
	}
	what := "GET " + endpoint(c.APIURL+"/v1/auth/token/lookup-self")
	resp, err := v.call(ctx, c, http.MethodGet, "/v1/auth/token/lookup-self")
	if err != nil {
		r.Detail = pre + what + ": " + err.Error()
		return r
	}
	r.HTTPStatus = resp.status
	switch resp.status {
	case http.StatusOK:
		r.Status = StatusActive
		r.Detail = pre + what + ": HTTP 200 (the token is live)"
		// The lookup answer also carries the token itself (data.id): read
		// only the identity fields.
		var body struct {
			Data struct {
				EntityID    string `json:"entity_id"`
				DisplayName string `json:"display_name"`
			} `json:"data"`
		}
		if json.Unmarshal(resp.body, &body) == nil {
			r.Subject = body.Data.EntityID
			if r.Subject == "" {
				r.Subject = body.Data.DisplayName
			}
		}
	case http.StatusForbidden:
		m, err := jsonObject(resp.body)
		var errs []any
		if err != nil || json.Unmarshal(m["errors"], &errs) != nil || errs == nil {
			r.Detail = pre + describe(what, resp) + ` but not Vault's error shape ({"errors": […]})`
			return r
		}
		r.Status = StatusRevoked
		r.Detail = pre + what + ": HTTP 403 (permission denied: the token is not valid)"
	default:
		r.Detail = pre + describe(what, resp) + " (expected 403 for a revoked token)"
	}
	return r
}

func (v *VaultChecker) call(ctx context.Context, c Credential, method, path string) (*response, error) {
	return v.http.do(ctx, func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, method, c.APIURL+path, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("X-Vault-Token", c.sec.token.reveal())
		req.Header.Set("Accept", "application/json")
		return req, nil
	})
}
