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

var githubTokenAPI = &tokenAPI{
	kind:         KindGitHubToken,
	revokeMethod: http.MethodDelete,
	revokePath:   "/installation/token",
	revokeOK:     func(status int) bool { return status == http.StatusNoContent },
	lookupPath:   "/rate_limit",
	liveDetail:   "(the token is accepted)",
	deadStatus:   http.StatusUnauthorized,
	deadDetail:   "(bad credentials)",
	deadShape: func(body []byte) bool {
		m, err := jsonObject(body)
		return err == nil && jsonString(m["message"]) != ""
	},
	shapeName: `GitHub's error shape ({"message": …})`,
	authorize: func(req *http.Request, token string) {
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Accept", "application/vnd.github+json")
		req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	},
}

// Check implements Checker.
func (g *GitHubTokenChecker) Check(ctx context.Context, c Credential) Result {
	return githubTokenAPI.check(ctx, g.http, c)
}
