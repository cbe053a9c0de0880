package githubsim

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// registerREST lists the REST routes. Adding one is one line here plus a
// handler.
func (s *Server) registerREST() {
	s.rest("GET /repos/{owner}/{repo}", "repos/get", "metadata:read", s.getRepo)
	s.rest("GET /repos/{owner}/{repo}/environments", "repos/get-all-environments", "actions:read", s.listEnvironments)
	s.rest("GET /repos/{owner}/{repo}/environments/{environment_name}", "repos/get-environment", "actions:read", s.getEnvironment)
	s.rest("GET /repos/{owner}/{repo}/environments/{environment_name}/deployment_protection_rules",
		"repos/get-all-deployment-protection-rules", "actions:read", s.listCustomRules)
	s.rest("GET /repos/{owner}/{repo}/actions/runs/{run_id}/approvals", "actions/get-reviews-for-run", "actions:read", s.listRunApprovals)
	s.rest("GET /repos/{owner}/{repo}/contents/{path...}", "repos/get-content", "contents:read", s.getContent)
	s.rest("GET /rate_limit", "rate-limit/get", "", s.getRateLimit)
	s.rest("GET /repos/{owner}/{repo}/actions/runs/{run_id}", "actions/get-workflow-run", "actions:read", s.getRun)
	s.rest("GET /orgs/{org}/teams/{team_slug}/memberships/{username}", "teams/get-membership-for-user-in-org", "members:read", s.getTeamMembership)
	s.rest("GET /repos/{owner}/{repo}/pulls/{pull_number}", "pulls/get", "pull-requests:read", s.getPull)
	s.rest("GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews", "pulls/list-reviews", "pull-requests:read", s.listReviews)
	s.registerReleases()
	s.registerChecks()
	s.registerApp()
	s.registerDeployments()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"message":"githubsim: marshal response","status":"500"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeError answers with GitHub's error shape.
func writeError(w http.ResponseWriter, status int, msg, doc string) {
	if doc == "" {
		doc = docURL
	}
	writeJSON(w, status, map[string]string{
		"message":           msg,
		"documentation_url": doc,
		"status":            strconv.Itoa(status),
	})
}

func notFound(w http.ResponseWriter) { writeError(w, http.StatusNotFound, "Not Found", "") }

// lookupRepo returns a snapshot of the repository the request names.
func (s *Server) lookupRepo(r *http.Request) (*repoState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := s.repos[repoKey(r.PathValue("owner"), r.PathValue("repo"))]
	if rs == nil {
		return nil, false
	}
	return rs.clone(), true
}

func nodeID(kind string, id int64) string {
	return base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "%s%d", kind, id))
}

func ghTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// userJSON is GitHub's simple-user with every required field.
func (s *Server) userJSON(login string, id int64, typ string) map[string]any {
	api := s.APIURL() + "/users/" + url.PathEscape(login)
	return map[string]any{
		"login":               login,
		"id":                  id,
		"node_id":             nodeID("04:"+typ, id),
		"avatar_url":          s.URL() + "/avatars/u/" + strconv.FormatInt(id, 10),
		"gravatar_id":         "",
		"url":                 api,
		"html_url":            s.URL() + "/" + url.PathEscape(login),
		"followers_url":       api + "/followers",
		"following_url":       api + "/following{/other_user}",
		"gists_url":           api + "/gists{/gist_id}",
		"starred_url":         api + "/starred{/owner}{/repo}",
		"subscriptions_url":   api + "/subscriptions",
		"organizations_url":   api + "/orgs",
		"repos_url":           api + "/repos",
		"events_url":          api + "/events{/privacy}",
		"received_events_url": api + "/received_events",
		"type":                typ,
		"site_admin":          false,
	}
}

func (s *Server) teamJSON(rv Reviewer) map[string]any {
	api := s.APIURL() + "/teams/" + strconv.FormatInt(rv.ID, 10)
	name := rv.Name
	if name == "" {
		name = rv.Slug
	}
	return map[string]any{
		"id":                   rv.ID,
		"node_id":              nodeID("04:Team", rv.ID),
		"url":                  api,
		"html_url":             s.URL() + "/orgs/" + url.PathEscape(rv.Org) + "/teams/" + url.PathEscape(rv.Slug),
		"name":                 name,
		"slug":                 rv.Slug,
		"description":          nil,
		"privacy":              "closed",
		"notification_setting": "notifications_enabled",
		"permission":           "pull",
		"members_url":          api + "/members{/member}",
		"repositories_url":     api + "/repos",
		"parent":               nil,
		"type":                 "organization",
	}
}

func (s *Server) getRepo(w http.ResponseWriter, r *http.Request) {
	rs, ok := s.lookupRepo(r)
	if !ok {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, s.repoJSON(rs.repo))
}

// repoJSON is GitHub's repository object with the fields clients read.
func (s *Server) repoJSON(rp Repository) map[string]any {
	full := rp.Owner + "/" + rp.Name
	return map[string]any{
		"id":             rp.ID,
		"node_id":        nodeID("010:Repository", rp.ID),
		"name":           rp.Name,
		"full_name":      full,
		"private":        rp.Visibility != "public",
		"visibility":     rp.Visibility,
		"owner":          s.userJSON(rp.Owner, rp.OwnerID, rp.OwnerType),
		"html_url":       s.URL() + "/" + full,
		"url":            s.APIURL() + "/repos/" + full,
		"description":    nil,
		"fork":           false,
		"archived":       false,
		"disabled":       false,
		"default_branch": rp.DefaultBranch,
	}
}

func (s *Server) envURLs(rp Repository, name string) (api, html string) {
	full := url.PathEscape(rp.Owner) + "/" + url.PathEscape(rp.Name)
	return s.APIURL() + "/repos/" + full + "/environments/" + url.PathEscape(name),
		s.URL() + "/" + full + "/deployments/activity_log?environments_filter=" + url.QueryEscape(name)
}

// envSummaryJSON is the environment as the approvals log embeds it.
func (s *Server) envSummaryJSON(rp Repository, e *Environment) map[string]any {
	api, html := s.envURLs(rp, e.Name)
	return map[string]any{
		"id":         e.ID,
		"node_id":    nodeID("011:Environment", e.ID),
		"name":       e.Name,
		"url":        api,
		"html_url":   html,
		"created_at": ghTime(e.CreatedAt),
		"updated_at": ghTime(e.UpdatedAt),
	}
}

func (s *Server) environmentJSON(rp Repository, e *Environment) map[string]any {
	out := s.envSummaryJSON(rp, e)
	rules := []any{}
	if e.WaitTimer > 0 {
		id := stableID("gate", strconv.FormatInt(e.ID, 10), "wait_timer")
		rules = append(rules, map[string]any{"id": id, "node_id": nodeID("04:Gate", id), "type": "wait_timer", "wait_timer": e.WaitTimer})
	}
	if len(e.RequiredReviewers) > 0 {
		id := stableID("gate", strconv.FormatInt(e.ID, 10), "required_reviewers")
		reviewers := make([]any, 0, len(e.RequiredReviewers))
		for _, rv := range e.RequiredReviewers {
			var body map[string]any
			if rv.Type == "Team" {
				body = s.teamJSON(rv)
			} else {
				body = s.userJSON(rv.Login, rv.ID, "User")
			}
			reviewers = append(reviewers, map[string]any{"type": rv.Type, "reviewer": body})
		}
		rules = append(rules, map[string]any{
			"id": id, "node_id": nodeID("04:Gate", id), "type": "required_reviewers",
			"prevent_self_review": e.PreventSelfReview, "reviewers": reviewers,
		})
	}
	var bp any
	if e.DeploymentBranchPolicy != nil {
		id := stableID("gate", strconv.FormatInt(e.ID, 10), "branch_policy")
		rules = append(rules, map[string]any{"id": id, "node_id": nodeID("04:Gate", id), "type": "branch_policy"})
		bp = map[string]any{
			"protected_branches":     e.DeploymentBranchPolicy.ProtectedBranches,
			"custom_branch_policies": e.DeploymentBranchPolicy.CustomBranchPolicies,
		}
	}
	out["protection_rules"] = rules
	out["deployment_branch_policy"] = bp
	if e.CanAdminsBypass != nil {
		out["can_admins_bypass"] = *e.CanAdminsBypass
	}
	return out
}

func (s *Server) listEnvironments(w http.ResponseWriter, r *http.Request) {
	rs, ok := s.lookupRepo(r)
	if !ok {
		notFound(w)
		return
	}
	lo, hi := s.paginate(w, r, len(rs.envOrder))
	envs := make([]any, 0, hi-lo)
	for _, k := range rs.envOrder[lo:hi] {
		envs = append(envs, s.environmentJSON(rs.repo, rs.envs[k]))
	}
	writeJSON(w, http.StatusOK, map[string]any{"total_count": len(rs.envOrder), "environments": envs})
}

func (s *Server) getEnvironment(w http.ResponseWriter, r *http.Request) {
	rs, ok := s.lookupRepo(r)
	if !ok {
		notFound(w)
		return
	}
	e := rs.envs[strings.ToLower(r.PathValue("environment_name"))]
	if e == nil {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, s.environmentJSON(rs.repo, e))
}

func (s *Server) listCustomRules(w http.ResponseWriter, r *http.Request) {
	rs, ok := s.lookupRepo(r)
	if !ok {
		notFound(w)
		return
	}
	e := rs.envs[strings.ToLower(r.PathValue("environment_name"))]
	if e == nil {
		notFound(w)
		return
	}
	rules := make([]any, 0, len(e.CustomRules))
	enabled := 0
	for _, c := range e.CustomRules {
		if c.Enabled {
			enabled++
		}
		rules = append(rules, map[string]any{
			"id": c.ID, "node_id": nodeID("04:DeploymentProtectionRule", c.ID), "enabled": c.Enabled,
			"app": map[string]any{
				"id": c.AppID, "node_id": nodeID("04:Integration", c.AppID), "slug": c.AppSlug,
				"integration_url": s.APIURL() + "/apps/" + url.PathEscape(c.AppSlug),
			},
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"total_count": enabled, "custom_deployment_protection_rules": rules})
}

func (s *Server) listRunApprovals(w http.ResponseWriter, r *http.Request) {
	rs, ok := s.lookupRepo(r)
	if !ok {
		notFound(w)
		return
	}
	runID, err := strconv.ParseInt(r.PathValue("run_id"), 10, 64)
	if err != nil {
		notFound(w)
		return
	}
	approvals, known := rs.runs[runID]
	if !known {
		notFound(w)
		return
	}
	lo, hi := s.paginate(w, r, len(approvals))
	out := make([]any, 0, hi-lo)
	for _, a := range approvals[lo:hi] {
		envs := make([]any, 0, len(a.Environments))
		for _, name := range a.Environments {
			e := rs.envs[strings.ToLower(name)]
			if e == nil {
				e = &Environment{Name: name, ID: stableID("env", rs.repo.Owner, rs.repo.Name, name), CreatedAt: a.Time, UpdatedAt: a.Time}
			}
			envs = append(envs, s.envSummaryJSON(rs.repo, e))
		}
		out = append(out, map[string]any{
			"state":        a.State,
			"comment":      a.Comment,
			"environments": envs,
			"user":         s.userJSON(a.User.Login, a.User.ID, "User"),
		})
	}
	writeJSON(w, http.StatusOK, out)
}

// paginate applies GitHub's per_page/page parameters to n items, sets the Link
// header and returns the slice bounds.
func (s *Server) paginate(w http.ResponseWriter, r *http.Request, n int) (lo, hi int) {
	q := r.URL.Query()
	perPage, err := strconv.Atoi(q.Get("per_page"))
	if err != nil || perPage <= 0 {
		perPage = 30
	}
	perPage = min(perPage, 100)
	page, err := strconv.Atoi(q.Get("page"))
	if err != nil || page <= 0 {
		page = 1
	}
	last := max((n+perPage-1)/perPage, 1)
	link := func(p int, rel string) string {
		q.Set("page", strconv.Itoa(p))
		q.Set("per_page", strconv.Itoa(perPage))
		return fmt.Sprintf("<%s%s?%s>; rel=%q", s.URL(), r.URL.EscapedPath(), q.Encode(), rel)
	}
	var links []string
	if page > 1 {
		links = append(links, link(min(page-1, last), "prev"))
	}
	if page < last {
		links = append(links, link(page+1, "next"), link(last, "last"))
	}
	if page > 1 {
		links = append(links, link(1, "first"))
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
	lo = min((page-1)*perPage, n)
	hi = min(lo+perPage, n)
	return lo, hi
}
