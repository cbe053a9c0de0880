package githubsim

import (
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Deployment is a deployment of a repository to an environment.
type Deployment struct {
	ID          int64 // 0: assigned in order
	SHA         string
	Ref         string // default "main"
	Environment string
	CreatedAt   time.Time // zero: the simulator's clock
	Creator     string    // default DefaultActor
}

// AddDeployment records a deployment (creating the repository with
// defaults if it is unknown) and returns its id.
func (s *Server) AddDeployment(owner, repo string, d Deployment) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := s.repoLocked(owner, repo)
	s.deploySeq++
	if d.ID == 0 {
		d.ID = 40_000_000 + s.deploySeq
	}
	if d.Ref == "" {
		d.Ref = "main"
	}
	if d.CreatedAt.IsZero() {
		d.CreatedAt = s.cfg.now()
	}
	if d.Creator == "" {
		d.Creator = DefaultActor
	}
	rs.deployments = append(rs.deployments, d)
	return d.ID
}

func (s *Server) registerDeployments() {
	s.rest("GET /repos/{owner}/{repo}/deployments", "repos/list-deployments", "deployments:read", s.listDeployments)
	s.rest("GET /orgs/{org}/repos", "repos/list-for-org", "metadata:read", s.listOrgRepos)
}

// listDeployments answers newest first, filtered by environment, sha and
// ref as GitHub filters them.
func (s *Server) listDeployments(w http.ResponseWriter, r *http.Request) {
	rs, ok := s.lookupRepo(r)
	if !ok {
		notFound(w)
		return
	}
	q := r.URL.Query()
	var all []Deployment
	for _, d := range rs.deployments {
		if (q.Get("environment") == "" || q.Get("environment") == d.Environment) &&
			(q.Get("sha") == "" || q.Get("sha") == d.SHA) && (q.Get("ref") == "" || q.Get("ref") == d.Ref) {
			all = append(all, d)
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].ID > all[j].ID })
	lo, hi := s.paginate(w, r, len(all))
	full := url.PathEscape(rs.repo.Owner) + "/" + url.PathEscape(rs.repo.Name)
	out := make([]any, 0, hi-lo)
	for _, d := range all[lo:hi] {
		api := s.APIURL() + "/repos/" + full + "/deployments/" + strconv.FormatInt(d.ID, 10)
		out = append(out, map[string]any{
			"url": api, "id": d.ID, "node_id": nodeID("010:Deployment", d.ID),
			"sha": d.SHA, "ref": d.Ref, "task": "deploy", "payload": map[string]any{},
			"original_environment": d.Environment, "environment": d.Environment, "description": nil,
			"creator":    s.userJSON(d.Creator, stableID("user", d.Creator), "User"),
			"created_at": ghTime(d.CreatedAt), "updated_at": ghTime(d.CreatedAt),
			"statuses_url":   api + "/statuses",
			"repository_url": s.APIURL() + "/repos/" + full,
		})
	}
	writeJSON(w, http.StatusOK, out)
}

// listOrgRepos lists the repositories the simulator knows under an owner,
// by name.
func (s *Server) listOrgRepos(w http.ResponseWriter, r *http.Request) {
	org := r.PathValue("org")
	s.mu.Lock()
	var repos []Repository
	for _, rs := range s.repos {
		if strings.EqualFold(rs.repo.Owner, org) {
			repos = append(repos, rs.repo)
		}
	}
	s.mu.Unlock()
	if len(repos) == 0 {
		notFound(w)
		return
	}
	sort.Slice(repos, func(i, j int) bool { return strings.ToLower(repos[i].Name) < strings.ToLower(repos[j].Name) })
	lo, hi := s.paginate(w, r, len(repos))
	out := make([]any, 0, hi-lo)
	for _, rp := range repos[lo:hi] {
		out = append(out, s.repoJSON(rp))
	}
	writeJSON(w, http.StatusOK, out)
}
