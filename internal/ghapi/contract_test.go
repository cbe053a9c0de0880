package ghapi_test

// The REST contract: (1) every example GitHub publishes for the operations
// ghapi calls decodes, through the client itself, into the values the example
// holds; (2) every response the simulator serves for an operation in GitHub's
// description validates against that operation's response schema. Together
// they keep the client, the simulator and GitHub's description in step.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/ghapi"
	"github.com/airlock-dev/airlock/internal/githubsim"
	"github.com/airlock-dev/airlock/internal/testsvc"
)

// realdata locates ../shared/realdata/<rel> (see testsvc.RealData).
func realdata(t *testing.T, rel string) string {
	t.Helper()
	return testsvc.RealData(t, rel)
}

type specOp struct {
	Method      string                     `json:"method"`
	Path        string                     `json:"path"`
	OperationID string                     `json:"operationId"`
	Responses   map[string]json.RawMessage `json:"responses"`
}

func loadSpec(t *testing.T) (dir string, ops []specOp) {
	t.Helper()
	dir = realdata(t, "04-github-rest-api")
	b, err := os.ReadFile(filepath.Join(dir, "rest-ops-trimmed.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Operations []specOp `json:"operations"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("decode rest-ops-trimmed.json: %v", err)
	}
	if len(doc.Operations) == 0 {
		t.Fatal("rest-ops-trimmed.json: no operations")
	}
	return dir, doc.Operations
}

func findOp(ops []specOp, id string) *specOp {
	for i := range ops {
		if ops[i].OperationID == id {
			return &ops[i]
		}
	}
	return nil
}

// responseSchema returns the JSON schema and example names of a response.
func (o *specOp) responseSchema(t *testing.T, status string) (map[string]any, []string) {
	t.Helper()
	raw, ok := o.Responses[status]
	if !ok {
		return nil, nil
	}
	var r struct {
		Content map[string]struct {
			Schema   map[string]any             `json:"schema"`
			Examples map[string]json.RawMessage `json:"examples"`
		} `json:"content"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("%s %s: %v", o.OperationID, status, err)
	}
	c := r.Content["application/json"]
	names := make([]string, 0, len(c.Examples))
	for n := range c.Examples {
		names = append(names, n)
	}
	sort.Strings(names)
	return c.Schema, names
}

// samplePath fills an operation's path parameters.
func samplePath(t *testing.T, pattern string, params map[string]string) string {
	t.Helper()
	out := pattern
	for k, v := range params {
		out = strings.ReplaceAll(out, "{"+k+"}", v)
	}
	if strings.Contains(out, "{") {
		t.Fatalf("path %q: no sample value for a parameter (have %v)", pattern, params)
	}
	return out
}

func decodeNumbers(t *testing.T, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %.200q: %v", b, err)
	}
	return v
}

// clientCase is one operation ghapi calls: how to call it and how to check
// the result against the raw example.
type clientCase struct {
	opID  string
	call  func(t *testing.T, c *ghapi.Client) (any, error)
	check func(t *testing.T, raw any, got any)
}

var exampleParams = map[string]string{
	"owner": "github", "repo": "hello-world", "environment_name": "staging", "run_id": "30433642",
	"org": "github", "team_slug": "justice-league", "username": "octocat",
}

func num(v any) int64 {
	n, _ := v.(json.Number).Int64()
	return n
}

var clientCases = []clientCase{
	{
		opID: "repos/get-environment",
		call: func(t *testing.T, c *ghapi.Client) (any, error) {
			return c.Environment(t.Context(), "github", "hello-world", "staging")
		},
		check: func(t *testing.T, raw, got any) {
			e := got.(*ghapi.Environment)
			m := raw.(map[string]any)
			if e.ID != num(m["id"]) || e.Name != m["name"] {
				t.Errorf("id/name: expected %v/%v, got %d/%q", m["id"], m["name"], e.ID, e.Name)
			}
			rules, _ := m["protection_rules"].([]any)
			if len(e.Rules) != len(rules) {
				t.Fatalf("rules: expected %d, got %d", len(rules), len(e.Rules))
			}
			for i, r := range rules {
				rm := r.(map[string]any)
				gr := e.Rules[i]
				if gr.Type != rm["type"] || gr.ID != num(rm["id"]) {
					t.Errorf("rule %d: expected %v/%v, got %q/%d", i, rm["type"], rm["id"], gr.Type, gr.ID)
				}
				if w, ok := rm["wait_timer"]; ok && int64(gr.WaitTimer) != num(w) {
					t.Errorf("rule %d wait_timer: expected %v, got %d", i, w, gr.WaitTimer)
				}
				if p, ok := rm["prevent_self_review"]; ok && (gr.PreventSelfReview == nil || *gr.PreventSelfReview != p) {
					t.Errorf("rule %d prevent_self_review: expected %v, got %v", i, p, gr.PreventSelfReview)
				}
				revs, _ := rm["reviewers"].([]any)
				if len(gr.Reviewers) != len(revs) {
					t.Fatalf("rule %d reviewers: expected %d, got %d", i, len(revs), len(gr.Reviewers))
				}
				for j, rv := range revs {
					rvm := rv.(map[string]any)
					body := rvm["reviewer"].(map[string]any)
					g := gr.Reviewers[j]
					if g.Type != rvm["type"] || g.ID != num(body["id"]) || (g.Type == "User" && g.Login != body["login"]) || (g.Type == "Team" && g.Slug != body["slug"]) {
						t.Errorf("rule %d reviewer %d: expected %v, got %+v", i, j, rvm, g)
					}
				}
			}
			if _, ok := m["can_admins_bypass"]; !ok && e.CanAdminsBypass != nil {
				t.Errorf("can_admins_bypass absent from the example must stay unknown, got %v", *e.CanAdminsBypass)
			}
			bp, _ := m["deployment_branch_policy"].(map[string]any)
			if (bp == nil) != (e.BranchPolicy == nil) ||
				(bp != nil && (e.BranchPolicy.ProtectedBranches != bp["protected_branches"] || e.BranchPolicy.CustomBranchPolicies != bp["custom_branch_policies"])) {
				t.Errorf("branch policy: expected %v, got %+v", bp, e.BranchPolicy)
			}
		},
	},
	{
		opID: "actions/get-reviews-for-run",
		call: func(t *testing.T, c *ghapi.Client) (any, error) {
			return c.RunApprovals(t.Context(), "github", "hello-world", 30433642)
		},
		check: func(t *testing.T, raw, got any) {
			as := got.([]ghapi.Approval)
			items := raw.([]any)
			if len(as) != len(items) {
				t.Fatalf("approvals: expected %d, got %d", len(items), len(as))
			}
			for i, it := range items {
				m := it.(map[string]any)
				u := m["user"].(map[string]any)
				a := as[i]
				if a.State != m["state"] || a.Comment != m["comment"] || a.User.Login != u["login"] || a.User.ID != num(u["id"]) {
					t.Errorf("approval %d: expected %v, got %+v", i, m, a)
				}
				envs := m["environments"].([]any)
				if len(a.Environments) != len(envs) {
					t.Fatalf("approval %d environments: expected %d, got %d", i, len(envs), len(a.Environments))
				}
				for j, e := range envs {
					em := e.(map[string]any)
					if a.Environments[j].Name != em["name"] || a.Environments[j].ID != num(em["id"]) {
						t.Errorf("approval %d environment %d: expected %v, got %+v", i, j, em, a.Environments[j])
					}
				}
			}
		},
	},
	{
		opID: "actions/get-workflow-run",
		call: func(t *testing.T, c *ghapi.Client) (any, error) {
			return c.WorkflowRun(t.Context(), "github", "hello-world", 30433642)
		},
		check: func(t *testing.T, raw, got any) {
			r := got.(*ghapi.WorkflowRun)
			m := raw.(map[string]any)
			created, _ := time.Parse(time.RFC3339, m["created_at"].(string))
			actor := m["actor"].(map[string]any)
			trig := m["triggering_actor"].(map[string]any)
			repo := m["repository"].(map[string]any)
			if !r.CreatedAt.Equal(created) || r.Actor.Login != actor["login"] || r.Actor.ID != num(actor["id"]) ||
				r.TriggeringActor.Login != trig["login"] || r.TriggeringActor.ID != num(trig["id"]) ||
				r.HeadSHA != m["head_sha"] || r.Event != m["event"] || int64(r.RunAttempt) != num(m["run_attempt"]) || r.RepositoryID != num(repo["id"]) {
				t.Errorf("workflow run: expected %v, got %+v", m, r)
			}
		},
	},
	{
		opID: "teams/get-membership-for-user-in-org",
		call: func(t *testing.T, c *ghapi.Client) (any, error) {
			return c.TeamMembership(t.Context(), "github", "justice-league", "octocat")
		},
		check: func(t *testing.T, raw, got any) {
			m := got.(*ghapi.TeamMembership)
			if w := raw.(map[string]any); m.State != w["state"] || m.Role != w["role"] {
				t.Errorf("membership: expected %v, got %+v", w, m)
			}
		},
	},
	{
		opID: "repos/get-all-deployment-protection-rules",
		call: func(t *testing.T, c *ghapi.Client) (any, error) {
			return c.CustomProtectionRules(t.Context(), "github", "hello-world", "staging")
		},
		check: func(t *testing.T, raw, got any) {
			rs := got.([]ghapi.CustomProtectionRule)
			items := raw.(map[string]any)["custom_deployment_protection_rules"].([]any)
			if len(rs) != len(items) {
				t.Fatalf("rules: expected %d, got %d", len(items), len(rs))
			}
			for i, it := range items {
				m := it.(map[string]any)
				app := m["app"].(map[string]any)
				if rs[i].ID != num(m["id"]) || rs[i].Enabled != m["enabled"] || rs[i].AppID != num(app["id"]) || rs[i].AppSlug != app["slug"] {
					t.Errorf("rule %d: expected %v, got %+v", i, m, rs[i])
				}
			}
		},
	},
}

// TestContractClientDecodesGitHubExamples serves every published example of
// each operation ghapi calls and checks the client's result field by field.
func TestContractClientDecodesGitHubExamples(t *testing.T) {
	dir, ops := loadSpec(t)
	for _, cc := range clientCases {
		t.Run(cc.opID, func(t *testing.T) {
			o := findOp(ops, cc.opID)
			if o == nil {
				t.Fatalf("operation %s is not in rest-ops-trimmed.json", cc.opID)
			}
			_, names := o.responseSchema(t, "200")
			files, _ := filepath.Glob(filepath.Join(dir, "examples", strings.ReplaceAll(cc.opID, "/", "__")+".200.*.json"))
			if len(files) == 0 || len(files) != len(names) {
				t.Fatalf("examples: the description names %v, found files %v", names, files)
			}
			wantPath := "/api/v3" + samplePath(t, o.Path, exampleParams)
			for _, file := range files {
				body, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.Method != o.Method || r.URL.EscapedPath() != wantPath || r.Header.Get("Authorization") != "Bearer "+secretToken {
						t.Errorf("%s: expected %s %s with the token, got %s %s", filepath.Base(file), o.Method, wantPath, r.Method, r.URL.EscapedPath())
						http.NotFound(w, r)
						return
					}
					w.Header().Set("Content-Type", "application/json")
					_, _ = w.Write(body)
				}))
				c, err := ghapi.New(srv.URL+"/api/v3", secretToken, srv.Client())
				if err != nil {
					t.Fatal(err)
				}
				got, err := cc.call(t, c)
				srv.Close()
				if err != nil {
					t.Fatalf("%s: %v", filepath.Base(file), err)
				}
				cc.check(t, decodeNumbers(t, body), got)
			}
		})
	}
}

// TestContractKnownExampleValues pins values of GitHub's default examples so
// the generic checks above cannot pass on an empty decode.
func TestContractKnownExampleValues(t *testing.T) {
	dir, _ := loadSpec(t)
	serve := func(name string) *ghapi.Client {
		body, err := os.ReadFile(filepath.Join(dir, "examples", name))
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(body) }))
		t.Cleanup(srv.Close)
		c, err := ghapi.New(srv.URL, secretToken, srv.Client())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	e, err := serve("repos__get-environment.200.default.json").Environment(t.Context(), "github", "hello-world", "staging")
	if err != nil {
		t.Fatal(err)
	}
	rr := e.Rule(ghapi.RuleRequiredReviewers)
	if e.ID != 161088068 || e.Name != "staging" || len(e.Rules) != 3 || e.Rule(ghapi.RuleWaitTimer).WaitTimer != 30 ||
		rr == nil || *rr.PreventSelfReview || len(rr.Reviewers) != 2 ||
		rr.Reviewers[0] != (ghapi.Reviewer{Type: "User", ID: 1, Login: "octocat"}) ||
		rr.Reviewers[1] != (ghapi.Reviewer{Type: "Team", ID: 1, Slug: "justice-league", Name: "Justice League"}) ||
		e.BranchPolicy == nil || e.BranchPolicy.ProtectedBranches || !e.BranchPolicy.CustomBranchPolicies || e.CanAdminsBypass != nil {
		t.Errorf("environment example: got %+v, rules %+v", e, e.Rules)
	}
	as, err := serve("actions__get-reviews-for-run.200.default.json").RunApprovals(t.Context(), "github", "hello-world", 42)
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 1 || as[0].State != "approved" || as[0].Comment != "Ship it!" || as[0].User != (ghapi.User{Login: "octocat", ID: 1}) ||
		len(as[0].Environments) != 1 || as[0].Environments[0] != (ghapi.ApprovalEnvironment{ID: 161088068, Name: "staging"}) {
		t.Errorf("approvals example: got %+v", as)
	}
	run, err := serve("actions__get-workflow-run.200.default.json").WorkflowRun(t.Context(), "github", "hello-world", 30433642)
	if err != nil {
		t.Fatal(err)
	}
	if run.ID != 30433642 || run.Actor != (ghapi.User{Login: "octocat", ID: 1}) || run.TriggeringActor != run.Actor ||
		!run.CreatedAt.Equal(time.Date(2020, 1, 22, 19, 33, 8, 0, time.UTC)) || run.RunAttempt != 1 || run.RepositoryID != 1296269 {
		t.Errorf("workflow run example: got %+v", run)
	}
	tm, err := serve("teams__get-membership-for-user-in-org.200.response-if-user-is-a-team-maintainer.json").TeamMembership(t.Context(), "github", "justice-league", "octocat")
	if err != nil {
		t.Fatal(err)
	}
	if *tm != (ghapi.TeamMembership{State: "active", Role: "maintainer"}) {
		t.Errorf("team membership example: got %+v", tm)
	}
	cr, err := serve("repos__get-all-deployment-protection-rules.200.default.json").CustomProtectionRules(t.Context(), "github", "hello-world", "staging")
	if err != nil {
		t.Fatal(err)
	}
	if len(cr) != 2 || cr[0] != (ghapi.CustomProtectionRule{ID: 3, Enabled: true, AppID: 1, AppSlug: "a-custom-app"}) || cr[1].AppSlug != "another-custom-app" {
		t.Errorf("custom rules example: got %+v", cr)
	}
}

// simRoutesOutsideDescription are routes the simulator serves whose operation
// is not in the trimmed description; a new one must be added here on purpose.
// repos/get-content (manifests at the verified commit) and rate-limit/get (is
// a QA GitHub token alive?) came after the description was trimmed; their
// shapes follow GitHub's docs ("content-file", "rate-limit-overview"). So do
// pulls/get and pulls/list-reviews (promotion-PR mode: "pull-request",
// "pull-request-review"), which the trimmed description does not carry, and
// repos/list-releases (finding a draft release) and repos/delete-release-asset
// (replacing this run attempt's own asset). `airlock check` adds
// checks/list-for-ref (finding the check run an earlier attempt created:
// "check-run" items) and checks/list-annotations (what such a run already
// carries: "check-annotation"), pulls/list-files (does the pull request touch a
// promotion file: "diff-entry") and git/get-commit (the parents of the
// verified merge commit: "git-commit"). `airlock verify --release` adds
// repos/get-release-asset (downloading bundles: "release-asset"). `airlock
// serve` adds apps/get-repo-installation (which installation of the app
// covers a repository: "installation", read with the app's JWT).
var simRoutesOutsideDescription = map[string]bool{
	"repos/get": true, "repos/get-content": true, "rate-limit/get": true, "pulls/get": true, "pulls/list-reviews": true,
	"repos/list-releases": true, "repos/delete-release-asset": true, "repos/get-release-asset": true,
	"checks/list-for-ref": true, "checks/list-annotations": true, "pulls/list-files": true, "git/get-commit": true,
	"apps/get-repo-installation": true,
	// `airlock audit`: repos/list-deployments ("deployment" items) and
	// repos/list-for-org ("minimal-repository" items), as GitHub's docs show.
	"repos/list-deployments": true, "repos/list-for-org": true,
}

// TestContractSimulatorMatchesSchemas fetches every REST operation the
// simulator serves and validates the answer against GitHub's schema.
func TestContractSimulatorMatchesSchemas(t *testing.T) {
	_, ops := loadSpec(t)
	sim := githubsim.NewForTest(t, githubsim.WithSigningKey(testKey()))
	sim.Seed("octo", "repo")
	env := githubsim.DefaultProductionEnvironment("octo")
	env.WaitTimer = 10
	env.CustomRules = []githubsim.CustomRule{{ID: 5, AppID: 6, AppSlug: "freeze", Enabled: true}, {ID: 8, AppID: 9, AppSlug: "off", Enabled: false}}
	sim.SetEnvironment("octo", "repo", env)
	sim.SetEnvironment("octo", "repo", githubsim.Environment{Name: "qa"}) // no rules, branch policy null
	runID := githubsim.DefaultRunID("octo", "repo")
	sim.AddRunApproval("octo", "repo", runID, githubsim.Approval{State: "rejected", Comment: "", User: githubsim.User{Login: "other", ID: 77}, Environments: []string{"production", "qa"}})
	sim.SetTeamMember("octo", githubsim.DefaultTeam, githubsim.DefaultApprover, "active")
	params := map[string]string{
		"owner": "octo", "repo": "repo", "environment_name": "production", "run_id": strconv.FormatInt(runID, 10),
		"org": "octo", "team_slug": githubsim.DefaultTeam, "username": githubsim.DefaultApprover,
	}
	maps.Copy(params, seedReleases(t, sim, "octo", "repo")) // releases_test.go

	checked := 0
	for _, rt := range sim.Routes() {
		if rt.OperationID == "" || rt.Method != http.MethodGet { // writes: releases_test.go
			continue
		}
		var op *specOp
		for i := range ops {
			if ops[i].Method == rt.Method && ops[i].Path == rt.Path {
				op = &ops[i]
			}
		}
		if op == nil {
			if !simRoutesOutsideDescription[rt.OperationID] {
				t.Errorf("%s (%s) is not in rest-ops-trimmed.json: extend the data or list it in simRoutesOutsideDescription", rt.Name, rt.OperationID)
			}
			continue
		}
		t.Run(rt.OperationID, func(t *testing.T) {
			if op.OperationID != rt.OperationID {
				t.Errorf("operationId: the description says %q, the simulator %q", op.OperationID, rt.OperationID)
			}
			schema, _ := op.responseSchema(t, "200")
			if schema == nil {
				t.Fatalf("no 200 application/json schema for %s", op.OperationID)
			}
			body := simGet(t, sim, samplePath(t, rt.Path, params))
			if errs := checkSchema("$", schema, decodeNumbers(t, body)); len(errs) > 0 {
				t.Errorf("response violates the schema:\n  %s\nbody: %.2000s", strings.Join(errs, "\n  "), body)
			}
		})
		checked++
	}
	if checked < 4 {
		t.Errorf("expected at least 4 simulator operations checked against the description, got %d", checked)
	}
	if un := sim.Unimplemented(); len(un) > 0 {
		t.Errorf("unimplemented calls: %+v", un)
	}
}

// contractToken can read every route the simulator serves (the job token
// cannot read org teams).
const contractToken = "ghs_contract"

func simGet(t *testing.T, sim *githubsim.Server, path string) []byte {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, sim.APIURL()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	sim.AddToken(contractToken, append([]string{"members:read"}, githubsim.DefaultJobPermissions...)...)
	req.Header.Set("Authorization", "Bearer "+contractToken)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: expected 200, got %d: %s", path, resp.StatusCode, buf.Bytes())
	}
	return buf.Bytes()
}

// TestSchemaCheckerOnGitHubExamples runs the checker over every response
// example in the data: it must accept them all except the one SOURCE.md says
// breaks its own schema in a way leniency does not cover (a Team reviewer
// without the required "type"), which shows the checker can fail.
func TestSchemaCheckerOnGitHubExamples(t *testing.T) {
	dir, ops := loadSpec(t)
	files, _ := filepath.Glob(filepath.Join(dir, "examples", "*.json"))
	wantFail := map[string]string{"actions__get-pending-deployments-for-run.200.default.json": `required property "type" missing`}
	seen := 0
	for _, f := range files {
		base := filepath.Base(f)
		parts := strings.SplitN(base, ".", 3)
		if len(parts) != 3 || parts[1] == "request" {
			continue
		}
		o := findOp(ops, strings.ReplaceAll(parts[0], "__", "/"))
		if o == nil {
			t.Errorf("%s: no operation %s", base, parts[0])
			continue
		}
		schema, _ := o.responseSchema(t, parts[1])
		if schema == nil {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		seen++
		errs := strings.Join(checkSchema("$", schema, decodeNumbers(t, b)), "\n")
		switch want, bad := wantFail[base]; {
		case bad && !strings.Contains(errs, want):
			t.Errorf("%s: expected a violation %q, got %q", base, want, errs)
		case !bad && errs != "":
			t.Errorf("%s: unexpected violations:\n%s", base, errs)
		}
	}
	if seen < 15 {
		t.Errorf("expected at least 15 response examples, checked %d", seen)
	}
}

// TestSchemaCheckerRejects shows each rule of the checker can fail. (Note
// that protection_rules items are an anyOf of shapes without
// additionalProperties: false, so the wait_timer shape admits any rule; schema
// checks cannot catch a bad reviewer there, which is why ghapi validates
// reviewers itself.)
func TestSchemaCheckerRejects(t *testing.T) {
	_, ops := loadSpec(t)
	sim := githubsim.NewForTest(t)
	sim.Seed("octo", "repo")
	envPath := "/repos/octo/repo/environments/production"
	runPath := fmt.Sprintf("/repos/octo/repo/actions/runs/%d/approvals", githubsim.DefaultRunID("octo", "repo"))
	for _, tc := range []struct {
		name, opID, path string
		mutate           func(v any)
		want             string
	}{
		{"missing required", "repos/get-environment", envPath, func(v any) { delete(v.(map[string]any), "id") }, `required property "id"`},
		{"wrong type", "repos/get-environment", envPath, func(v any) { v.(map[string]any)["name"] = json.Number("5") }, "$.name: expected string"},
		{"integer", "repos/get-environment", envPath, func(v any) { v.(map[string]any)["id"] = json.Number("1.5") }, "$.id: expected integer"},
		{"null not nullable", "repos/get-environment", envPath, func(v any) { v.(map[string]any)["protection_rules"] = nil }, "$.protection_rules: null"},
		{"anyOf", "repos/get-environment", envPath, func(v any) { v.(map[string]any)["protection_rules"] = []any{"x"} }, "matches no anyOf branch"},
		{"enum", "actions/get-reviews-for-run", runPath, func(v any) { v.([]any)[0].(map[string]any)["state"] = "maybe" }, "$[0].state: maybe is not one of"},
		{"items", "actions/get-reviews-for-run", runPath, func(v any) { delete(v.([]any)[0].(map[string]any)["user"].(map[string]any), "login") }, `$[0].user: required property "login"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			schema, _ := findOp(ops, tc.opID).responseSchema(t, "200")
			v := decodeNumbers(t, simGet(t, sim, tc.path))
			if errs := checkSchema("$", schema, v); len(errs) > 0 {
				t.Fatalf("unmutated response fails: %v", errs)
			}
			tc.mutate(v)
			errs := strings.Join(checkSchema("$", schema, v), "\n")
			if !strings.Contains(errs, tc.want) {
				t.Errorf("expected a violation containing %q, got %q", tc.want, errs)
			}
		})
	}
}
