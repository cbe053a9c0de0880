package revocation

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
)

// VaultChecker looks the QA token up with Vault's (or OpenBao's) own token
// API: GET {api-url}/v1/auth/token/lookup-self with X-Vault-Token. 200 means
// active. A 403 with Vault's error shape ({"errors": […]}) is revoked only
// when an error says "invalid token" (Vault names a revoked, expired or
// unknown token so since 1.16): a bare "permission denied" is also what a
// live token whose policy lacks lookup-self gets, so it is unknown — unless
// the entry names the token's accessor and an operator token
// (operator-token-env): then POST {api-url}/v1/auth/token/lookup-accessor
// decides, 400 "invalid accessor" revoked, 200 active. Anything else (a
// sealed Vault's 503, a 400 "missing client token") is unknown. With
// revoke: true it first looks the token up (to learn whose it is while it
// still answers), then calls POST /v1/auth/token/revoke-self (Vault answers
// 204).
type VaultChecker struct{ http *prober }

var _ Checker = (*VaultChecker)(nil)

const vaultLookupAccessorPath = "/v1/auth/token/lookup-accessor"

var vaultTokenAPI = &tokenAPI{
	kind:         KindVault,
	revokeMethod: http.MethodPost,
	revokePath:   "/v1/auth/token/revoke-self",
	revokeOK:     func(status int) bool { return status == http.StatusNoContent || status == http.StatusOK },
	lookupPath:   "/v1/auth/token/lookup-self",
	liveDetail:   "(the token is live)",
	deadStatus:   http.StatusForbidden,
	deadDetail:   `(invalid token: Vault says the token is not valid)`,
	deadShape:    func(body []byte) bool { _, ok := vaultErrors(body); return ok },
	shapeName:    `Vault's error shape ({"errors": […]})`,
	deadProof:    func(body []byte) bool { return vaultSays(body, "invalid token") },
	ambiguous: `(permission denied, without "invalid token": Vault answers so for a revoked token (before 1.16) ` +
		`and for a live one whose policy lacks lookup-self alike)`,
	confirm:     vaultConfirm,
	lookupFirst: true,
	onLive: func(r *Result, c Credential, body []byte) string {
		d := vaultTokenData(body)
		r.Subject = d.EntityID
		if r.Subject == "" {
			r.Subject = d.DisplayName
		}
		if c.Accessor != "" && d.Accessor != "" && d.Accessor != c.Accessor {
			return " (its accessor is not the entry's accessor)"
		}
		return ""
	},
	authorize: func(req *http.Request, token string) {
		req.Header.Set("X-Vault-Token", token)
		req.Header.Set("Accept", "application/json")
	},
}

// Check implements Checker.
func (v *VaultChecker) Check(ctx context.Context, c Credential) Result {
	return vaultTokenAPI.check(ctx, v.http, c)
}

// vaultConfirm settles a lookup-self 403 "permission denied" by asking for
// the token's accessor with the operator token: Vault answers 400 "invalid
// accessor" once the token is revoked (or expired), 200 while it lives.
func vaultConfirm(ctx context.Context, p *prober, c Credential, r *Result, before []byte) {
	if c.Accessor == "" || c.sec == nil || c.sec.operatorToken.empty() {
		r.Detail += "; unknown: name the token's accessor and an operator token (accessor, operator-token-env) to prove it revoked by auth/token/lookup-accessor"
		return
	}
	if d := vaultTokenData(before); before != nil && d.Accessor != c.Accessor {
		// The entry's accessor may be another token's: its answer would
		// prove nothing about this one.
		r.Detail += "; unknown: before revoking, lookup-self did not name the entry's accessor, so lookup-accessor was not asked"
		return
	}
	what := "POST " + endpoint(c.APIURL+vaultLookupAccessorPath) + " (operator token)"
	body, err := json.Marshal(map[string]string{"accessor": c.Accessor})
	if err != nil {
		r.Detail += "; " + what + ": cannot encode the request"
		return
	}
	// A lookup by accessor is a read: prober.do may send it twice.
	resp, err := p.do(ctx, func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.APIURL+vaultLookupAccessorPath, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("X-Vault-Token", c.sec.operatorToken.reveal())
		req.Header.Set("Accept", "application/json")
		req.Header.Set("Content-Type", "application/json")
		return req, nil
	})
	switch {
	case err != nil:
		r.Detail += "; " + what + ": " + err.Error()
	case resp.status == http.StatusBadRequest && vaultSays(resp.body, "invalid accessor"):
		r.Status, r.HTTPStatus = StatusRevoked, resp.status
		r.Detail += "; " + what + `: HTTP 400 (invalid accessor: the token is not valid)`
	case resp.status == http.StatusOK:
		r.Status, r.HTTPStatus = StatusActive, resp.status
		r.Detail += "; " + what + ": HTTP 200 (the accessor's token is live)"
		if d := vaultTokenData(resp.body); r.Subject == "" {
			r.Subject = d.EntityID
			if r.Subject == "" {
				r.Subject = d.DisplayName
			}
		}
	case resp.status == http.StatusForbidden:
		r.Detail += "; " + describe(what, resp) + " (the operator token may not read lookup-accessor, or is not valid itself)"
	default:
		r.Detail += "; " + describe(what, resp) + ` (expected 400 "invalid accessor" for a revoked token)`
	}
}

// vaultErrors reads Vault's error shape, {"errors": ["…", …]}.
func vaultErrors(body []byte) ([]string, bool) {
	m, err := jsonObject(body)
	if err != nil {
		return nil, false
	}
	var errs []any
	if json.Unmarshal(m["errors"], &errs) != nil || errs == nil {
		return nil, false
	}
	var out []string
	for _, e := range errs {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out, true
}

// vaultSays reports whether one of Vault's errors is exactly msg (any case,
// spaces trimmed): Vault's messages are fixed strings, and a message that
// only contains the words is not one of them.
func vaultSays(body []byte, msg string) bool {
	errs, _ := vaultErrors(body)
	for _, e := range errs {
		if strings.EqualFold(strings.TrimSpace(e), msg) {
			return true
		}
	}
	return false
}

// vaultToken is what airlock reads of a lookup answer: identity fields and
// the accessor. The answer also carries the token itself (data.id): it is
// never read.
type vaultToken struct {
	EntityID    string `json:"entity_id"`
	DisplayName string `json:"display_name"`
	Accessor    string `json:"accessor"`
}

func vaultTokenData(body []byte) vaultToken {
	var b struct {
		Data vaultToken `json:"data"`
	}
	if body != nil {
		_ = json.Unmarshal(body, &b)
	}
	return b.Data
}
