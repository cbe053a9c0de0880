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

var vaultTokenAPI = &tokenAPI{
	kind:         KindVault,
	revokeMethod: http.MethodPost,
	revokePath:   "/v1/auth/token/revoke-self",
	revokeOK:     func(status int) bool { return status == http.StatusNoContent || status == http.StatusOK },
	lookupPath:   "/v1/auth/token/lookup-self",
	liveDetail:   "(the token is live)",
	deadStatus:   http.StatusForbidden,
	deadDetail:   "(permission denied: the token is not valid)",
	deadShape: func(body []byte) bool {
		m, err := jsonObject(body)
		var errs []any
		return err == nil && json.Unmarshal(m["errors"], &errs) == nil && errs != nil
	},
	shapeName: `Vault's error shape ({"errors": […]})`,
	// The lookup answer also carries the token itself (data.id): read only
	// the identity fields.
	onLive: func(r *Result, body []byte) {
		var b struct {
			Data struct {
				EntityID    string `json:"entity_id"`
				DisplayName string `json:"display_name"`
			} `json:"data"`
		}
		if json.Unmarshal(body, &b) == nil {
			r.Subject = b.Data.EntityID
			if r.Subject == "" {
				r.Subject = b.Data.DisplayName
			}
		}
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
