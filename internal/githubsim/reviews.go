package githubsim

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// minimalRepoJSON is GitHub's minimal-repository with every required field.
func (s *Server) minimalRepoJSON(rp Repository) map[string]any {
	full := url.PathEscape(rp.Owner) + "/" + url.PathEscape(rp.Name)
	api := s.APIURL() + "/repos/" + full
	out := map[string]any{
		"id":          rp.ID,
		"node_id":     nodeID("010:Repository", rp.ID),
		"name":        rp.Name,
		"full_name":   rp.Owner + "/" + rp.Name,
		"owner":       s.userJSON(rp.Owner, rp.OwnerID, rp.OwnerType),
		"private":     rp.Visibility != "public",
		"html_url":    s.URL() + "/" + full,
		"description": nil,
		"fork":        false,
		"url":         api,
	}
	for k, suffix := range map[string]string{
		"archive_url": "/{archive_format}{/ref}", "assignees_url": "/assignees{/user}", "blobs_url": "/git/blobs{/sha}",
		"branches_url": "/branches{/branch}", "collaborators_url": "/collaborators{/collaborator}", "comments_url": "/comments{/number}",
		"commits_url": "/commits{/sha}", "compare_url": "/compare/{base}...{head}", "contents_url": "/contents/{+path}",
		"contributors_url": "/contributors", "deployments_url": "/deployments", "downloads_url": "/downloads",
		"events_url": "/events", "forks_url": "/forks", "git_commits_url": "/git/commits{/sha}", "git_refs_url": "/git/refs{/sha}",
		"git_tags_url": "/git/tags{/sha}", "hooks_url": "/hooks", "issue_comment_url": "/issues/comments{/number}",
		"issue_events_url": "/issues/events{/number}", "issues_url": "/issues{/number}", "keys_url": "/keys{/key_id}",
		"labels_url": "/labels{/name}", "languages_url": "/languages", "merges_url": "/merges", "milestones_url": "/milestones{/number}",
		"notifications_url": "/notifications{?since,all,participating}", "pulls_url": "/pulls{/number}", "releases_url": "/releases{/id}",
		"stargazers_url": "/stargazers", "statuses_url": "/statuses/{sha}", "subscribers_url": "/subscribers",
		"subscription_url": "/subscription", "tags_url": "/tags", "teams_url": "/teams", "trees_url": "/git/trees{/sha}",
	} {
		out[k] = api + suffix
	}
	return out
}

// runView fills a run's zero fields from the run claims (when they describe
// this run) or from DefaultRunClaims.
func (s *Server) runView(rs *repoState, runID int64) Run {
	r := rs.runMeta[runID]
	s.mu.Lock()
	claims := s.runClaims
	s.mu.Unlock()
	if id, _ := claims["run_id"].(string); id != strconv.FormatInt(runID, 10) {
		claims = DefaultRunClaims(rs.repo.Owner, rs.repo.Name)
	}
	str := func(k string) string { v, _ := claims[k].(string); return v }
	if r.Actor.Login == "" {
		id, _ := strconv.ParseInt(str("actor_id"), 10, 64)
		r.Actor = User{Login: str("actor"), ID: id}
		if r.Actor.Login == "" || id <= 0 {
			r.Actor = User{Login: DefaultActor, ID: DefaultActorID}
		}
	}
	if r.TriggeringActor.Login == "" {
		r.TriggeringActor = r.Actor
	}
	if r.Event == "" {
		r.Event = str("event_name")
	}
	if r.HeadSHA == "" {
		r.HeadSHA = str("sha")
	}
	if r.HeadBranch == "" {
		r.HeadBranch = strings.TrimPrefix(str("ref"), "refs/heads/")
	}
	if r.RunAttempt == 0 {
		r.RunAttempt, _ = strconv.Atoi(str("run_attempt"))
		r.RunAttempt = max(r.RunAttempt, 1)
	}
	if r.RunStartedAt.IsZero() {
		r.RunStartedAt = r.CreatedAt
	}
	return r
}

func (s *Server) getRun(w http.ResponseWriter, r *http.Request) {
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
	if _, known := rs.runMeta[runID]; !known {
		notFound(w)
		return
	}
	run := s.runView(rs, runID)
	rp := rs.repo
	full := url.PathEscape(rp.Owner) + "/" + url.PathEscape(rp.Name)
	api := s.APIURL() + "/repos/" + full + "/actions/runs/" + strconv.FormatInt(runID, 10)
	workflowID := stableID("workflow", rp.Owner, rp.Name)
	repoJSON := s.minimalRepoJSON(rp)
	writeJSON(w, http.StatusOK, map[string]any{
		"id":                  runID,
		"name":                "promote",
		"node_id":             nodeID("011:WorkflowRun", runID),
		"check_suite_id":      stableID("suite", strconv.FormatInt(runID, 10)),
		"check_suite_node_id": nodeID("010:CheckSuite", runID),
		"head_branch":         run.HeadBranch,
		"head_sha":            run.HeadSHA,
		"path":                ".github/workflows/promote.yml",
		"run_number":          42,
		"run_attempt":         run.RunAttempt,
		"event":               run.Event,
		"display_title":       "promote",
		"status":              "in_progress",
		"conclusion":          nil,
		"workflow_id":         workflowID,
		"url":                 api,
		"html_url":            s.URL() + "/" + full + "/actions/runs/" + strconv.FormatInt(runID, 10),
		"pull_requests":       []any{},
		"created_at":          ghTime(run.CreatedAt),
		"updated_at":          ghTime(run.RunStartedAt),
		"run_started_at":      ghTime(run.RunStartedAt),
		"actor":               s.userJSON(run.Actor.Login, run.Actor.ID, "User"),
		"triggering_actor":    s.userJSON(run.TriggeringActor.Login, run.TriggeringActor.ID, "User"),
		"jobs_url":            api + "/jobs",
		"logs_url":            api + "/logs",
		"check_suite_url":     s.APIURL() + "/repos/" + full + "/check-suites/1",
		"artifacts_url":       api + "/artifacts",
		"cancel_url":          api + "/cancel",
		"rerun_url":           api + "/rerun",
		"workflow_url":        s.APIURL() + "/repos/" + full + "/actions/workflows/" + strconv.FormatInt(workflowID, 10),
		"head_commit":         nil,
		"repository":          repoJSON,
		"head_repository":     repoJSON,
	})
}

func (s *Server) getTeamMembership(w http.ResponseWriter, r *http.Request) {
	org, team, login := r.PathValue("org"), r.PathValue("team_slug"), r.PathValue("username")
	s.mu.Lock()
	state := s.teams[strings.ToLower(org+"/"+team)][strings.ToLower(login)]
	s.mu.Unlock()
	if state == "" {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"url":   s.APIURL() + "/teams/" + strconv.FormatInt(stableID("team", org, team), 10) + "/memberships/" + url.PathEscape(login),
		"role":  "member",
		"state": state,
	})
}

func (s *Server) pullJSON(rp Repository, pr PullRequest) map[string]any {
	full := url.PathEscape(rp.Owner) + "/" + url.PathEscape(rp.Name)
	api := s.APIURL() + "/repos/" + full + "/pulls/" + strconv.Itoa(pr.Number)
	var merge any
	if pr.MergeCommitSHA != "" {
		merge = pr.MergeCommitSHA
	}
	repoJSON := s.minimalRepoJSON(rp)
	changed := pr.ChangedFiles
	if changed == 0 {
		changed = s.pullFileCount(rp.Owner, rp.Name, pr.Number)
	}
	return map[string]any{
		"id":               pr.ID,
		"node_id":          nodeID("011:PullRequest", pr.ID),
		"number":           pr.Number,
		"state":            pr.State,
		"title":            "Promote to production",
		"user":             s.userJSON(pr.Author.Login, pr.Author.ID, "User"),
		"url":              api,
		"html_url":         s.URL() + "/" + full + "/pull/" + strconv.Itoa(pr.Number),
		"created_at":       ghTime(pr.CreatedAt),
		"updated_at":       ghTime(pr.CreatedAt),
		"merge_commit_sha": merge,
		"merged":           false,
		"draft":            false,
		"head":             map[string]any{"label": rp.Owner + ":" + pr.HeadRef, "ref": pr.HeadRef, "sha": pr.HeadSHA, "repo": repoJSON, "user": s.userJSON(rp.Owner, rp.OwnerID, rp.OwnerType)},
		"base":             map[string]any{"label": rp.Owner + ":" + pr.BaseRef, "ref": pr.BaseRef, "sha": pr.BaseSHA, "repo": repoJSON, "user": s.userJSON(rp.Owner, rp.OwnerID, rp.OwnerType)},
		"changed_files":    changed,
	}
}

func (s *Server) lookupPull(w http.ResponseWriter, r *http.Request) (*repoState, PullRequest, bool) {
	rs, ok := s.lookupRepo(r)
	if !ok {
		notFound(w)
		return nil, PullRequest{}, false
	}
	n, err := strconv.Atoi(r.PathValue("pull_number"))
	pr, known := rs.pulls[n]
	if err != nil || !known {
		notFound(w)
		return nil, PullRequest{}, false
	}
	return rs, pr, true
}

func (s *Server) getPull(w http.ResponseWriter, r *http.Request) {
	rs, pr, ok := s.lookupPull(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, s.pullJSON(rs.repo, pr))
}

func (s *Server) listReviews(w http.ResponseWriter, r *http.Request) {
	rs, pr, ok := s.lookupPull(w, r)
	if !ok {
		return
	}
	reviews := rs.reviews[pr.Number]
	lo, hi := s.paginate(w, r, len(reviews))
	full := url.PathEscape(rs.repo.Owner) + "/" + url.PathEscape(rs.repo.Name)
	out := make([]any, 0, hi-lo)
	for _, rv := range reviews[lo:hi] {
		m := map[string]any{
			"id":                 rv.ID,
			"node_id":            nodeID("017:PullRequestReview", rv.ID),
			"user":               nil,
			"body":               rv.Body,
			"state":              rv.State,
			"html_url":           s.URL() + "/" + full + "/pull/" + strconv.Itoa(pr.Number) + "#pullrequestreview-" + strconv.FormatInt(rv.ID, 10),
			"pull_request_url":   s.APIURL() + "/repos/" + full + "/pulls/" + strconv.Itoa(pr.Number),
			"commit_id":          rv.CommitID,
			"author_association": "MEMBER",
		}
		if rv.User.Login != "" {
			m["user"] = s.userJSON(rv.User.Login, rv.User.ID, "User")
		}
		if !rv.SubmittedAt.IsZero() {
			m["submitted_at"] = ghTime(rv.SubmittedAt)
		}
		out = append(out, m)
	}
	writeJSON(w, http.StatusOK, out)
}
