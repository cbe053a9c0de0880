package ghapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/go-github/v62/github"

	"github.com/airlock-dev/airlock/internal/fault"
)

// Limits GitHub documents for check runs and commit statuses. Requests over
// them are refused here, before they are sent: GitHub answers 422, and a
// half-published check is worse than a clear local error.
const (
	// MaxAnnotationsPerRequest is the most annotations one create or update
	// may carry; more go in further updates, which GitHub appends.
	MaxAnnotationsPerRequest = 50
	// MaxCheckRunText bounds output.summary and output.text (characters).
	MaxCheckRunText = 65535
	// MaxAnnotationMessage bounds an annotation's message and raw_details (bytes).
	MaxAnnotationMessage = 64 * 1024
	// MaxAnnotationTitle bounds an annotation's title (characters).
	MaxAnnotationTitle = 255
	// MaxStatusDescription bounds a commit status description (characters).
	MaxStatusDescription = 140
	// maxPullRequestFiles is what GitHub lists at most for a pull request.
	maxPullRequestFiles = 3000
)

// Annotation levels.
const (
	AnnotationNotice  = "notice"
	AnnotationWarning = "warning"
	AnnotationFailure = "failure"
)

// Check run conclusions airlock sets.
const (
	ConclusionSuccess        = "success"
	ConclusionFailure        = "failure"
	ConclusionActionRequired = "action_required"
	ConclusionNeutral        = "neutral"
)

// Check run statuses airlock sets.
const (
	CheckInProgress = "in_progress"
	CheckCompleted  = "completed"
)

// Annotation points a finding at lines of a file in the check run's commit.
type Annotation struct {
	Path       string `json:"path"`
	StartLine  int    `json:"start_line"`
	EndLine    int    `json:"end_line"`
	Level      string `json:"annotation_level"`
	Title      string `json:"title,omitempty"`
	Message    string `json:"message"`
	RawDetails string `json:"raw_details,omitempty"`
}

// CheckRunOutput is a check run's report: title and summary are required.
type CheckRunOutput struct {
	Title       string       `json:"title"`
	Summary     string       `json:"summary"`
	Text        string       `json:"text,omitempty"`
	Annotations []Annotation `json:"annotations,omitempty"`
}

// CheckRunRequest is the body of a create or an update. HeadSHA is for
// create only. Times are sent in UTC to the second, as GitHub documents.
type CheckRunRequest struct {
	Name        string          `json:"name,omitempty"`
	HeadSHA     string          `json:"head_sha,omitempty"`
	DetailsURL  string          `json:"details_url,omitempty"`
	ExternalID  string          `json:"external_id,omitempty"`
	Status      string          `json:"status,omitempty"`
	Conclusion  string          `json:"conclusion,omitempty"`
	StartedAt   *time.Time      `json:"started_at,omitempty"`
	CompletedAt *time.Time      `json:"completed_at,omitempty"`
	Output      *CheckRunOutput `json:"output,omitempty"`
}

// CheckRun is what GitHub says about a check run.
type CheckRun struct {
	ID         int64
	Name       string
	HeadSHA    string
	Status     string
	Conclusion string // "" while not completed
	HTMLURL    string
	// AnnotationsCount is how many annotations the run carries: updates
	// append to them, so a run with annotations cannot be cleaned.
	AnnotationsCount int
	// AppSlug names the GitHub App that owns the run ("github-actions" for
	// the job's GITHUB_TOKEN); only that app may update it.
	AppSlug string
}

var reSHA = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9a-fA-F]{40}([0-9a-fA-F]{24})?$`) })

func checkSHA(what, sha string) error {
	if !reSHA().MatchString(sha) {
		return fault.Usagef("%s: expected a 40 or 64 hex digit commit SHA, got %q", what, truncate(sha, 80))
	}
	return nil
}

// validate refuses what GitHub would refuse, naming the field.
func (r CheckRunRequest) validate(create bool) error {
	if create {
		if strings.TrimSpace(r.Name) == "" {
			return fault.Usagef("check run: name is required")
		}
		if err := checkSHA("check run head_sha", r.HeadSHA); err != nil {
			return err
		}
	} else if r.HeadSHA != "" {
		return fault.Usagef("check run update: head_sha cannot change")
	}
	switch r.Status {
	case "", "queued", CheckInProgress, CheckCompleted:
	default:
		return fault.Usagef("check run: status %q: expected queued, in_progress or completed", r.Status)
	}
	switch r.Conclusion {
	case "":
		if r.Status == CheckCompleted || r.CompletedAt != nil {
			return fault.Usagef("check run: a completed run needs a conclusion")
		}
	case ConclusionSuccess, ConclusionFailure, ConclusionActionRequired, ConclusionNeutral, "cancelled", "skipped", "timed_out":
		if r.Status != "" && r.Status != CheckCompleted {
			return fault.Usagef("check run: conclusion %q with status %q: a conclusion completes the run", r.Conclusion, r.Status)
		}
	default:
		return fault.Usagef("check run: conclusion %q is not one GitHub accepts", r.Conclusion)
	}
	if r.Conclusion == ConclusionActionRequired && r.DetailsURL == "" {
		return fault.Usagef("check run: conclusion action_required needs a details_url (GitHub links the required action there)")
	}
	if o := r.Output; o != nil {
		if strings.TrimSpace(o.Title) == "" || strings.TrimSpace(o.Summary) == "" {
			return fault.Usagef("check run output: title and summary are required")
		}
		if n := utf8.RuneCountInString(o.Summary); n > MaxCheckRunText {
			return fault.Usagef("check run output: summary has %d characters, more than %d", n, MaxCheckRunText)
		}
		if n := utf8.RuneCountInString(o.Text); n > MaxCheckRunText {
			return fault.Usagef("check run output: text has %d characters, more than %d", n, MaxCheckRunText)
		}
		if len(o.Annotations) > MaxAnnotationsPerRequest {
			return fault.Usagef("check run output: %d annotations, more than the %d GitHub takes per request", len(o.Annotations), MaxAnnotationsPerRequest)
		}
		for i, a := range o.Annotations {
			if err := a.validate(); err != nil {
				return fault.Usagef("check run output: annotations[%d]: %w", i, err)
			}
		}
	}
	return nil
}

func (a Annotation) validate() error {
	switch {
	case a.Path == "" || strings.HasPrefix(a.Path, "/") || strings.Contains(a.Path, "\\"):
		return fmt.Errorf("path %q: expected a path relative to the repository root", a.Path)
	case a.StartLine < 1 || a.EndLine < a.StartLine:
		return fmt.Errorf("lines %d-%d: expected 1 <= start_line <= end_line", a.StartLine, a.EndLine)
	case a.Level != AnnotationNotice && a.Level != AnnotationWarning && a.Level != AnnotationFailure:
		return fmt.Errorf("annotation_level %q: expected notice, warning or failure", a.Level)
	case strings.TrimSpace(a.Message) == "":
		return errors.New("message is required")
	case len(a.Message) > MaxAnnotationMessage || len(a.RawDetails) > MaxAnnotationMessage:
		return fmt.Errorf("message or raw_details larger than %d bytes", MaxAnnotationMessage)
	case utf8.RuneCountInString(a.Title) > MaxAnnotationTitle:
		return fmt.Errorf("title longer than %d characters", MaxAnnotationTitle)
	}
	return nil
}

// CreateCheckRun creates a check run on req.HeadSHA
// (POST /repos/{owner}/{repo}/check-runs). A 403 is a *ForbiddenError: the
// token lacks checks: write, which a caller may answer with a commit status.
func (c *Client) CreateCheckRun(ctx context.Context, owner, repo string, req CheckRunRequest) (*CheckRun, error) {
	p, err := repoPath(owner, repo)
	if err != nil {
		return nil, err
	}
	if err := req.validate(true); err != nil {
		return nil, err
	}
	// Not retried after no answer or a 5xx: each create makes another run.
	o := op{resource: fmt.Sprintf("check run %q on %s of %s/%s", req.Name, truncate(req.HeadSHA, 12), owner, repo), permission: "checks: write", method: http.MethodPost}
	body, err := c.send(ctx, o, func() (*http.Request, error) {
		return c.gh.NewRequest(http.MethodPost, p+"/check-runs", req)
	}, nil)
	if err != nil {
		return nil, err
	}
	return decodeCheckRun(o, body)
}

// UpdateCheckRun updates check run id
// (PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}). Annotations in
// the request are appended to the run's.
func (c *Client) UpdateCheckRun(ctx context.Context, owner, repo string, id int64, req CheckRunRequest) (*CheckRun, error) {
	p, err := repoPath(owner, repo)
	if err != nil {
		return nil, err
	}
	if id <= 0 {
		return nil, fault.Usagef("check run id: expected > 0, got %d", id)
	}
	if err := req.validate(false); err != nil {
		return nil, err
	}
	o := op{resource: fmt.Sprintf("check run %d of %s/%s", id, owner, repo), permission: "checks: write", method: http.MethodPatch}
	if req.Output == nil || len(req.Output.Annotations) == 0 {
		// The fields an update sets are state, not increments: sent twice
		// they leave the run as sent once. Annotations are appended, so an
		// update carrying them is not retried once it may have arrived.
		o.retryPOST = "an update without annotations sets state"
	}
	body, err := c.send(ctx, o, func() (*http.Request, error) {
		return c.gh.NewRequest(http.MethodPatch, p+"/check-runs/"+strconv.FormatInt(id, 10), req)
	}, nil)
	if err != nil {
		return nil, err
	}
	run, err := decodeCheckRun(o, body)
	if err == nil && run.ID != id {
		return nil, fault.Operationalf("%s %s: expected check run id %d in the response, got %d", o.verb(), o.resource, id, run.ID)
	}
	return run, err
}

// CheckRunsForRef lists the check runs named name on ref
// (GET /repos/{owner}/{repo}/commits/{ref}/check-runs?check_name=…&filter=all),
// every page, so that a re-run can find the run an earlier attempt created.
func (c *Client) CheckRunsForRef(ctx context.Context, owner, repo, ref, name string) ([]CheckRun, error) {
	p, err := repoPath(owner, repo)
	if err != nil {
		return nil, err
	}
	if err := checkSHA("check runs ref", ref); err != nil {
		return nil, err
	}
	if strings.TrimSpace(name) == "" {
		return nil, fault.Usagef("check runs: name is required")
	}
	o := op{resource: fmt.Sprintf("check runs %q on %s of %s/%s", name, truncate(ref, 12), owner, repo), permission: "checks: read"}
	q := url.Values{"check_name": {name}, "filter": {"all"}, "per_page": {"100"}}
	out := []CheckRun{}
	err = c.pages(ctx, o, p+"/commits/"+ref+"/check-runs?"+q.Encode(), func(body []byte) error {
		var w struct {
			TotalCount *int              `json:"total_count"`
			CheckRuns  []json.RawMessage `json:"check_runs"`
		}
		if err := decodeStrict(body, &w); err != nil {
			return fmt.Errorf("decode check runs: %w", err)
		}
		if w.TotalCount == nil || w.CheckRuns == nil {
			return errors.New("decode check runs: expected total_count and check_runs")
		}
		for i, raw := range w.CheckRuns {
			run, err := checkRunFrom(raw)
			if err != nil {
				return fmt.Errorf("check_runs[%d]: %w", i, err)
			}
			// check_name filters server side; a run of another name in the
			// answer is not one airlock may take as its own.
			if run.Name == name {
				out = append(out, *run)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// CheckRunAnnotations lists a check run's annotations
// (GET /repos/{owner}/{repo}/check-runs/{check_run_id}/annotations), every
// page: an update appends, so a caller compares before it updates.
func (c *Client) CheckRunAnnotations(ctx context.Context, owner, repo string, id int64) ([]Annotation, error) {
	p, err := repoPath(owner, repo)
	if err != nil {
		return nil, err
	}
	if id <= 0 {
		return nil, fault.Usagef("check run id: expected > 0, got %d", id)
	}
	o := op{resource: fmt.Sprintf("annotations of check run %d of %s/%s", id, owner, repo), permission: "checks: read"}
	out := []Annotation{}
	err = c.pages(ctx, o, p+"/check-runs/"+strconv.FormatInt(id, 10)+"/annotations?per_page=100", func(body []byte) error {
		var ws []*github.CheckRunAnnotation
		if err := decodeArray(body, &ws); err != nil {
			return fmt.Errorf("decode annotations: %w", err)
		}
		for i, w := range ws {
			if w == nil || w.GetPath() == "" || w.GetStartLine() < 1 || w.GetAnnotationLevel() == "" {
				return fmt.Errorf("decode annotations: entry %d: expected path, start_line and annotation_level", i)
			}
			out = append(out, Annotation{
				Path: w.GetPath(), StartLine: w.GetStartLine(), EndLine: w.GetEndLine(), Level: w.GetAnnotationLevel(),
				Title: w.GetTitle(), Message: w.GetMessage(), RawDetails: w.GetRawDetails(),
			})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func decodeCheckRun(o op, body []byte) (*CheckRun, error) {
	run, err := checkRunFrom(body)
	if err != nil {
		return nil, fault.Operationalf("%s %s: %w", o.verb(), o.resource, err)
	}
	return run, nil
}

func checkRunFrom(body []byte) (*CheckRun, error) {
	var w github.CheckRun
	if err := decodeStrict(body, &w); err != nil {
		return nil, fmt.Errorf("decode check run: %w", err)
	}
	if w.GetID() <= 0 || w.GetName() == "" || w.GetHeadSHA() == "" || w.GetStatus() == "" {
		return nil, errors.New("decode check run: expected id, name, head_sha and status")
	}
	return &CheckRun{
		ID: w.GetID(), Name: w.GetName(), HeadSHA: w.GetHeadSHA(), Status: w.GetStatus(), Conclusion: w.GetConclusion(),
		HTMLURL: w.GetHTMLURL(), AnnotationsCount: w.GetOutput().GetAnnotationsCount(), AppSlug: w.GetApp().GetSlug(),
	}, nil
}

// Commit status states.
const (
	StatusSuccess = "success"
	StatusFailure = "failure"
	StatusPending = "pending"
	StatusError   = "error"
)

// CommitStatus is one status on a commit; Context names it (statuses of
// the same context replace each other).
type CommitStatus struct {
	State       string `json:"state"`
	TargetURL   string `json:"target_url,omitempty"`
	Description string `json:"description,omitempty"`
	Context     string `json:"context"`
}

// CreateCommitStatus sets a status on sha
// (POST /repos/{owner}/{repo}/statuses/{sha}); it needs statuses: write.
func (c *Client) CreateCommitStatus(ctx context.Context, owner, repo, sha string, s CommitStatus) error {
	p, err := repoPath(owner, repo)
	if err != nil {
		return err
	}
	if err := checkSHA("commit status sha", sha); err != nil {
		return err
	}
	switch s.State {
	case StatusSuccess, StatusFailure, StatusPending, StatusError:
	default:
		return fault.Usagef("commit status: state %q: expected success, failure, pending or error", s.State)
	}
	if strings.TrimSpace(s.Context) == "" {
		return fault.Usagef("commit status: context is required")
	}
	if n := utf8.RuneCountInString(s.Description); n > MaxStatusDescription {
		return fault.Usagef("commit status: description has %d characters, more than %d", n, MaxStatusDescription)
	}
	o := op{resource: fmt.Sprintf("commit status %q on %s of %s/%s", s.Context, truncate(sha, 12), owner, repo), permission: "statuses: write", method: http.MethodPost}
	// GitHub keeps every status but judges a commit by the latest one per
	// context: the same status posted twice has the effect of once.
	o.retryPOST = "the latest status per context counts"
	body, err := c.send(ctx, o, func() (*http.Request, error) {
		return c.gh.NewRequest(http.MethodPost, p+"/statuses/"+sha, s)
	}, nil)
	if err != nil {
		return err
	}
	var w github.RepoStatus
	if err := decodeStrict(body, &w); err != nil {
		return fault.Operationalf("post %s: decode: %w", o.resource, err)
	}
	if w.GetID() <= 0 || w.GetState() != s.State || w.GetContext() != s.Context {
		return fault.Operationalf("post %s: expected id, state %q and context %q in the response, got %d, %q, %q", o.resource, s.State, s.Context, w.GetID(), w.GetState(), w.GetContext())
	}
	return nil
}

// PullRequestFile is one file a pull request changes.
type PullRequestFile struct {
	Filename string
	// Status: added, removed, modified, renamed, copied, changed, unchanged.
	Status string
	// PreviousFilename is the old name of a renamed file.
	PreviousFilename string
}

// PullRequestFiles lists the files a pull request changes
// (GET /repos/{owner}/{repo}/pulls/{pull_number}/files), every page. GitHub
// lists at most 3000 files: a caller compares the count with
// PullRequest.ChangedFiles and never takes a truncated list as the whole.
func (c *Client) PullRequestFiles(ctx context.Context, owner, repo string, number int) ([]PullRequestFile, error) {
	p, err := repoPath(owner, repo)
	if err != nil {
		return nil, err
	}
	if number <= 0 {
		return nil, fault.Usagef("pull request number: expected > 0, got %d", number)
	}
	o := op{resource: fmt.Sprintf("files of pull request #%d of %s/%s", number, owner, repo), permission: "pull-requests: read"}
	out := []PullRequestFile{}
	err = c.pages(ctx, o, p+"/pulls/"+strconv.Itoa(number)+"/files?per_page=100", func(body []byte) error {
		var ws []*github.CommitFile
		if err := decodeArray(body, &ws); err != nil {
			return fmt.Errorf("decode pull request files: %w", err)
		}
		for i, w := range ws {
			if w == nil || w.GetFilename() == "" || w.GetStatus() == "" {
				return fmt.Errorf("decode pull request files: entry %d: expected filename and status", i)
			}
			out = append(out, PullRequestFile{Filename: w.GetFilename(), Status: w.GetStatus(), PreviousFilename: w.GetPreviousFilename()})
		}
		if len(out) > maxPullRequestFiles {
			return fmt.Errorf("more than the %d files GitHub lists", maxPullRequestFiles)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// GitCommit is a commit object: its SHA and its parents, in order.
type GitCommit struct {
	SHA     string
	Parents []string
}

// GitCommit fetches GET /repos/{owner}/{repo}/git/commits/{commit_sha}. The
// merge commit GitHub builds for a pull request (the ref refs/pull/N/merge a
// pull_request run checks out) has the base as its first parent and the
// head as its second: that ties a run to the exact head it tested.
func (c *Client) GitCommit(ctx context.Context, owner, repo, sha string) (*GitCommit, error) {
	p, err := repoPath(owner, repo)
	if err != nil {
		return nil, err
	}
	if err := checkSHA("commit sha", sha); err != nil {
		return nil, err
	}
	o := op{resource: fmt.Sprintf("commit %s of %s/%s", sha, owner, repo), permission: "contents: read"}
	body, _, err := c.get(ctx, o, p+"/git/commits/"+sha)
	if err != nil {
		return nil, err
	}
	var w github.Commit
	if err := decodeStrict(body, &w); err != nil {
		return nil, fault.Operationalf("get %s: decode: %w", o.resource, err)
	}
	if !strings.EqualFold(w.GetSHA(), sha) {
		return nil, fault.Operationalf("get %s: expected sha %q, got %q", o.resource, sha, truncate(w.GetSHA(), 80))
	}
	out := &GitCommit{SHA: w.GetSHA(), Parents: []string{}}
	for i, pc := range w.Parents {
		if pc == nil || !reSHA().MatchString(pc.GetSHA()) {
			return nil, fault.Operationalf("get %s: parents[%d]: expected a commit SHA", o.resource, i)
		}
		out.Parents = append(out.Parents, pc.GetSHA())
	}
	return out, nil
}
