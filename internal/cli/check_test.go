package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/airlock-dev/airlock/internal/githubsim"
)

// A promotion pull request #9 of acme/support-agent, checked by a
// pull_request run: the run's token names refs/pull/9/merge and the merge
// commit; the merge commit's parents are the base and the head.
const (
	checkPR      = 9
	checkHead    = "1111111111111111111111111111111111111111"
	checkBase    = "2222222222222222222222222222222222222222"
	checkMerge   = "3333333333333333333333333333333333333333"
	checkOldHead = "4444444444444444444444444444444444444444"
	credsPath    = "agent/qa-credentials.yaml"
	// The credential's entry starts on line 3 of the file.
	credsLine = 3
)

func credsFile(apiURL string) string {
	return "# QA credentials of the support agent: variable names, never secrets\n\n" +
		"- name: qa-deploy-token\n  kind: github-token\n  token-env: QA_GITHUB_TOKEN\n  api-url: " + apiURL + "\n" +
		"  declared-subject: qa-deploy-bot\n"
}

// newCheckRun is newRun played as a pull_request run of pull request #9,
// which changes the production manifest; the QA token is alive until the
// returned function revokes it.
func newCheckRun(t *testing.T) (*gateRun, func()) {
	t.Helper()
	r := newRun(t)
	r.claims["event_name"] = "pull_request"
	r.claims["ref"] = fmt.Sprintf("refs/pull/%d/merge", checkPR)
	r.claims["sha"] = checkMerge
	r.claims["sub"] = "repo:acme/support-agent:pull_request"
	r.claims["base_ref"] = "main"
	r.claims["head_ref"] = "promote-9"
	delete(r.claims, "environment")
	r.sim.SetPullRequest("acme", "support-agent", githubsim.PullRequest{
		Number: checkPR, HeadSHA: checkHead, BaseSHA: checkBase, MergeCommitSHA: checkMerge,
	})
	r.sim.SetPullRequestFiles("acme", "support-agent", checkPR,
		githubsim.PullRequestFile{Filename: "agent/production.yaml"}, githubsim.PullRequestFile{Filename: "README.md"})
	r.withManifestsAt(checkHead, "same")
	// The base ran an older model: this pull request changes model.version.
	prod, err := os.ReadFile(filepath.Join("..", "..", "testdata", "manifests", "same", "production.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	r.sim.SetFile("acme", "support-agent", checkBase, "agent/production.yaml", bytes.Replace(prod, []byte(`"2025-05-14"`), []byte(`"2024-10-22"`), 1))
	r.allowScopes()
	delete(r.env, "INPUT_PRODUCTION-IDENTITY") // the manifest's
	r.sim.AddToken(qaGitHubToken, "contents:read")
	r.env["QA_GITHUB_TOKEN"] = qaGitHubToken
	for _, sha := range []string{checkBase, checkHead} {
		r.sim.SetFile("acme", "support-agent", sha, credsPath, []byte(credsFile(r.sim.APIURL())))
	}
	r.env["INPUT_QA-CREDENTIALS"] = credsPath
	r.env["GITHUB_EVENT_NAME"] = "pull_request"
	r.env["GITHUB_REF"] = r.claims["ref"].(string)
	r.env["GITHUB_SHA"] = checkMerge
	r.env["GITHUB_SERVER_URL"] = "https://github.example"
	r.event(checkPR, checkHead)
	return r, func() { r.sim.RemoveToken(qaGitHubToken) }
}

// withManifestsAt puts a fixture pair at sha and names it in the inputs.
func (r *gateRun) withManifestsAt(sha, fixture string) {
	r.t.Helper()
	for _, f := range []string{"qa.yaml", "production.yaml"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "manifests", fixture, f))
		if err != nil {
			r.t.Fatal(err)
		}
		r.sim.SetFile("acme", "support-agent", sha, "agent/"+f, b)
	}
	r.env["INPUT_QA-MANIFEST"] = "agent/qa.yaml"
	r.env["INPUT_PRODUCTION-MANIFEST"] = "agent/production.yaml"
}

// event writes the runner's event payload (a hint to airlock).
func (r *gateRun) event(number int, head string) {
	r.t.Helper()
	p := filepath.Join(r.dir, "event.json")
	b, _ := json.Marshal(map[string]any{"action": "synchronize", "pull_request": map[string]any{"number": number, "head": map[string]any{"sha": head}}})
	if err := os.WriteFile(p, b, 0o600); err != nil {
		r.t.Fatal(err)
	}
	r.env["GITHUB_EVENT_PATH"] = p
}

func (r *gateRun) review(login string, id int64, state, commit string) {
	r.sim.AddReview("acme", "support-agent", checkPR, githubsim.Review{User: githubsim.User{Login: login, ID: id}, State: state, CommitID: commit, Body: "reviewed"})
}

func (r *gateRun) approveHead() {
	r.review(githubsim.DefaultApprover, githubsim.DefaultApproverID, "APPROVED", checkHead)
}

func (r *gateRun) check() outcome {
	r.t.Helper()
	o := r.main("check")
	// Each run appends to the runner's files; the next run starts clean.
	os.Remove(r.env["GITHUB_OUTPUT"])
	os.Remove(r.env["GITHUB_STEP_SUMMARY"])
	return o
}

// theCheckRun returns the one check run on the head, failing otherwise.
func (r *gateRun) theCheckRun() githubsim.CheckRun {
	r.t.Helper()
	runs := r.sim.CheckRuns("acme", "support-agent")
	if len(runs) != 1 {
		r.t.Fatalf("expected one check run, got %d: %s", len(runs), brief(runs...))
	}
	cr := runs[0]
	if cr.Name != "airlock / promotion" || cr.HeadSHA != checkHead || cr.Status != "completed" || cr.DetailsURL == "" {
		r.t.Errorf("check run: %s", brief(cr))
	}
	if n := len(r.sim.CommitStatuses("acme", "support-agent")); n != 0 {
		r.t.Errorf("%d commit statuses alongside the check run", n)
	}
	return cr
}

// TestCheckScenarios are the acceptance scenarios of issue 8, asserted on
// what the simulator received.
func TestCheckScenarios(t *testing.T) {
	tests := []struct {
		name       string
		mutate     func(r *gateRun, revoke func())
		code       int
		conclusion string
		title      string
		reason     string // in the summary
		annotation *githubsim.CheckAnnotation
	}{
		{"no approval", func(r *gateRun, revoke func()) { revoke() },
			ExitDeny, "action_required", "Approval required", "0 distinct named approver(s) approved", nil},
		{"approval by the author", func(r *gateRun, revoke func()) {
			revoke()
			r.review(githubsim.DefaultActor, githubsim.DefaultActorID, "APPROVED", checkHead)
		}, ExitDeny, "failure", "Promotion denied", "octo-dev approved a promotion to", nil},
		{"approval on an old commit", func(r *gateRun, revoke func()) {
			revoke()
			r.review(githubsim.DefaultApprover, githubsim.DefaultApproverID, "APPROVED", checkOldHead)
		}, ExitDeny, "action_required", "Approval required", "only approvals of the head commit count", nil},
		{"changes requested", func(r *gateRun, revoke func()) {
			revoke()
			r.approveHead()
			r.review("security-lead", 4242, "CHANGES_REQUESTED", checkHead)
		}, ExitDeny, "failure", "Promotion denied", "security-lead rejected the promotion", nil},
		{"live QA token", func(r *gateRun, revoke func()) { r.approveHead() },
			ExitDeny, "failure", "Promotion denied: 1 reason(s)", `QA credential "qa-deploy-token" (github-token) is still active`,
			&githubsim.CheckAnnotation{Path: credsPath, StartLine: credsLine, EndLine: credsLine, Level: "failure", Title: "airlock C2: QA credentials are dead before production activates"}},
		{"production reuses the QA identity", func(r *gateRun, revoke func()) {
			revoke()
			r.approveHead()
			r.withManifestsAt(checkHead, "identity-reuse")
		}, ExitDeny, "failure", "Promotion denied", "reuses a QA identity",
			&githubsim.CheckAnnotation{Path: "agent/production.yaml", StartLine: 28, EndLine: 28, Level: "failure", Title: "airlock C3: A new production identity, not the QA one"}},
		{"all good", func(r *gateRun, revoke func()) { revoke(); r.approveHead() },
			ExitAllow, "success", "Promotion allowed", "Every control holds", nil},
		{"pull request into a branch not allowed", func(r *gateRun, revoke func()) {
			revoke()
			r.approveHead()
			r.sim.SetPullRequest("acme", "support-agent", githubsim.PullRequest{Number: checkPR, HeadSHA: checkHead, BaseSHA: checkBase, MergeCommitSHA: checkMerge, BaseRef: "experiments"})
		}, ExitDeny, "failure", "Promotion denied", `merges into \"refs/heads/experiments\", which is not an allowed ref`, nil},
		{"event payload names another head", func(r *gateRun, revoke func()) {
			revoke()
			r.approveHead()
			r.event(checkPR, checkOldHead)
		}, ExitDeny, "failure", "Promotion denied", "GITHUB_EVENT_PATH pull_request.head.sha says", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, revoke := newCheckRun(t)
			tt.mutate(r, revoke)
			o := r.check()
			if o.code != tt.code {
				t.Fatalf("exit %d, expected %d; stderr:\n%s", o.code, tt.code, o.stderr)
			}
			cr := r.theCheckRun()
			if cr.Conclusion != tt.conclusion || !strings.HasPrefix(cr.Title, tt.title) {
				t.Errorf("conclusion %q title %q, expected %q %q", cr.Conclusion, cr.Title, tt.conclusion, tt.title)
			}
			if o.outputs["conclusion"] != tt.conclusion || o.outputs["promotion"] != "true" || o.outputs["check-run-id"] == "" {
				t.Errorf("outputs %v", o.outputs)
			}
			want := strings.ReplaceAll(tt.reason, `\"`, `"`)
			if !strings.Contains(cr.Summary, md(want)) && !strings.Contains(cr.Summary, want) {
				t.Errorf("summary lacks %q:\n%s", want, cr.Summary)
			}
			if !strings.Contains(cr.Summary, "| control | result | |") {
				t.Errorf("summary lacks the controls table:\n%s", cr.Summary)
			}
			if o.summary == "" || !strings.Contains(o.summary, cr.Summary) {
				t.Errorf("the step summary is not the check run's summary")
			}
			if a := tt.annotation; a != nil {
				found := false
				for _, got := range cr.Annotations {
					if got.Path == a.Path && got.StartLine == a.StartLine && got.EndLine == a.EndLine && got.Level == a.Level && got.Title == a.Title {
						found = true
					}
				}
				if !found {
					t.Errorf("no annotation %+v among %+v", *a, cr.Annotations)
				}
			}
			if tt.conclusion == "success" && len(cr.Annotations) > 0 {
				for _, a := range cr.Annotations {
					if a.Level == "failure" {
						t.Errorf("a success carries a failure annotation: %+v", a)
					}
				}
			}
			r.assertNoSecrets(o, qaGitHubToken)
			assertWritesClean(t, cr, r.env["INPUT_GITHUB-TOKEN"], r.env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"], qaGitHubToken)
		})
	}
}

// brief describes check runs without their summaries and write bodies.
func brief(runs ...githubsim.CheckRun) string {
	var parts []string
	for _, cr := range runs {
		parts = append(parts, fmt.Sprintf("{id %d %q app %s head %.12s %s/%s %q, %d annotations, %d writes}",
			cr.ID, cr.Name, cr.AppSlug, cr.HeadSHA, cr.Status, cr.Conclusion, cr.Title, len(cr.Annotations), len(cr.Writes)))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// md is the summary's escaping of a message (the check run shows markdown).
func md(s string) string {
	return strings.NewReplacer("[", "\\[", "]", "\\]", "`", "'", "|", "\\|").Replace(s)
}

func assertWritesClean(t *testing.T, cr githubsim.CheckRun, secrets ...string) {
	t.Helper()
	for _, w := range cr.Writes {
		for _, s := range secrets {
			if s != "" && strings.Contains(string(w), s) {
				t.Errorf("a secret was sent in a check run write")
			}
		}
	}
}

func TestCheckNotAPromotion(t *testing.T) {
	r, _ := newCheckRun(t)
	r.sim.SetPullRequestFiles("acme", "support-agent", checkPR, githubsim.PullRequestFile{Filename: "README.md"}, githubsim.PullRequestFile{Filename: "agent/production.yaml.bak", Status: "added"})
	o := r.check()
	if o.code != ExitAllow {
		t.Fatalf("exit %d: %s", o.code, o.stderr)
	}
	cr := r.theCheckRun()
	if cr.Conclusion != "success" || cr.Title != "Not a promotion" || !strings.Contains(cr.Summary, "not a promotion") || len(cr.Annotations) != 0 {
		t.Errorf("check run %s", brief(cr))
	}
	if o.outputs["promotion"] != "false" || o.outputs["conclusion"] != "success" || o.outputs["decision"] != "" {
		t.Errorf("outputs %v", o.outputs)
	}
	// Nothing was evaluated: no manifest read, no QA credential probed, no approvals asked.
	for _, req := range r.sim.Requests() {
		switch req.OperationID {
		case "repos/get-content", "rate-limit/get", "pulls/list-reviews", "repos/get-environment":
			t.Errorf("not a promotion, yet %s %s", req.Method, req.Path)
		}
	}

	// A rename away from a promotion path is a promotion.
	r.sim.SetPullRequestFiles("acme", "support-agent", checkPR, githubsim.PullRequestFile{Filename: "agent/prod.yaml", Status: "renamed", PreviousFilename: "agent/production.yaml"})
	if o := r.check(); o.outputs["promotion"] != "true" {
		t.Errorf("renamed promotion file: outputs %v", o.outputs)
	}
}

// TestCheckManifestPaths: a promotion is what manifest-paths says.
func TestCheckManifestPaths(t *testing.T) {
	for _, tt := range []struct {
		paths, file string
		promotion   bool
	}{
		{"agent/", "agent/new-tool.yaml", true},
		{"agent/*.yaml", "agent/production.yaml", true},
		{"agent/*.yaml", "agent/sub/x.yaml", false},
		{"deploy/prod.yaml\nagent/production.yaml", "agent/production.yaml", true},
		{"deploy/prod.yaml", "agent/production.yaml", false},
	} {
		t.Run(tt.paths+" "+tt.file, func(t *testing.T) {
			r, revoke := newCheckRun(t)
			revoke()
			r.env["INPUT_MANIFEST-PATHS"] = tt.paths
			r.sim.SetPullRequestFiles("acme", "support-agent", checkPR, githubsim.PullRequestFile{Filename: tt.file})
			o := r.check()
			if o.outputs["promotion"] != fmt.Sprint(tt.promotion) {
				t.Errorf("promotion output %q, expected %v (exit %d: %s)", o.outputs["promotion"], tt.promotion, o.code, o.stderr)
			}
		})
	}
}

// TestCheckIncompleteFileList: GitHub lists at most 3000 files. A pull
// request that changes more is checked as a promotion: an unlisted file may
// be one.
func TestCheckIncompleteFileList(t *testing.T) {
	r, revoke := newCheckRun(t)
	revoke()
	r.approveHead()
	r.sim.SetPullRequest("acme", "support-agent", githubsim.PullRequest{Number: checkPR, HeadSHA: checkHead, BaseSHA: checkBase, MergeCommitSHA: checkMerge, ChangedFiles: 3500})
	r.sim.SetPullRequestFiles("acme", "support-agent", checkPR, githubsim.PullRequestFile{Filename: "README.md"})
	o := r.check()
	if o.code != ExitAllow || o.outputs["promotion"] != "true" {
		t.Fatalf("exit %d outputs %v: %s", o.code, o.outputs, o.stderr)
	}
	if cr := r.theCheckRun(); !strings.Contains(cr.Summary, "GitHub listed 1 of the 3500 files") {
		t.Errorf("summary does not say why:\n%s", cr.Summary)
	}
}

// TestCheckMovedHeadIsAPromotion: GitHub lists the files of the pull
// request's current head. If it moved after the verified commit, the list
// may not be that commit's, so "not a promotion" cannot be concluded.
func TestCheckMovedHeadIsAPromotion(t *testing.T) {
	r, revoke := newCheckRun(t)
	revoke()
	r.approveHead()
	// The verified merge commit still joins base and head; GitHub's pull
	// request has moved on.
	r.sim.SetPullRequest("acme", "support-agent", githubsim.PullRequest{Number: checkPR, HeadSHA: checkOldHead, BaseSHA: checkBase, MergeCommitSHA: checkMerge})
	r.sim.SetCommit("acme", "support-agent", checkMerge, checkBase, checkHead)
	r.sim.SetPullRequestFiles("acme", "support-agent", checkPR, githubsim.PullRequestFile{Filename: "README.md"})
	o := r.check()
	if o.outputs["promotion"] != "true" {
		t.Fatalf("a moved head read as not a promotion: exit %d outputs %v: %s", o.code, o.outputs, o.stderr)
	}
	if cr := r.theCheckRun(); !strings.Contains(cr.Summary, "moved to "+checkOldHead) {
		t.Errorf("summary does not say why:\n%s", cr.Summary)
	}
}

// TestCheckRerunUpdatesTheSameRun: no approval yet, then a review approves
// the head and the check runs again (pull_request_review): the same check
// run turns to success.
func TestCheckRerunUpdatesTheSameRun(t *testing.T) {
	r, revoke := newCheckRun(t)
	revoke()
	o := r.check()
	first := r.theCheckRun()
	if o.code != ExitDeny || first.Conclusion != "action_required" {
		t.Fatalf("exit %d, conclusion %q", o.code, first.Conclusion)
	}
	r.approveHead()
	r.claims["event_name"] = "pull_request_review"
	r.env["GITHUB_EVENT_NAME"] = "pull_request_review"
	o = r.check()
	second := r.theCheckRun()
	if o.code != ExitAllow || second.ID != first.ID || second.Conclusion != "success" || len(second.Writes) != 2 {
		t.Fatalf("exit %d; re-run: id %d→%d, conclusion %q, %d writes", o.code, first.ID, second.ID, second.Conclusion, len(second.Writes))
	}
	var patch map[string]any
	if err := json.Unmarshal(second.Writes[1], &patch); err != nil || patch["head_sha"] != nil || patch["conclusion"] != "success" {
		t.Errorf("second write is not an update: %s", second.Writes[1])
	}
	if o.outputs["check-run-id"] != fmt.Sprint(first.ID) || !strings.Contains(o.summary, "Updated check run") {
		t.Errorf("outputs %v", o.outputs)
	}
}

// TestCheckRunAnnotationsStayCurrent: GitHub appends annotations on update
// and cannot delete them. A re-run with the same findings updates the run
// and adds nothing twice; once a finding is fixed, a new run replaces the
// one that carries it rather than leave it stale.
func TestCheckRunAnnotationsStayCurrent(t *testing.T) {
	r, _ := newCheckRun(t)
	r.approveHead()
	for range 2 {
		if o := r.check(); o.code != ExitDeny {
			t.Fatalf("live token: exit %d", o.code)
		}
	}
	cr := r.theCheckRun()
	// One annotation: the live token (C2). (The C3 warning it also carried
	// went when the fixture began declaring the QA identity.)
	if len(cr.Writes) != 2 || len(cr.Annotations) != 1 {
		t.Fatalf("re-run with the same findings: %s", brief(cr))
	}
	r.sim.RemoveToken(qaGitHubToken)
	if o := r.check(); o.code != ExitAllow {
		t.Fatalf("revoked: exit %d: %s", o.code, o.stderr)
	}
	runs := r.sim.CheckRuns("acme", "support-agent")
	if len(runs) != 2 || runs[0].Conclusion != "failure" || runs[1].Conclusion != "success" {
		t.Fatalf("expected a fresh successful run after the annotated one: %s", brief(runs...))
	}
	for _, a := range runs[1].Annotations {
		if a.Level == "failure" {
			t.Errorf("the new run carries a failure: %+v", a)
		}
	}
	// The same success again: the new run is updated in place, and its
	// annotations (a warning) are not added twice.
	before := len(runs[1].Annotations)
	if o := r.check(); o.code != ExitAllow {
		t.Fatalf("exit %d", o.code)
	}
	if runs := r.sim.CheckRuns("acme", "support-agent"); len(runs) != 2 || len(runs[1].Writes) != 2 || len(runs[1].Annotations) != before {
		t.Errorf("runs %s, expected %d annotations on the second", brief(runs...), before)
	}
}

// TestCheckOtherAppsRunIsNotTaken: a run of the same name that another app
// created cannot be updated (GitHub answers 403); airlock creates its own.
func TestCheckOtherAppsRunIsNotTaken(t *testing.T) {
	r, revoke := newCheckRun(t)
	revoke()
	r.approveHead()
	r.sim.AddCheckRun("acme", "support-agent", githubsim.CheckRun{Name: "airlock / promotion", HeadSHA: checkHead, Status: "completed", Conclusion: "success", AppSlug: "impostor"})
	if o := r.check(); o.code != ExitAllow {
		t.Fatalf("exit %d: %s", o.code, o.stderr)
	}
	runs := r.sim.CheckRuns("acme", "support-agent")
	if len(runs) != 2 || runs[1].AppSlug != "github-actions" || len(runs[1].Writes) != 1 {
		t.Errorf("runs %s", brief(runs...))
	}
}

// TestCheckManyAnnotationsInBatches: an invalid manifest in the pull request
// is a failure annotated at every problem's line, 50 per request.
func TestCheckManyAnnotationsInBatches(t *testing.T) {
	r, revoke := newCheckRun(t)
	revoke()
	r.approveHead()
	var b strings.Builder
	prod, _ := os.ReadFile(filepath.Join("..", "..", "testdata", "manifests", "same", "production.yaml"))
	head, tail, _ := strings.Cut(string(prod), "    - name: kb-search\n      access: read\n")
	b.WriteString(head)
	for i := range 60 {
		fmt.Fprintf(&b, "    - name: tool-%02d\n      access: admin\n", i)
	}
	b.WriteString(tail)
	r.sim.SetFile("acme", "support-agent", checkHead, "agent/production.yaml", []byte(b.String()))
	o := r.check()
	if o.code != ExitDeny {
		t.Fatalf("exit %d: %s", o.code, o.stderr)
	}
	cr := r.theCheckRun()
	failures := 0
	for _, a := range cr.Annotations {
		if a.Level == "failure" {
			failures++
		}
	}
	if cr.Conclusion != "failure" || failures != 60 || len(cr.Annotations) > 100 || len(cr.Writes) != 2 {
		t.Fatalf("%s, %d failures", brief(cr), failures)
	}
	var first, second struct {
		Status     string `json:"status"`
		Conclusion string `json:"conclusion"`
		Output     struct {
			Annotations []githubsim.CheckAnnotation `json:"annotations"`
		} `json:"output"`
	}
	_ = json.Unmarshal(cr.Writes[0], &first)
	_ = json.Unmarshal(cr.Writes[1], &second)
	if first.Status != "in_progress" || first.Conclusion != "" || len(first.Output.Annotations) != 50 ||
		second.Status != "completed" || second.Conclusion != "failure" || len(second.Output.Annotations) != len(cr.Annotations)-50 {
		t.Errorf("batches: first %s/%q %d, second %s/%q %d", first.Status, first.Conclusion, len(first.Output.Annotations), second.Status, second.Conclusion, len(second.Output.Annotations))
	}
	a := cr.Annotations[0]
	if a.Path != "agent/production.yaml" || a.StartLine != 12 || !strings.Contains(a.Message, `tool_registry.tools[0].access: must be one of read, write, execute, got "admin"`) {
		t.Errorf("first annotation %+v", a)
	}
}

// TestCheckStaleRun: the pull request moved on (a new push) after this run
// started. The run reports on the head it tested — the merge commit's
// parent — never on the new head, which its own run will report on.
func TestCheckStaleRun(t *testing.T) {
	r, revoke := newCheckRun(t)
	revoke()
	r.approveHead()
	newHead := strings.Repeat("5", 40)
	r.sim.SetPullRequest("acme", "support-agent", githubsim.PullRequest{Number: checkPR, HeadSHA: newHead, BaseSHA: checkBase, MergeCommitSHA: strings.Repeat("6", 40)})
	r.sim.SetCommit("acme", "support-agent", checkMerge, checkBase, checkHead)
	o := r.check()
	if o.code != ExitDeny {
		t.Fatalf("exit %d: %s", o.code, o.stderr)
	}
	cr := r.theCheckRun() // asserts the head is checkHead
	if cr.Conclusion != "failure" || !strings.Contains(cr.Summary, "its reviews do not approve this run") {
		t.Errorf("stale run: %q\n%s", cr.Conclusion, cr.Summary)
	}
}

// TestCheckStatusFallback: without checks: write the same meaning goes out
// as a commit status: pending for approval required (it blocks, as "not
// yet"), failure, success.
func TestCheckStatusFallback(t *testing.T) {
	const token = "ghs_NOchecksWRITE0123456789abcdef"
	for _, tt := range []struct {
		name   string
		mutate func(r *gateRun, revoke func())
		code   int
		state  string
		desc   string
	}{
		{"approval required", func(r *gateRun, revoke func()) { revoke() }, ExitDeny, "pending", "Approval required: C4 0 distinct named approver(s)"},
		{"denied", func(r *gateRun, revoke func()) { r.approveHead() }, ExitDeny, "failure", "Denied (1): C2 QA credential"},
		{"allowed", func(r *gateRun, revoke func()) { revoke(); r.approveHead() }, ExitAllow, "success", "Allowed"},
		{"not a promotion", func(r *gateRun, revoke func()) {
			r.sim.SetPullRequestFiles("acme", "support-agent", checkPR, githubsim.PullRequestFile{Filename: "README.md"})
		}, ExitAllow, "success", "Not a promotion"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, revoke := newCheckRun(t)
			perms := []string{}
			for _, p := range githubsim.DefaultJobPermissions {
				if !strings.HasPrefix(p, "checks:") {
					perms = append(perms, p)
				}
			}
			r.sim.AddToken(token, perms...)
			r.env["INPUT_GITHUB-TOKEN"] = token
			tt.mutate(r, revoke)
			o := r.check()
			if o.code != tt.code {
				t.Fatalf("exit %d, expected %d: %s", o.code, tt.code, o.stderr)
			}
			if runs := r.sim.CheckRuns("acme", "support-agent"); len(runs) != 0 {
				t.Errorf("check runs %s", brief(runs...))
			}
			st := r.sim.CommitStatuses("acme", "support-agent")
			if len(st) != 1 || st[0].Context != "airlock/promotion" || st[0].State != tt.state || st[0].SHA != checkHead ||
				!strings.HasPrefix(st[0].Description, tt.desc) || !strings.HasPrefix(st[0].TargetURL, "https://github.example/acme/support-agent/actions/runs/") {
				t.Fatalf("statuses %+v", st)
			}
			if o.outputs["commit-status"] != tt.state || !strings.Contains(o.stdout, "::warning title=airlock check::check runs are not writable") {
				t.Errorf("outputs %v, stdout:\n%s", o.outputs, o.stdout)
			}
		})
	}
}

// TestCheckNotPublished: whatever the decision, a check that could not be
// published is never exit 0.
func TestCheckNotPublished(t *testing.T) {
	for _, tt := range []struct {
		name   string
		mutate func(r *gateRun)
		code   int
		msg    string
	}{
		{"no checks and no statuses permission", func(r *gateRun) {
			r.sim.AddToken("ghs_readonly", "contents:read", "pull-requests:read", "actions:read")
			r.env["INPUT_GITHUB-TOKEN"] = "ghs_readonly"
		}, ExitOperational, "grant the job `checks: write`"},
		{"check run API down", func(r *gateRun) {
			r.sim.InjectFault("POST /repos/{owner}/{repo}/check-runs", githubsim.Fault{Status: 502})
		}, ExitOperational, "502"},
		{"pull request files unreadable", func(r *gateRun) {
			r.sim.InjectFault("GET /repos/{owner}/{repo}/pulls/{pull_number}/files", githubsim.Fault{Status: 500})
		}, ExitOperational, "files of pull request #9"},
		{"token does not verify", func(r *gateRun) { r.claims["aud"] = "someone-else" }, ExitDeny, "no check was published"},
		{"not a pull request run", func(r *gateRun) {
			r.claims["event_name"] = "workflow_dispatch"
			r.claims["ref"] = "refs/heads/main"
		}, ExitUsage, "airlock check runs on pull_request and pull_request_review events"},
		{"secret of a QA credential missing", func(r *gateRun) { delete(r.env, "QA_GITHUB_TOKEN") }, ExitUsage, "QA_GITHUB_TOKEN"},
		{"qa-credentials outside the repository", func(r *gateRun) { r.env["INPUT_QA-CREDENTIALS"] = "/etc/qa.yaml" }, ExitUsage, "must be a path in the repository"},
		{"bad manifest-paths", func(r *gateRun) { r.env["INPUT_MANIFEST-PATHS"] = "agent/[x" }, ExitUsage, "manifest-paths[0]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, revoke := newCheckRun(t)
			revoke()
			r.approveHead()
			r.env["INPUT_TIMEOUT"] = "20s"
			tt.mutate(r)
			o := r.check()
			if o.code != tt.code {
				t.Fatalf("exit %d, expected %d: %s", o.code, tt.code, o.stderr)
			}
			if !strings.Contains(o.stderr, tt.msg) {
				t.Errorf("stderr lacks %q:\n%s", tt.msg, o.stderr)
			}
			for _, cr := range r.sim.CheckRuns("acme", "support-agent") {
				if cr.Conclusion == "success" {
					t.Errorf("a success was published: %s", brief(cr))
				}
			}
			for _, st := range r.sim.CommitStatuses("acme", "support-agent") {
				if st.State == "success" {
					t.Errorf("a success status was published: %+v", st)
				}
			}
		})
	}
}

// TestCheckModeInput: the action runs `airlock gate`; `mode: check` routes
// it to the check.
func TestCheckModeInput(t *testing.T) {
	r, revoke := newCheckRun(t)
	revoke()
	r.approveHead()
	r.env["INPUT_MODE"] = "check"
	o := r.gate()
	if o.code != ExitAllow || o.outputs["conclusion"] != "success" {
		t.Fatalf("exit %d outputs %v: %s", o.code, o.outputs, o.stderr)
	}
	r.theCheckRun()
	r.env["INPUT_MODE"] = "deploy"
	if o := r.gate(); o.code != ExitUsage || !strings.Contains(o.stderr, `input mode: "deploy"`) {
		t.Errorf("unknown mode: exit %d: %s", o.code, o.stderr)
	}
}

var (
	reTime    = regexp.MustCompile(`[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z`)
	reSimHost = regexp.MustCompile(`127\.0\.0\.1:[0-9]+`)
)

// TestCheckGolden pins what people read on the pull request: the check
// run's summary and annotations (testdata/check-*.json; -update rewrites).
func TestCheckGolden(t *testing.T) {
	for _, tt := range []struct {
		name   string
		mutate func(r *gateRun, revoke func())
	}{
		{"check-denied", func(r *gateRun, revoke func()) { r.approveHead(); r.withManifestsAt(checkHead, "identity-reuse") }},
		{"check-action-required", func(r *gateRun, revoke func()) { revoke() }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, revoke := newCheckRun(t)
			tt.mutate(r, revoke)
			r.check()
			cr := r.theCheckRun()
			body := map[string]any{
				"name": cr.Name, "head_sha": cr.HeadSHA, "status": cr.Status, "conclusion": cr.Conclusion,
				"title": cr.Title, "summary": strings.Split(cr.Summary, "\n"), "annotations": cr.Annotations,
			}
			b, _ := json.MarshalIndent(body, "", "  ")
			got := strings.ReplaceAll(string(b), r.dir, "<RUNNER>")
			got = reDigest.ReplaceAllString(got, "sha256:<DIGEST>")
			got = reURL.ReplaceAllString(got, "http://<SIM>")
			got = reSimHost.ReplaceAllString(got, "<SIM>")
			got = reTime.ReplaceAllString(got, "<TIME>") + "\n"
			p := filepath.Join("testdata", tt.name+".json")
			if *update {
				if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(p)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if string(want) != got {
				t.Errorf("%s differs (go test ./internal/cli -run TestCheckGolden -update after checking):\n--- got\n%s\n--- want\n%s", p, got, want)
			}
		})
	}
}

// TestCheckEvidenceMatchesSchema: the check's evidence, pull_request section
// included, is the document schema/evidence.schema.json describes; files the
// pull request broke are failures annotated where they broke.
func TestCheckEvidenceMatchesSchema(t *testing.T) {
	const newBase = "7777777777777777777777777777777777777777"
	for _, tt := range []struct {
		name       string
		mutate     func(r *gateRun, revoke func())
		base, sha  string
		conclusion string
		annotation *githubsim.CheckAnnotation
	}{
		{"allowed", func(r *gateRun, revoke func()) { revoke(); r.approveHead() }, "present", checkBase, "success", nil},
		{"production manifest new", func(r *gateRun, revoke func()) {
			revoke()
			r.approveHead()
			r.sim.SetPullRequest("acme", "support-agent", githubsim.PullRequest{Number: checkPR, HeadSHA: checkHead, BaseSHA: newBase, MergeCommitSHA: checkMerge})
			r.sim.SetFile("acme", "support-agent", newBase, credsPath, []byte(credsFile(r.sim.APIURL())))
		}, "absent", newBase, "success", nil},
		{"manifest broken in the pull request", func(r *gateRun, revoke func()) {
			revoke()
			r.approveHead()
			r.sim.SetFile("acme", "support-agent", checkHead, "agent/production.yaml", []byte("name: [unclosed\n"))
		}, "present", checkBase, "failure", &githubsim.CheckAnnotation{Path: "agent/production.yaml", StartLine: 1, Level: "failure"}},
		{"credentials file broken in the pull request", func(r *gateRun, revoke func()) {
			revoke()
			r.approveHead()
			r.sim.SetFile("acme", "support-agent", checkHead, credsPath, []byte("- name: x\n  kind: oath2\n  token-env: T\n"))
		}, "present", checkBase, "failure", &githubsim.CheckAnnotation{Path: credsPath, StartLine: 2, Level: "failure"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, revoke := newCheckRun(t)
			tt.mutate(r, revoke)
			o := r.check()
			if o.evidence == nil {
				t.Fatalf("no evidence (exit %d): %s", o.code, o.stderr)
			}
			assertMatchesSchema(t, "evidence.schema.json", o.evidence)
			pr := o.evidence["pull_request"].(map[string]any)
			if pr["number"] != float64(checkPR) || pr["head_sha"] != checkHead || pr["base_sha"] != tt.sha || pr["base_ref"] != "refs/heads/main" || pr["production_manifest_at_base"] != tt.base {
				t.Errorf("pull_request evidence %v", pr)
			}
			cr := r.theCheckRun()
			if cr.Conclusion != tt.conclusion {
				t.Errorf("conclusion %q, expected %q: %s", cr.Conclusion, tt.conclusion, o.outputs["reasons"])
			}
			if a := tt.annotation; a != nil {
				found := false
				for _, got := range cr.Annotations {
					found = found || got.Path == a.Path && got.StartLine == a.StartLine && got.Level == a.Level && got.Title == "airlock: invalid file"
				}
				if !found {
					t.Errorf("no annotation at %s line %d among %+v", a.Path, a.StartLine, cr.Annotations)
				}
			}
		})
	}
}

// TestCheckSendsNoSecretWhereThePullRequestPoints: the qa-credentials file
// at the head decides where the workflow's secrets go. A pull request that
// points a credential at a host the base's file does not name gets the
// line annotated and a failing check; the secret goes nowhere.
func TestCheckSendsNoSecretWhereThePullRequestPoints(t *testing.T) {
	var hits atomic.Int32
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer evil.Close()
	r, revoke := newCheckRun(t)
	revoke()
	r.approveHead()
	r.sim.SetFile("acme", "support-agent", checkHead, credsPath, []byte(credsFile(evil.URL)))
	o := r.check()
	if o.code == ExitAllow {
		t.Fatalf("exit 0 with credentials pointed at a new host:\n%s", o.stderr)
	}
	if hits.Load() != 0 {
		t.Fatalf("the pull request's host received %d request(s)", hits.Load())
	}
	cr := r.theCheckRun()
	found := false
	for _, a := range cr.Annotations {
		found = found || a.Path == credsPath && a.StartLine == 3 && strings.Contains(a.Message, "does not name")
	}
	if cr.Conclusion != "failure" || !found {
		t.Errorf("conclusion %q, annotations %+v", cr.Conclusion, cr.Annotations)
	}
	r.assertNoSecrets(o)
}

// TestCheckReadsThePullRequestOnce: the check reads the pull request to find
// its promotion files and hands it to the approvals collector, which used to
// read it again.
func TestCheckReadsThePullRequestOnce(t *testing.T) {
	r, revoke := newCheckRun(t)
	revoke()
	r.approveHead()
	if o := r.check(); o.code != ExitAllow {
		t.Fatalf("exit %d: %s", o.code, o.stderr)
	}
	n := 0
	for _, req := range r.sim.Requests() {
		if req.OperationID == "pulls/get" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the check read the pull request %d times, want once", n)
	}
}
