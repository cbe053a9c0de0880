package ghapi_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/ghapi"
	"github.com/airlock-dev/airlock/internal/githubsim"
)

const headSHA = "0123456789abcdef0123456789abcdef01234567"

func ann(i int) ghapi.Annotation {
	return ghapi.Annotation{Path: "agent/production.yaml", StartLine: i + 1, EndLine: i + 1, Level: ghapi.AnnotationFailure, Title: "airlock C2", Message: fmt.Sprintf("finding %d", i)}
}

func completed(conclusion string, annotations ...ghapi.Annotation) ghapi.CheckRunRequest {
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	return ghapi.CheckRunRequest{
		Name: "airlock / promotion", HeadSHA: headSHA, DetailsURL: "https://github.com/octo/repo/actions/runs/1",
		Status: ghapi.CheckCompleted, Conclusion: conclusion, StartedAt: &now, CompletedAt: &now,
		Output: &ghapi.CheckRunOutput{Title: "denied", Summary: "## airlock", Annotations: annotations},
	}
}

func TestCheckRunsAgainstSimulator(t *testing.T) {
	f := setup(t)
	ctx := t.Context()
	runs, err := f.client.CheckRunsForRef(ctx, "octo", "repo", headSHA, "airlock / promotion")
	if err != nil || len(runs) != 0 {
		t.Fatalf("no runs yet: got %v, %v", runs, err)
	}
	run, err := f.client.CreateCheckRun(ctx, "octo", "repo", completed(ghapi.ConclusionFailure, ann(0), ann(1)))
	if err != nil {
		t.Fatal(err)
	}
	if run.ID <= 0 || run.Conclusion != "failure" || run.Status != "completed" || run.AnnotationsCount != 2 || run.AppSlug != "github-actions" || run.HeadSHA != headSHA {
		t.Errorf("created: %+v", run)
	}
	// Another check's run on the same commit is not listed.
	f.sim.AddCheckRun("octo", "repo", githubsim.CheckRun{Name: "lint", HeadSHA: headSHA, Status: "completed", Conclusion: "success"})
	runs, err = f.client.CheckRunsForRef(ctx, "octo", "repo", headSHA, "airlock / promotion")
	if err != nil || len(runs) != 1 || runs[0].ID != run.ID || runs[0].AnnotationsCount != 2 {
		t.Fatalf("list: got %+v, %v", runs, err)
	}
	// An update appends annotations, as GitHub does.
	up := completed(ghapi.ConclusionSuccess, ann(2))
	up.HeadSHA, up.Name = "", ""
	got, err := f.client.UpdateCheckRun(ctx, "octo", "repo", run.ID, up)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != run.ID || got.Conclusion != "success" || got.AnnotationsCount != 3 {
		t.Errorf("updated: %+v", got)
	}
	stored := f.sim.CheckRuns("octo", "repo")[0]
	if len(stored.Writes) != 2 || len(stored.Annotations) != 3 || stored.Annotations[2].Message != "finding 2" || stored.Summary != "## airlock" {
		t.Errorf("simulator state: %+v", stored)
	}

	// A run of another app cannot be updated: a 403 the caller can tell.
	other := f.sim.AddCheckRun("octo", "repo", githubsim.CheckRun{Name: "airlock / promotion", HeadSHA: headSHA, Status: "completed", Conclusion: "success", AppSlug: "impostor"})
	_, err = f.client.UpdateCheckRun(ctx, "octo", "repo", other, up)
	var fe *ghapi.ForbiddenError
	if !errors.As(err, &fe) || fe.Permission != "checks: write" {
		t.Errorf("other app's run: expected *ForbiddenError, got %v", err)
	}
	_, err = f.client.UpdateCheckRun(ctx, "octo", "repo", 999, up)
	var nf *ghapi.NotFoundError
	if !errors.As(err, &nf) {
		t.Errorf("unknown run: expected *NotFoundError, got %v", err)
	}
}

func TestCheckRunsWithoutChecksWrite(t *testing.T) {
	f := setup(t)
	f.sim.AddToken("ghs_nochecks", "contents:read", "pull-requests:read", "statuses:write")
	c, err := ghapi.New(f.sim.APIURL(), "ghs_nochecks", &http.Client{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateCheckRun(t.Context(), "octo", "repo", completed(ghapi.ConclusionSuccess))
	var fe *ghapi.ForbiddenError
	if !errors.As(err, &fe) || fe.Permission != "checks: write" || fault.KindOf(err) != fault.KindOperational {
		t.Fatalf("expected an operational *ForbiddenError naming checks: write, got %v", err)
	}
	_, err = c.CheckRunsForRef(t.Context(), "octo", "repo", headSHA, "airlock / promotion")
	if !errors.As(err, &fe) || fe.Permission != "checks: read" {
		t.Errorf("list: expected *ForbiddenError naming checks: read, got %v", err)
	}
	if err := c.CreateCommitStatus(t.Context(), "octo", "repo", headSHA, ghapi.CommitStatus{State: "pending", Context: "airlock/promotion", Description: "approval required"}); err != nil {
		t.Fatal(err)
	}
	st := f.sim.CommitStatuses("octo", "repo")
	if len(st) != 1 || st[0].State != "pending" || st[0].Context != "airlock/promotion" || st[0].SHA != headSHA {
		t.Errorf("statuses: %+v", st)
	}
}

// TestCheckRunRequestsRefusedLocally: what GitHub would answer 422 is
// refused before a request is made, naming the field.
func TestCheckRunRequestsRefusedLocally(t *testing.T) {
	f := setup(t)
	many := make([]ghapi.Annotation, 51)
	for i := range many {
		many[i] = ann(i)
	}
	long := completed(ghapi.ConclusionFailure)
	long.Output.Summary = strings.Repeat("é", ghapi.MaxCheckRunText+1)
	noDetails := completed(ghapi.ConclusionActionRequired)
	noDetails.DetailsURL = ""
	absPath := completed(ghapi.ConclusionFailure, ghapi.Annotation{Path: "/etc/passwd", StartLine: 1, EndLine: 1, Level: "failure", Message: "x"})
	badLines := completed(ghapi.ConclusionFailure, ghapi.Annotation{Path: "a.yaml", StartLine: 3, EndLine: 2, Level: "failure", Message: "x"})
	inProgress := completed(ghapi.ConclusionFailure)
	inProgress.Status = ghapi.CheckInProgress
	badSHA := completed(ghapi.ConclusionSuccess)
	badSHA.HeadSHA = "refs/heads/main"
	for name, tc := range map[string]struct {
		req  ghapi.CheckRunRequest
		want string
	}{
		"51 annotations":               {completed(ghapi.ConclusionFailure, many...), "51 annotations, more than the 50"},
		"summary too long":             {long, "summary has 65536 characters"},
		"action_required, no details":  {noDetails, "needs a details_url"},
		"absolute path":                {absPath, `path "/etc/passwd"`},
		"end before start":             {badLines, "lines 3-2"},
		"conclusion without completed": {inProgress, "a conclusion completes the run"},
		"head_sha not a SHA":           {badSHA, "commit SHA"},
	} {
		t.Run(name, func(t *testing.T) {
			before := len(f.sim.Requests())
			_, err := f.client.CreateCheckRun(t.Context(), "octo", "repo", tc.req)
			checkErr(t, err, fault.KindUsage, tc.want)
			if n := len(f.sim.Requests()); n != before {
				t.Errorf("a refused request was sent")
			}
		})
	}
	err := f.client.CreateCommitStatus(t.Context(), "octo", "repo", headSHA, ghapi.CommitStatus{State: "action_required", Context: "x"})
	checkErr(t, err, fault.KindUsage, `state "action_required"`)
	err = f.client.CreateCommitStatus(t.Context(), "octo", "repo", headSHA, ghapi.CommitStatus{State: "failure", Context: "x", Description: strings.Repeat("x", 141)})
	checkErr(t, err, fault.KindUsage, "141 characters")
}

func TestPullRequestFilesAndCommits(t *testing.T) {
	f := setup(t)
	merge := strings.Repeat("ab", 20)
	f.sim.SetPullRequest("octo", "repo", githubsim.PullRequest{Number: 7, MergeCommitSHA: merge})
	var files []githubsim.PullRequestFile
	for i := range 250 {
		files = append(files, githubsim.PullRequestFile{Filename: fmt.Sprintf("src/f%03d.go", i)})
	}
	files = append(files, githubsim.PullRequestFile{Filename: "agent/prod.yaml", Status: "renamed", PreviousFilename: "agent/production.yaml"})
	f.sim.SetPullRequestFiles("octo", "repo", 7, files...)

	got, err := f.client.PullRequestFiles(t.Context(), "octo", "repo", 7)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 251 || got[0].Filename != "src/f000.go" || got[0].Status != "modified" ||
		got[250] != (ghapi.PullRequestFile{Filename: "agent/prod.yaml", Status: "renamed", PreviousFilename: "agent/production.yaml"}) {
		t.Errorf("files: %d, first %+v, last %+v", len(got), got[0], got[len(got)-1])
	}
	pages := 0
	for _, r := range f.sim.Requests() {
		if r.OperationID == "pulls/list-files" {
			pages++
		}
	}
	if pages != 3 {
		t.Errorf("expected 3 pages of 100, got %d requests", pages)
	}
	pr, err := f.client.PullRequest(t.Context(), "octo", "repo", 7)
	if err != nil || pr.ChangedFiles != 251 || len(pr.BaseSHA) != 40 || pr.MergeCommitSHA != merge {
		t.Fatalf("pull request: %+v, %v", pr, err)
	}
	c, err := f.client.GitCommit(t.Context(), "octo", "repo", merge)
	if err != nil {
		t.Fatal(err)
	}
	if c.SHA != merge || len(c.Parents) != 2 || c.Parents[0] != pr.BaseSHA || c.Parents[1] != pr.HeadSHA {
		t.Errorf("merge commit: %+v (pull request %+v)", c, pr)
	}
	_, err = f.client.GitCommit(t.Context(), "octo", "repo", strings.Repeat("0", 40))
	var nf *ghapi.NotFoundError
	if !errors.As(err, &nf) {
		t.Errorf("unknown commit: expected *NotFoundError, got %v", err)
	}
}

// requestSchema returns the JSON schema of an operation's request body.
func requestSchema(t *testing.T, opID string) map[string]any {
	t.Helper()
	dir := realdata(t, "04-github-rest-api")
	b, err := os.ReadFile(filepath.Join(dir, "rest-ops-trimmed.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Operations []struct {
			OperationID string `json:"operationId"`
			RequestBody struct {
				Content map[string]struct {
					Schema map[string]any `json:"schema"`
				} `json:"content"`
			} `json:"requestBody"`
		} `json:"operations"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for _, o := range doc.Operations {
		if o.OperationID == opID {
			if s := o.RequestBody.Content["application/json"].Schema; s != nil {
				return s
			}
		}
	}
	t.Fatalf("%s: no application/json request schema in the description", opID)
	return nil
}

// TestContractCheckRequests: the bodies the client sends validate against
// GitHub's request schemas, and GitHub's response examples decode.
func TestContractCheckRequests(t *testing.T) {
	dir := realdata(t, filepath.Join("04-github-rest-api", "examples"))
	type seen struct{ method, path, body string }
	for _, tc := range []struct {
		opID, example string
		status        int
		call          func(c *ghapi.Client) (any, error)
		check         func(t *testing.T, got any)
	}{
		{"checks/create", "checks__create.201.example-of-completed-conclusion.json", 201,
			func(c *ghapi.Client) (any, error) {
				return c.CreateCheckRun(t.Context(), "github", "hello-world", completed(ghapi.ConclusionActionRequired, ann(0), ann(1)))
			},
			func(t *testing.T, got any) {
				r := got.(*ghapi.CheckRun)
				if r.ID != 4 || r.Name != "mighty_readme" || r.Conclusion != "neutral" || r.AnnotationsCount != 2 || r.AppSlug != "octoapp" || r.HTMLURL != "https://github.com/github/hello-world/runs/4" {
					t.Errorf("decoded %+v", r)
				}
			}},
		{"checks/create", "checks__create.201.example-of-in-progress-conclusion.json", 201,
			func(c *ghapi.Client) (any, error) {
				req := completed("")
				req.Status, req.CompletedAt = ghapi.CheckInProgress, nil
				return c.CreateCheckRun(t.Context(), "github", "hello-world", req)
			},
			func(t *testing.T, got any) {
				if r := got.(*ghapi.CheckRun); r.ID != 4 || r.Status != "in_progress" || r.Conclusion != "" {
					t.Errorf("decoded %+v", r)
				}
			}},
		{"checks/update", "checks__update.200.default.json", 200,
			func(c *ghapi.Client) (any, error) {
				req := completed(ghapi.ConclusionSuccess, ann(3))
				req.HeadSHA, req.Name = "", ""
				return c.UpdateCheckRun(t.Context(), "github", "hello-world", 4, req)
			},
			func(t *testing.T, got any) {
				if r := got.(*ghapi.CheckRun); r.ID != 4 || r.Status != "completed" {
					t.Errorf("decoded %+v", r)
				}
			}},
		{"repos/create-commit-status", "repos__create-commit-status.201.default.json", 201,
			func(c *ghapi.Client) (any, error) {
				return nil, c.CreateCommitStatus(t.Context(), "octocat", "Hello-World", headSHA, ghapi.CommitStatus{
					State: "success", Context: "continuous-integration/jenkins", Description: "not a promotion", TargetURL: "https://ci.example.com/1000/output"})
			},
			func(*testing.T, any) {}},
	} {
		t.Run(tc.example, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join(dir, tc.example))
			if err != nil {
				t.Fatal(err)
			}
			var got seen
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := readAll(r)
				got = seen{r.Method, r.URL.EscapedPath(), string(b)}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				_, _ = w.Write(body)
			}))
			defer srv.Close()
			c, err := ghapi.New(srv.URL+"/api/v3", secretToken, srv.Client())
			if err != nil {
				t.Fatal(err)
			}
			res, err := tc.call(c)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, res)
			if errs := checkSchema("$", requestSchema(t, tc.opID), decodeNumbers(t, []byte(got.body))); len(errs) > 0 {
				t.Errorf("request body violates the schema:\n  %s\nbody: %s", strings.Join(errs, "\n  "), got.body)
			}
		})
	}
}

// TestContractSimulatorCheckWrites: the simulator's answers to the check and
// status writes, and the check runs it lists, validate against GitHub's
// response schemas.
func TestContractSimulatorCheckWrites(t *testing.T) {
	_, ops := loadSpec(t)
	f := setup(t)
	f.sim.AddToken(contractToken, githubsim.DefaultJobPermissions...)
	raw := func(method, path, body string, want int) []byte {
		req, _ := http.NewRequestWithContext(t.Context(), method, f.sim.APIURL()+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+contractToken)
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := readAllResp(resp)
		if resp.StatusCode != want {
			t.Fatalf("%s %s: expected %d, got %d %s", method, path, want, resp.StatusCode, b)
		}
		return b
	}
	created := raw("POST", "/repos/octo/repo/check-runs", `{"name":"airlock / promotion","head_sha":"`+headSHA+`","status":"in_progress","output":{"title":"t","summary":"s","annotations":[{"path":"a.yaml","start_line":1,"end_line":1,"annotation_level":"failure","message":"m"}]}}`, 201)
	var id struct {
		ID int64 `json:"id"`
	}
	_ = json.Unmarshal(created, &id)
	updated := raw("PATCH", fmt.Sprintf("/repos/octo/repo/check-runs/%d", id.ID), `{"conclusion":"action_required","details_url":"https://example.com"}`, 200)
	status := raw("POST", "/repos/octo/repo/statuses/"+headSHA, `{"state":"pending","context":"airlock/promotion"}`, 201)
	list := raw("GET", "/repos/octo/repo/commits/"+headSHA+"/check-runs?check_name=airlock+%2F+promotion", "", 200)
	var listed struct {
		CheckRuns []json.RawMessage `json:"check_runs"`
	}
	if err := json.Unmarshal(list, &listed); err != nil || len(listed.CheckRuns) != 1 {
		t.Fatalf("list: %s", list)
	}
	for _, tc := range []struct {
		opID, status string
		body         []byte
	}{
		{"checks/create", "201", created},
		{"checks/update", "200", updated},
		{"checks/create", "201", listed.CheckRuns[0]}, // list items are check runs too
		{"repos/create-commit-status", "201", status},
	} {
		o := findOp(ops, tc.opID)
		schema, _ := o.responseSchema(t, tc.status)
		if schema == nil {
			t.Fatalf("%s: no %s schema", tc.opID, tc.status)
		}
		if errs := checkSchema("$", schema, decodeNumbers(t, tc.body)); len(errs) > 0 {
			t.Errorf("%s violates the schema:\n  %s\nbody: %.1500s", tc.opID, strings.Join(errs, "\n  "), tc.body)
		}
	}
	// GitHub's rules for writes hold in the simulator too.
	raw("POST", "/repos/octo/repo/check-runs", `{"name":"x","head_sha":"`+headSHA+`","status":"completed"}`, 422)
	raw("PATCH", fmt.Sprintf("/repos/octo/repo/check-runs/%d", id.ID), `{"output":{"title":"t","summary":"s","annotations":[`+strings.Repeat(`{"path":"a","start_line":1,"end_line":1,"annotation_level":"notice","message":"m"},`, 50)+`{"path":"a","start_line":1,"end_line":1,"annotation_level":"notice","message":"m"}]}}`, 422)
	raw("POST", "/repos/octo/repo/statuses/"+headSHA, `{"state":"action_required","context":"x"}`, 422)
}

func readAllResp(resp *http.Response) ([]byte, error) {
	var b strings.Builder
	_, err := io.Copy(&b, resp.Body)
	return []byte(b.String()), err
}
