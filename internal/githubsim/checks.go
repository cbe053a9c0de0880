package githubsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// CheckRun is a check run as the simulator stores it. Annotations
// accumulate over updates, as on GitHub; Writes are the request bodies that
// created and updated it, in order, so tests can assert what was sent.
type CheckRun struct {
	ID          int64
	Name        string
	HeadSHA     string
	Status      string
	Conclusion  string
	DetailsURL  string
	ExternalID  string
	StartedAt   time.Time
	CompletedAt time.Time
	Title       string
	Summary     string
	Text        string
	Annotations []CheckAnnotation
	// AppSlug owns the run; only "github-actions" (every token the
	// simulator knows acts as that app) may update it.
	AppSlug string
	Writes  []json.RawMessage
}

// CheckAnnotation is one annotation of a check run.
type CheckAnnotation struct {
	Path       string `json:"path"`
	StartLine  int    `json:"start_line"`
	EndLine    int    `json:"end_line"`
	Level      string `json:"annotation_level"`
	Title      string `json:"title,omitempty"`
	Message    string `json:"message"`
	RawDetails string `json:"raw_details,omitempty"`
}

// CommitStatus is one commit status, as POST .../statuses/{sha} created it.
type CommitStatus struct {
	ID          int64
	SHA         string
	State       string
	TargetURL   string
	Description string
	Context     string
	CreatedAt   time.Time
}

// PullRequestFile is a file a pull request changes.
type PullRequestFile struct {
	Filename         string
	Status           string // "modified" when empty
	PreviousFilename string // renamed files
}

// actionsApp is the app every simulator token acts as, like a job's
// GITHUB_TOKEN on GitHub.
const actionsApp = "github-actions"

type checksState struct {
	runs     []*CheckRun
	statuses []CommitStatus
	files    map[int][]PullRequestFile
	commits  map[string][]string // sha → parents
	nextID   int64
}

func (s *Server) registerChecks() {
	s.rest("POST /repos/{owner}/{repo}/check-runs", "checks/create", "checks:write", s.createCheckRun)
	s.rest("PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}", "checks/update", "checks:write", s.updateCheckRun)
	s.rest("GET /repos/{owner}/{repo}/commits/{ref}/check-runs", "checks/list-for-ref", "checks:read", s.listCheckRuns)
	s.rest("GET /repos/{owner}/{repo}/check-runs/{check_run_id}/annotations", "checks/list-annotations", "checks:read", s.listAnnotations)
	s.rest("POST /repos/{owner}/{repo}/statuses/{sha}", "repos/create-commit-status", "statuses:write", s.createStatus)
	s.rest("GET /repos/{owner}/{repo}/pulls/{pull_number}/files", "pulls/list-files", "pull-requests:read", s.listPullFiles)
	s.rest("GET /repos/{owner}/{repo}/git/commits/{commit_sha}", "git/get-commit", "contents:read", s.getGitCommit)
}

// checksLocked returns owner/repo's check state, creating it; s.mu is held.
func (s *Server) checksLocked(owner, repo string) *checksState {
	if s.checks == nil {
		s.checks = map[string]*checksState{}
	}
	k := repoKey(owner, repo)
	cs := s.checks[k]
	if cs == nil {
		cs = &checksState{files: map[int][]PullRequestFile{}, commits: map[string][]string{}, nextID: stableID("check-run", owner, repo)}
		s.checks[k] = cs
	}
	return cs
}

// CheckRuns returns copies of owner/repo's check runs, oldest first.
func (s *Server) CheckRuns(owner, repo string) []CheckRun {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []CheckRun{}
	for _, r := range s.checksLocked(owner, repo).runs {
		cp := *r
		cp.Annotations = slices.Clone(r.Annotations)
		cp.Writes = slices.Clone(r.Writes)
		out = append(out, cp)
	}
	return out
}

// AddCheckRun stores a check run as if some app had created it (AppSlug
// "" is github-actions) and returns its id.
func (s *Server) AddCheckRun(owner, repo string, r CheckRun) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.checksLocked(owner, repo)
	cs.nextID++
	r.ID = cs.nextID
	if r.AppSlug == "" {
		r.AppSlug = actionsApp
	}
	if r.StartedAt.IsZero() {
		r.StartedAt = s.cfg.now().UTC().Truncate(time.Second)
	}
	cs.runs = append(cs.runs, &r)
	return r.ID
}

// CommitStatuses returns owner/repo's commit statuses, oldest first.
func (s *Server) CommitStatuses(owner, repo string) []CommitStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.checksLocked(owner, repo).statuses)
}

// SetPullRequestFiles sets the files pull request number changes.
func (s *Server) SetPullRequestFiles(owner, repo string, number int, files ...PullRequestFile) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checksLocked(owner, repo).files[number] = slices.Clone(files)
}

// SetCommit makes a commit and its parents known to GET .../git/commits.
// A pull request's merge commit (parents: base, head) and head commit
// (parent: base) are known without it.
func (s *Server) SetCommit(owner, repo, sha string, parents ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checksLocked(owner, repo).commits[strings.ToLower(sha)] = slices.Clone(parents)
}

var reHexSHA = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9a-fA-F]{40}$`) })

// checkRunBody is the request body of a create or an update; pointers tell
// absent from empty.
type checkRunBody struct {
	Name        *string `json:"name"`
	HeadSHA     *string `json:"head_sha"`
	DetailsURL  *string `json:"details_url"`
	ExternalID  *string `json:"external_id"`
	Status      *string `json:"status"`
	Conclusion  *string `json:"conclusion"`
	StartedAt   *string `json:"started_at"`
	CompletedAt *string `json:"completed_at"`
	Output      *struct {
		Title       *string           `json:"title"`
		Summary     *string           `json:"summary"`
		Text        *string           `json:"text"`
		Annotations []CheckAnnotation `json:"annotations"`
	} `json:"output"`
}

// readBody reads a JSON request body of at most 2 MiB.
func readBody(w http.ResponseWriter, r *http.Request, v any) ([]byte, bool) {
	b, err := io.ReadAll(io.LimitReader(r.Body, 2<<20+1))
	if err != nil || len(b) > 2<<20 {
		writeError(w, http.StatusRequestEntityTooLarge, "request body too large or unreadable", "")
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "Problems parsing JSON", "")
		return nil, false
	}
	return b, true
}

func unprocessable(w http.ResponseWriter, msg string) {
	writeError(w, http.StatusUnprocessableEntity, "Validation Failed: "+msg, "https://docs.github.com/rest/checks/runs")
}

// apply validates body as GitHub does and applies it to run; it returns a
// message for a 422, or "".
func (body *checkRunBody) apply(run *CheckRun, now time.Time) string {
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	if body.Status != nil && !slices.Contains([]string{"queued", "in_progress", "completed"}, *body.Status) {
		return fmt.Sprintf("status %q is not included in the list", *body.Status)
	}
	if body.Conclusion != nil && !slices.Contains([]string{"action_required", "cancelled", "failure", "neutral", "success", "skipped", "timed_out"}, *body.Conclusion) {
		return fmt.Sprintf("conclusion %q is not included in the list", *body.Conclusion)
	}
	if (str(body.Status) == "completed" || body.CompletedAt != nil) && body.Conclusion == nil {
		return "conclusion is required when status is completed"
	}
	if str(body.Conclusion) == "action_required" && str(body.DetailsURL) == "" && run.DetailsURL == "" {
		return "details_url is required when conclusion is action_required"
	}
	for _, t := range []*string{body.StartedAt, body.CompletedAt} {
		if t != nil {
			if _, err := time.Parse(time.RFC3339, *t); err != nil {
				return fmt.Sprintf("%q is not an ISO 8601 timestamp", *t)
			}
		}
	}
	if o := body.Output; o != nil {
		if str(o.Title) == "" || str(o.Summary) == "" {
			return "output requires title and summary"
		}
		if utf8.RuneCountInString(str(o.Summary)) > 65535 || utf8.RuneCountInString(str(o.Text)) > 65535 {
			return "output summary or text is too long (maximum is 65535 characters)"
		}
		if len(o.Annotations) > 50 {
			return fmt.Sprintf("only 50 annotations may be sent per request, got %d", len(o.Annotations))
		}
		for i, a := range o.Annotations {
			if a.Path == "" || a.StartLine < 1 || a.EndLine < a.StartLine || a.Message == "" ||
				!slices.Contains([]string{"notice", "warning", "failure"}, a.Level) || utf8.RuneCountInString(a.Title) > 255 {
				return fmt.Sprintf("annotations[%d] is invalid", i)
			}
		}
	}
	if body.Name != nil {
		run.Name = *body.Name
	}
	if body.DetailsURL != nil {
		run.DetailsURL = *body.DetailsURL
	}
	if body.ExternalID != nil {
		run.ExternalID = *body.ExternalID
	}
	if body.Status != nil {
		run.Status = *body.Status
	}
	if body.Conclusion != nil {
		run.Conclusion, run.Status = *body.Conclusion, "completed"
	}
	if body.StartedAt != nil {
		run.StartedAt, _ = time.Parse(time.RFC3339, *body.StartedAt)
	}
	if body.CompletedAt != nil {
		run.CompletedAt, _ = time.Parse(time.RFC3339, *body.CompletedAt)
	}
	if run.Status == "completed" && run.CompletedAt.IsZero() {
		run.CompletedAt = now
	}
	if o := body.Output; o != nil {
		run.Title, run.Summary, run.Text = str(o.Title), str(o.Summary), str(o.Text)
		run.Annotations = append(run.Annotations, o.Annotations...)
	}
	return ""
}

func (s *Server) createCheckRun(w http.ResponseWriter, r *http.Request) {
	rs, ok := s.lookupRepo(r)
	if !ok {
		notFound(w)
		return
	}
	var body checkRunBody
	raw, ok := readBody(w, r, &body)
	if !ok {
		return
	}
	if body.Name == nil || *body.Name == "" || body.HeadSHA == nil || !reHexSHA().MatchString(*body.HeadSHA) {
		unprocessable(w, "name and a 40 hex digit head_sha are required")
		return
	}
	now := s.cfg.now().UTC().Truncate(time.Second)
	run := &CheckRun{HeadSHA: strings.ToLower(*body.HeadSHA), Status: "queued", StartedAt: now, AppSlug: actionsApp}
	if msg := body.apply(run, now); msg != "" {
		unprocessable(w, msg)
		return
	}
	run.Writes = []json.RawMessage{raw}
	s.mu.Lock()
	cs := s.checksLocked(rs.repo.Owner, rs.repo.Name)
	cs.nextID++
	run.ID = cs.nextID
	cs.runs = append(cs.runs, run)
	out := s.checkRunJSON(rs.repo, *run)
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) updateCheckRun(w http.ResponseWriter, r *http.Request) {
	rs, ok := s.lookupRepo(r)
	if !ok {
		notFound(w)
		return
	}
	id, err := strconv.ParseInt(r.PathValue("check_run_id"), 10, 64)
	if err != nil {
		notFound(w)
		return
	}
	var body checkRunBody
	raw, ok := readBody(w, r, &body)
	if !ok {
		return
	}
	if body.HeadSHA != nil {
		unprocessable(w, "head_sha cannot be updated")
		return
	}
	status, out := s.patchCheckRun(rs.repo, id, &body, raw)
	writeJSON(w, status, out)
}

// patchCheckRun applies an update under the lock and returns the answer.
func (s *Server) patchCheckRun(rp Repository, id int64, body *checkRunBody, raw []byte) (int, any) {
	now := s.cfg.now().UTC().Truncate(time.Second)
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.checksLocked(rp.Owner, rp.Name)
	var run *CheckRun
	for _, cr := range cs.runs {
		if cr.ID == id {
			run = cr
		}
	}
	errBody := func(status int, msg string) (int, any) {
		return status, map[string]string{"message": msg, "documentation_url": "https://docs.github.com/rest/checks/runs", "status": strconv.Itoa(status)}
	}
	if run == nil {
		return errBody(http.StatusNotFound, "Not Found")
	}
	if run.AppSlug != actionsApp {
		return errBody(http.StatusForbidden, "Invalid app_id `"+actionsApp+"` - check run can only be modified by the GitHub App that created it.")
	}
	next := *run
	next.Annotations = slices.Clone(run.Annotations)
	if msg := body.apply(&next, now); msg != "" {
		return errBody(http.StatusUnprocessableEntity, "Validation Failed: "+msg)
	}
	next.Writes = append(slices.Clone(run.Writes), raw)
	*run = next
	return http.StatusOK, s.checkRunJSON(rp, *run)
}

func (s *Server) listCheckRuns(w http.ResponseWriter, r *http.Request) {
	rs, ok := s.lookupRepo(r)
	if !ok {
		notFound(w)
		return
	}
	ref := strings.ToLower(r.PathValue("ref"))
	name := r.URL.Query().Get("check_name")
	s.mu.Lock()
	var match []CheckRun
	for _, cr := range s.checksLocked(rs.repo.Owner, rs.repo.Name).runs {
		if cr.HeadSHA == ref && (name == "" || cr.Name == name) {
			match = append(match, *cr)
		}
	}
	s.mu.Unlock()
	slices.Reverse(match) // newest first
	lo, hi := s.paginate(w, r, len(match))
	runs := make([]any, 0, hi-lo)
	for _, cr := range match[lo:hi] {
		runs = append(runs, s.checkRunJSON(rs.repo, cr))
	}
	writeJSON(w, http.StatusOK, map[string]any{"total_count": len(match), "check_runs": runs})
}

func (s *Server) listAnnotations(w http.ResponseWriter, r *http.Request) {
	rs, ok := s.lookupRepo(r)
	if !ok {
		notFound(w)
		return
	}
	id, _ := strconv.ParseInt(r.PathValue("check_run_id"), 10, 64)
	var anns []CheckAnnotation
	found := false
	s.mu.Lock()
	for _, cr := range s.checksLocked(rs.repo.Owner, rs.repo.Name).runs {
		if cr.ID == id {
			anns, found = slices.Clone(cr.Annotations), true
		}
	}
	s.mu.Unlock()
	if !found {
		notFound(w)
		return
	}
	lo, hi := s.paginate(w, r, len(anns))
	full := url.PathEscape(rs.repo.Owner) + "/" + url.PathEscape(rs.repo.Name)
	out := make([]any, 0, hi-lo)
	for _, a := range anns[lo:hi] {
		nullable := func(v string) any {
			if v == "" {
				return nil
			}
			return v
		}
		out = append(out, map[string]any{
			"path": a.Path, "start_line": a.StartLine, "end_line": a.EndLine, "start_column": nil, "end_column": nil,
			"annotation_level": a.Level, "title": nullable(a.Title), "message": a.Message, "raw_details": nullable(a.RawDetails),
			"blob_href": s.URL() + "/" + full + "/blob/HEAD/" + a.Path,
		})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) checkRunJSON(rp Repository, cr CheckRun) map[string]any {
	full := url.PathEscape(rp.Owner) + "/" + url.PathEscape(rp.Name)
	api := s.APIURL() + "/repos/" + full + "/check-runs/" + strconv.FormatInt(cr.ID, 10)
	nullable := func(v string) any {
		if v == "" {
			return nil
		}
		return v
	}
	ts := func(t time.Time) any {
		if t.IsZero() {
			return nil
		}
		return ghTime(t)
	}
	appID := stableID("app", cr.AppSlug)
	return map[string]any{
		"id":           cr.ID,
		"node_id":      nodeID("08:CheckRun", cr.ID),
		"head_sha":     cr.HeadSHA,
		"name":         cr.Name,
		"external_id":  cr.ExternalID,
		"url":          api,
		"html_url":     s.URL() + "/" + full + "/runs/" + strconv.FormatInt(cr.ID, 10),
		"details_url":  nullable(cr.DetailsURL),
		"status":       cr.Status,
		"conclusion":   nullable(cr.Conclusion),
		"started_at":   ts(cr.StartedAt),
		"completed_at": ts(cr.CompletedAt),
		"output": map[string]any{
			"title": nullable(cr.Title), "summary": nullable(cr.Summary), "text": nullable(cr.Text),
			"annotations_count": len(cr.Annotations), "annotations_url": api + "/annotations",
		},
		"check_suite": map[string]any{"id": stableID("suite", full, cr.HeadSHA)},
		"app": map[string]any{
			"id": appID, "slug": cr.AppSlug, "node_id": nodeID("03:Integration", appID),
			"owner": s.userJSON("github", 9919, "Organization"), "name": "GitHub Actions", "description": "Automate your workflow",
			"external_url": "https://help.github.com/en/actions", "html_url": s.URL() + "/apps/" + url.PathEscape(cr.AppSlug),
			"created_at": "2018-07-30T09:30:17Z", "updated_at": "2019-12-10T19:04:12Z",
			"permissions": map[string]any{"checks": "write", "metadata": "read", "statuses": "write"},
			"events":      []any{"check_run", "pull_request"},
		},
		"pull_requests": []any{},
	}
}

func (s *Server) createStatus(w http.ResponseWriter, r *http.Request) {
	rs, ok := s.lookupRepo(r)
	if !ok {
		notFound(w)
		return
	}
	sha := r.PathValue("sha")
	var body struct {
		State       *string `json:"state"`
		TargetURL   *string `json:"target_url"`
		Description *string `json:"description"`
		Context     *string `json:"context"`
	}
	if _, ok := readBody(w, r, &body); !ok {
		return
	}
	if !reHexSHA().MatchString(sha) {
		unprocessable(w, "No commit found for SHA: "+sha)
		return
	}
	if body.State == nil || !slices.Contains([]string{"error", "failure", "pending", "success"}, *body.State) {
		unprocessable(w, "state is not included in the list")
		return
	}
	st := CommitStatus{SHA: strings.ToLower(sha), State: *body.State, Context: "default", CreatedAt: s.cfg.now().UTC().Truncate(time.Second)}
	if body.Context != nil {
		st.Context = *body.Context
	}
	if body.TargetURL != nil {
		st.TargetURL = *body.TargetURL
	}
	if body.Description != nil {
		st.Description = *body.Description
	}
	if utf8.RuneCountInString(st.Description) > 140 {
		unprocessable(w, "description is too long (maximum is 140 characters)")
		return
	}
	s.mu.Lock()
	cs := s.checksLocked(rs.repo.Owner, rs.repo.Name)
	cs.nextID++
	st.ID = cs.nextID
	cs.statuses = append(cs.statuses, st)
	s.mu.Unlock()
	full := url.PathEscape(rs.repo.Owner) + "/" + url.PathEscape(rs.repo.Name)
	nullable := func(v string) any {
		if v == "" {
			return nil
		}
		return v
	}
	writeJSON(w, http.StatusCreated, map[string]any{
		"url":         s.APIURL() + "/repos/" + full + "/statuses/" + st.SHA,
		"avatar_url":  s.URL() + "/avatars/u/41898282",
		"id":          st.ID,
		"node_id":     nodeID("013:StatusContext", st.ID),
		"state":       st.State,
		"description": nullable(st.Description),
		"target_url":  nullable(st.TargetURL),
		"context":     st.Context,
		"created_at":  ghTime(st.CreatedAt),
		"updated_at":  ghTime(st.CreatedAt),
		"creator":     s.userJSON("github-actions[bot]", 41898282, "Bot"),
	})
}

func (s *Server) listPullFiles(w http.ResponseWriter, r *http.Request) {
	rs, pr, ok := s.lookupPull(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	files := slices.Clone(s.checksLocked(rs.repo.Owner, rs.repo.Name).files[pr.Number])
	s.mu.Unlock()
	// GitHub lists at most 3000 files of a pull request.
	files = files[:min(len(files), 3000)]
	lo, hi := s.paginate(w, r, len(files))
	full := url.PathEscape(rs.repo.Owner) + "/" + url.PathEscape(rs.repo.Name)
	out := make([]any, 0, hi-lo)
	for _, f := range files[lo:hi] {
		status := f.Status
		if status == "" {
			status = "modified"
		}
		blob := stableSHA("blob", f.Filename, pr.HeadSHA)
		m := map[string]any{
			"sha":          blob,
			"filename":     f.Filename,
			"status":       status,
			"additions":    1,
			"deletions":    1,
			"changes":      2,
			"blob_url":     s.URL() + "/" + full + "/blob/" + pr.HeadSHA + "/" + f.Filename,
			"raw_url":      s.URL() + "/" + full + "/raw/" + pr.HeadSHA + "/" + f.Filename,
			"contents_url": s.APIURL() + "/repos/" + full + "/contents/" + f.Filename + "?ref=" + pr.HeadSHA,
			"patch":        "@@ -1 +1 @@",
		}
		if f.PreviousFilename != "" {
			m["previous_filename"] = f.PreviousFilename
		}
		out = append(out, m)
	}
	writeJSON(w, http.StatusOK, out)
}

// pullFileCount is how many files pull request number changes, for the
// pull request's changed_files.
func (s *Server) pullFileCount(owner, repo string, number int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.checksLocked(owner, repo).files[number])
}

func (s *Server) getGitCommit(w http.ResponseWriter, r *http.Request) {
	rs, ok := s.lookupRepo(r)
	if !ok {
		notFound(w)
		return
	}
	sha := strings.ToLower(r.PathValue("commit_sha"))
	s.mu.Lock()
	parents, known := s.checksLocked(rs.repo.Owner, rs.repo.Name).commits[sha]
	s.mu.Unlock()
	if !known {
		for _, pr := range rs.pulls {
			switch sha {
			case strings.ToLower(pr.MergeCommitSHA):
				parents, known = []string{pr.BaseSHA, pr.HeadSHA}, true
			case strings.ToLower(pr.HeadSHA):
				parents, known = []string{pr.BaseSHA}, true
			}
		}
	}
	if !known || !reHexSHA().MatchString(sha) {
		notFound(w)
		return
	}
	full := url.PathEscape(rs.repo.Owner) + "/" + url.PathEscape(rs.repo.Name)
	api := s.APIURL() + "/repos/" + full + "/git/commits/"
	ps := make([]any, 0, len(parents))
	for _, p := range parents {
		ps = append(ps, map[string]any{"sha": p, "url": api + p, "html_url": s.URL() + "/" + full + "/commit/" + p})
	}
	person := map[string]any{"name": "octo-dev", "email": "octo-dev@example.com", "date": "2026-01-01T00:00:00Z"}
	writeJSON(w, http.StatusOK, map[string]any{
		"sha": sha, "node_id": nodeID("06:Commit", int64(len(sha))), "url": api + sha, "html_url": s.URL() + "/" + full + "/commit/" + sha,
		"author": person, "committer": person, "message": "Merge into base",
		"tree":         map[string]any{"sha": stableSHA("tree", sha), "url": s.APIURL() + "/repos/" + full + "/git/trees/" + stableSHA("tree", sha)},
		"parents":      ps,
		"verification": map[string]any{"verified": false, "reason": "unsigned", "signature": nil, "payload": nil, "verified_at": nil},
	})
}
