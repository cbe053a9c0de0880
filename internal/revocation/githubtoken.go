package revocation

import (
	"context"
	"net/http"
)

// GitHubTokenChecker sends the QA token to GitHub's REST API
// (GET {api-url}/rate_limit). A 401 carrying GitHub's error shape
// ({"message": …}) means revoked, 200 means active, anything else unknown.
// /rate_limit rather than /user because installation tokens get 403 from
// /user, and it does not count against the rate limit. With revoke: true it
// first calls DELETE {api-url}/installation/token (installation tokens
// only; GitHub answers 204).
type GitHubTokenChecker struct{ http *prober }

var _ Checker = (*GitHubTokenChecker)(nil)

// Check implements Checker.
func (g *GitHubTokenChecker) Check(ctx context.Context, c Credential) Result {
	r := newResult(c, g.http.now)
	r.IssuerHost = host(c.APIURL)
	if r.Issuer == "" {
		r.Issuer = c.APIURL
	}
	if msg := precheck(c, KindGitHubToken); msg != "" {
		r.Detail = msg
		return r
	}
	var pre string
	if c.Revoke {
		what := "DELETE " + endpoint(c.APIURL+"/installation/token")
		resp, err := g.call(ctx, c, http.MethodDelete, "/installation/token")
		switch {
		case err != nil:
			pre = what + " failed: " + err.Error() + ", then "
		case resp.status == http.StatusNoContent:
			r.Revoked, r.RevokeHTTPStatus = true, resp.status
			pre = what + ": HTTP 204, then "
		default:
			r.RevokeHTTPStatus = resp.status
			pre = describe(what, resp) + " (expected 204; not revoked by airlock), then "
		}
	}
	what := "GET " + endpoint(c.APIURL+"/rate_limit")
	resp, err := g.call(ctx, c, http.MethodGet, "/rate_limit")
	if err != nil {
		r.Detail = pre + what + ": " + err.Error()
		return r
	}
	r.HTTPStatus = resp.status
	switch resp.status {
	case http.StatusOK:
		r.Status = StatusActive
		r.Detail = pre + what + ": HTTP 200 (the token is accepted)"
	case http.StatusUnauthorized:
		// A 401 from a proxy or login page in front of the API is not
		// GitHub rejecting the token: require GitHub's error shape.
		if m, err := jsonObject(resp.body); err != nil || jsonString(m["message"]) == "" {
			r.Detail = pre + describe(what, resp) + ` but not GitHub's error shape ({"message": …})`
			return r
		}
		r.Status = StatusRevoked
		r.Detail = pre + what + ": HTTP 401 (bad credentials)"
	default:
		r.Detail = pre + describe(what, resp) + " (expected 401 for a revoked token)"
	}
	return r
}

func (g *GitHubTokenChecker) call(ctx context.Context, c Credential, method, path string) (*response, error) {
	return g.http.do(ctx, func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, method, c.APIURL+path, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+c.sec.token.reveal())
		req.Header.Set("Accept", "application/vnd.github+json")
		req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
		return req, nil
	})
}
