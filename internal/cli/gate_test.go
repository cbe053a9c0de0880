package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/githubsim"
)

var update = flag.Bool("update", false, "rewrite golden files")

// run is one airlock invocation played the way a GitHub runner plays it.
type gateRun struct {
	t      testing.TB
	sim    *githubsim.Server
	env    map[string]string
	dir    string
	claims map[string]any
}

func newRun(t testing.TB) *gateRun {
	t.Helper()
	sim, err := githubsim.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if u := sim.Unimplemented(); len(u) > 0 {
			t.Errorf("requests to routes githubsim does not serve: %+v", u)
		}
		sim.Close()
	})
	sim.Seed("acme", "support-agent")
	claims := githubsim.DefaultRunClaims("acme", "support-agent")
	dir := t.TempDir()
	for _, d := range []string{"tmp", "workspace"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	r := &gateRun{t: t, sim: sim, dir: dir, claims: claims, env: map[string]string{
		"GITHUB_ACTIONS":                 "true",
		"ACTIONS_ID_TOKEN_REQUEST_URL":   sim.TokenRequestURL(),
		"ACTIONS_ID_TOKEN_REQUEST_TOKEN": sim.TokenRequestToken(),
		"GITHUB_API_URL":                 sim.APIURL(),
		"GITHUB_OUTPUT":                  filepath.Join(dir, "output"),
		"GITHUB_STEP_SUMMARY":            filepath.Join(dir, "summary.md"),
		"RUNNER_TEMP":                    filepath.Join(dir, "tmp"),
		"GITHUB_WORKSPACE":               filepath.Join(dir, "workspace"),
		"GITHUB_REPOSITORY":              "acme/support-agent",
		"INPUT_OIDC-ISSUER":              sim.IssuerURL(),
		"INPUT_GITHUB-TOKEN":             sim.JobToken(),
		"INPUT_QA-CREDENTIALS":           "none",
		"INPUT_PRODUCTION-IDENTITY":      "issuer: https://idp.example.com\nsubject: agent:support-agent:prod\nclient-id: support-agent-prod",
		"INPUT_APPROVERS":                githubsim.DefaultApprover,
		"INPUT_SIGNER":                   "none",
	}}
	return r
}

type outcome struct {
	code           int
	stdout, stderr string
	outputs        map[string]string // path outputs resolved against the workspace
	rawOutputs     map[string]string // as written to GITHUB_OUTPUT
	summary        string
	evidence       map[string]any
	evidenceRaw    string
}

func (r *gateRun) gate(args ...string) outcome {
	r.t.Helper()
	return r.main(append([]string{"gate"}, args...)...)
}

// main runs airlock with args as the runner would and collects what it
// wrote: exit code, streams, GITHUB_OUTPUT, the step summary and evidence.
func (r *gateRun) main(args ...string) outcome {
	r.t.Helper()
	r.sim.SetRunClaims(r.claims)
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), args, func(k string) string { return r.env[k] },
		Stdio{In: strings.NewReader(""), Out: &stdout, Err: &stderr})
	o := outcome{code: code, stdout: stdout.String(), stderr: stderr.String(), outputs: map[string]string{}}
	if b, err := os.ReadFile(r.env["GITHUB_OUTPUT"]); err == nil {
		o.outputs = parseOutputFile(r.t, string(b))
		o.rawOutputs = maps.Clone(o.outputs)
	}
	if b, err := os.ReadFile(r.env["GITHUB_STEP_SUMMARY"]); err == nil {
		o.summary = string(b)
	}
	// A path output is relative to the workspace, where a later step (on
	// the host, outside the container) opens it; tests read it from there.
	for _, k := range []string{"evidence-path", "decision-path", "bundle-path"} {
		if v := o.outputs[k]; v != "" {
			if filepath.IsAbs(v) || !filepath.IsLocal(v) {
				r.t.Fatalf("output %s = %q: not a path inside the workspace", k, v)
			}
			o.outputs[k] = filepath.Join(r.env["GITHUB_WORKSPACE"], v)
		}
	}
	if p := o.outputs["evidence-path"]; p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			r.t.Fatalf("evidence-path %s: %v", p, err)
		}
		o.evidenceRaw = string(b)
		if err := json.Unmarshal(b, &o.evidence); err != nil {
			r.t.Fatalf("evidence: %v", err)
		}
	}
	return o
}

func parseOutputFile(t testing.TB, data string) map[string]string {
	out := map[string]string{}
	lines := strings.Split(data, "\n")
	for i := 0; i < len(lines); i++ {
		if lines[i] == "" {
			continue
		}
		name, delim, ok := strings.Cut(lines[i], "<<")
		if !ok {
			t.Fatalf("GITHUB_OUTPUT line %q", lines[i])
		}
		var val []string
		for i++; i < len(lines) && lines[i] != delim; i++ {
			val = append(val, lines[i])
		}
		out[name] = strings.Join(val, "\n")
	}
	return out
}

// secrets are the values no output, summary, evidence or log line may carry
// (the runner's ::add-mask:: commands aside, which exist to carry them).
func (r *gateRun) assertNoSecrets(o outcome, extra ...string) {
	r.t.Helper()
	secrets := append([]string{r.env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"], r.env["INPUT_GITHUB-TOKEN"]}, extra...)
	var stdout []string
	for _, l := range strings.Split(o.stdout, "\n") {
		if !strings.HasPrefix(l, "::add-mask::") {
			stdout = append(stdout, l)
		}
	}
	all := strings.Join(stdout, "\n") + o.stderr + o.summary + o.evidenceRaw + strings.Join(mapValues(o.outputs), "\n")
	for _, s := range secrets {
		if s != "" && strings.Contains(all, s) {
			r.t.Errorf("a secret leaked into the gate's output")
		}
	}
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func TestGateAllow(t *testing.T) {
	r := newRun(t)
	o := r.gate()
	if o.code != ExitAllow {
		t.Fatalf("exit %d, stderr:\n%s", o.code, o.stderr)
	}
	if o.outputs["decision"] != "allow" || o.outputs["reasons"] != "[]" {
		t.Errorf("outputs %v", o.outputs)
	}
	if id := o.evidence["identity"].(map[string]any); id["verified"] != true {
		t.Errorf("evidence identity %v", id)
	}
	// The token was masked before anything else used it.
	if !strings.Contains(o.stdout, "::add-mask::") {
		t.Error("no ::add-mask:: command in the runner's stdout")
	}
	r.assertNoSecrets(o)
	golden(t, "allow", r, o)
}

func TestGateDeny(t *testing.T) {
	r := newRun(t)
	r.claims["environment"] = "staging"
	r.claims["ref"] = "refs/heads/feature/x"
	o := r.gate()
	if o.code != ExitDeny {
		t.Fatalf("exit %d, stderr:\n%s", o.code, o.stderr)
	}
	if o.outputs["decision"] != "deny" {
		t.Errorf("decision output %q", o.outputs["decision"])
	}
	var reasons []map[string]string
	if err := json.Unmarshal([]byte(o.outputs["reasons"]), &reasons); err != nil || len(reasons) != 2 {
		t.Fatalf("reasons %q: %v", o.outputs["reasons"], err)
	}
	for _, want := range []string{`staging`, "refs/heads/feature/x"} {
		if !strings.Contains(o.outputs["reasons"], want) {
			t.Errorf("reasons do not name %s: %s", want, o.outputs["reasons"])
		}
	}
	if n := strings.Count(o.stdout, "::error title=airlock C1::"); n != 2 {
		t.Errorf("%d C1 error annotations, expected 2:\n%s", n, o.stdout)
	}
	r.assertNoSecrets(o)
	golden(t, "deny", r, o)
}

func TestGateDenies(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(r *gateRun)
		reason string
	}{
		{"no environment claim", func(r *gateRun) { delete(r.claims, "environment") }, "no environment claim"},
		{"self-hosted runner", func(r *gateRun) { r.claims["runner_environment"] = "self-hosted" }, "self-hosted"},
		{"workflow not pinned one", func(r *gateRun) { r.env["INPUT_WORKFLOW"] = "acme/support-agent/.github/workflows/other.yml" }, "pinned workflow"},
		{"repository id", func(r *gateRun) { r.env["INPUT_REPOSITORY-ID"] = "1" }, "repository id"},
		{"hint mismatch", func(r *gateRun) { r.env["GITHUB_REPOSITORY"] = "evil/fork" }, "GITHUB_REPOSITORY"},
		{"expired token", func(r *gateRun) {
			now := time.Now()
			r.claims["iat"] = now.Add(-20 * time.Minute).Unix()
			r.claims["nbf"] = now.Add(-25 * time.Minute).Unix()
			r.claims["exp"] = now.Add(-10 * time.Minute).Unix()
		}, "expired"},
		{"wrong audience", func(r *gateRun) { r.claims["aud"] = "someone-else" }, "audience"},
		{"tag allowed but not this branch", func(r *gateRun) { r.env["INPUT_ALLOWED-REFS"] = "refs/tags/*" }, "not an allowed ref"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRun(t)
			tt.mutate(r)
			o := r.gate()
			if o.code != ExitDeny || o.outputs["decision"] != "deny" {
				t.Fatalf("exit %d decision %q, stderr:\n%s", o.code, o.outputs["decision"], o.stderr)
			}
			if !strings.Contains(o.outputs["reasons"], tt.reason) {
				t.Errorf("reasons do not mention %q: %s", tt.reason, o.outputs["reasons"])
			}
			r.assertNoSecrets(o)
		})
	}
}

func TestGateBadInput(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(r *gateRun)
		msg    string
	}{
		{"outside actions", func(r *gateRun) { delete(r.env, "ACTIONS_ID_TOKEN_REQUEST_URL") }, "ACTIONS_ID_TOKEN_REQUEST_URL is not set"},
		{"no request token", func(r *gateRun) { delete(r.env, "ACTIONS_ID_TOKEN_REQUEST_TOKEN") }, "ACTIONS_ID_TOKEN_REQUEST_TOKEN is not set"},
		{"no GITHUB_OUTPUT", func(r *gateRun) { delete(r.env, "GITHUB_OUTPUT") }, "GITHUB_OUTPUT is not set"},
		{"bad boolean", func(r *gateRun) { r.env["INPUT_ALLOW-SELF-HOSTED"] = "yes" }, `input allow-self-hosted: "yes"`},
		{"bad repository id", func(r *gateRun) { r.env["INPUT_REPOSITORY-ID"] = "acme" }, "input repository-id"},
		{"bad ref pattern", func(r *gateRun) { r.env["INPUT_ALLOWED-REFS"] = "main" }, `allowed-refs[0]: "main"`},
		{"bad timeout", func(r *gateRun) { r.env["INPUT_TIMEOUT"] = "forever" }, "input timeout"},
		{"http issuer off loopback", func(r *gateRun) { r.env["INPUT_OIDC-ISSUER"] = "http://token.example.com" }, "http://token.example.com"},
		{"missing policy dir", func(r *gateRun) { r.env["INPUT_POLICY"] = filepath.Join(r.dir, "nope") }, "nope"},
		{"policy syntax error", func(r *gateRun) {
			d := filepath.Join(r.dir, "pol")
			os.Mkdir(d, 0o700)
			os.WriteFile(filepath.Join(d, "broken.rego"), []byte("package airlock\n\ndeny contains x if {\n"), 0o600)
			r.env["INPUT_POLICY"] = d
		}, "broken.rego:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRun(t)
			tt.mutate(r)
			o := r.gate()
			if o.code != ExitUsage {
				t.Fatalf("exit %d, expected %d; stderr:\n%s", o.code, ExitUsage, o.stderr)
			}
			if !strings.Contains(o.stderr, tt.msg) {
				t.Errorf("stderr does not say %q:\n%s", tt.msg, o.stderr)
			}
			if o.outputs["decision"] == "allow" {
				t.Error("decision output allow on an error")
			}
		})
	}
}

func TestGateUndefinedPolicyDenies(t *testing.T) {
	r := newRun(t)
	d := filepath.Join(r.dir, "pol")
	os.Mkdir(d, 0o700)
	// A decision that loads (it is read) but is undefined at evaluation.
	os.WriteFile(filepath.Join(d, "main.rego"), []byte("package airlock\n\ndecision := {\"allow\": true} if input.nope\n"), 0o600)
	r.env["INPUT_POLICY"] = d
	o := r.gate()
	if o.code != ExitDeny || !strings.Contains(o.outputs["reasons"], "undefined") {
		t.Fatalf("exit %d reasons %s\n%s", o.code, o.outputs["reasons"], o.stderr)
	}
}

func TestGateOperationalFaults(t *testing.T) {
	tests := []struct {
		name  string
		route string
		fault githubsim.Fault
		msg   string
	}{
		{"jwks 500", "oidc-jwks", githubsim.Fault{Status: 500}, "jwks"},
		{"discovery 500", "oidc-discovery", githubsim.Fault{Status: 500}, "openid-configuration"},
		{"token endpoint timeout", "actions-token", githubsim.Fault{Delay: 3 * time.Second}, "token"},
		{"token endpoint 500", "actions-token", githubsim.Fault{Status: 500}, "token"},
		{"repository API 500", "GET /repos/{owner}/{repo}", githubsim.Fault{Status: 500}, "default branch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRun(t)
			if tt.fault.Delay > 0 {
				// Only the hang needs a short deadline; the others must fail
				// on their fault, not on a loaded machine's clock.
				r.env["INPUT_TIMEOUT"] = "1s"
			}
			r.sim.InjectFault(tt.route, tt.fault)
			o := r.gate()
			if o.code != ExitOperational {
				t.Fatalf("exit %d, expected %d; stderr:\n%s", o.code, ExitOperational, o.stderr)
			}
			if !strings.Contains(strings.ToLower(o.stderr), tt.msg) {
				t.Errorf("stderr does not mention %q:\n%s", tt.msg, o.stderr)
			}
			if o.outputs["decision"] != "" {
				t.Errorf("an operational failure wrote decision=%q", o.outputs["decision"])
			}
			if !strings.Contains(o.stdout, "::error title=airlock could not decide::") {
				t.Errorf("no error annotation:\n%s", o.stdout)
			}
			r.assertNoSecrets(o)
		})
	}
}

var (
	reTmp    = regexp.MustCompile(`(airlock|gate|check|attest)-[0-9]+`)
	reDigest = regexp.MustCompile(`sha256:[0-9a-f]{64}`)
	reURL    = regexp.MustCompile(`http://127\.0\.0\.1:[0-9]+`)
)

// golden compares what users read (step summary and outputs) with
// testdata/<name>.summary.md and .outputs.json; -update rewrites them.
func golden(t *testing.T, name string, r *gateRun, o outcome) {
	t.Helper()
	norm := func(s string) string {
		s = strings.ReplaceAll(s, r.dir, "<RUNNER>")
		s = reTmp.ReplaceAllString(s, "$1-<N>")
		s = reDigest.ReplaceAllString(s, "sha256:<DIGEST>")
		return reURL.ReplaceAllString(s, "http://<SIM>")
	}
	outs, _ := json.MarshalIndent(o.rawOutputs, "", "  ")
	for file, got := range map[string]string{
		name + ".summary.md":   norm(o.summary),
		name + ".outputs.json": norm(string(outs)) + "\n",
	} {
		p := filepath.Join("testdata", file)
		if *update {
			if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("%v (run with -update to create)", err)
		}
		if string(want) != got {
			t.Errorf("%s differs (run go test ./internal/cli -update after checking):\n--- got\n%s\n--- want\n%s", p, got, want)
		}
	}
}

const approvalsRoute = "GET /repos/{owner}/{repo}/actions/runs/{run_id}/approvals"

func (r *gateRun) runID() int64 {
	id, err := strconv.ParseInt(r.claims["run_id"].(string), 10, 64)
	if err != nil {
		r.t.Fatal(err)
	}
	return id
}

func (r *gateRun) approve(login string, id int64, state, comment string) {
	r.sim.AddRunApproval("acme", "support-agent", r.runID(), githubsim.Approval{
		State: state, Comment: comment, User: githubsim.User{Login: login, ID: id}, Environments: []string{"production"},
	})
}

func (r *gateRun) environment(mutate func(*githubsim.Environment)) {
	env := githubsim.DefaultProductionEnvironment("acme")
	mutate(&env)
	r.sim.SetEnvironment("acme", "support-agent", env)
}

// orgToken gives the gate a github-token that can read org teams, as a
// GitHub App installation token with members: read would.
func (r *gateRun) orgToken() {
	tok := "ghs_ORGreader0123456789abcdef"
	r.sim.AddToken(tok, append([]string{"members:read"}, githubsim.DefaultJobPermissions...)...)
	r.env["INPUT_GITHUB-TOKEN"] = tok
}

func TestGateApprovalDenies(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(r *gateRun)
		reason string
	}{
		{"self-approval", func(r *gateRun) {
			r.env["INPUT_APPROVERS"] = "release-manager, octo-dev"
			r.approve(githubsim.DefaultActor, githubsim.DefaultActorID, "approved", "mine")
		}, "octo-dev approved a promotion to \\\"production\\\" that they started themselves"},
		{"self-approval by the re-run's triggering actor", func(r *gateRun) {
			r.sim.SetRun("acme", "support-agent", githubsim.Run{ID: r.runID(), TriggeringActor: githubsim.User{Login: githubsim.DefaultApprover, ID: githubsim.DefaultApproverID}})
		}, "release-manager approved a promotion"},
		{"rejection", func(r *gateRun) { r.approve("security-lead", 4242, "rejected", "pen test first") }, `security-lead rejected the promotion`},
		{"stale approval", func(r *gateRun) {
			r.sim.SetRun("acme", "support-agent", githubsim.Run{ID: r.runID(), CreatedAt: time.Now().Add(-30 * time.Hour)})
		}, "cannot be shown to be younger than 24h00m"},
		{"max-approval-age tightened by the workflow", func(r *gateRun) {
			r.sim.SetRun("acme", "support-agent", githubsim.Run{ID: r.runID(), CreatedAt: time.Now().Add(-2 * time.Hour)})
			r.env["INPUT_MAX-APPROVAL-AGE"] = "1h"
		}, "younger than 1h00m"},
		{"quorum of two", func(r *gateRun) { r.env["INPUT_MIN-APPROVALS"] = "2" }, "1 distinct named approver(s) approved the promotion to \\\"production\\\", 2 required"},
		{"approver not named", func(r *gateRun) { r.env["INPUT_APPROVERS"] = "someone-else" }, "0 distinct named approver(s)"},
		{"no approvers named", func(r *gateRun) { r.env["INPUT_APPROVERS"] = "" }, "no approvers are named"},
		{"no required reviewers", func(r *gateRun) {
			r.environment(func(e *githubsim.Environment) { e.RequiredReviewers = nil })
		}, "has no required reviewers"},
		{"self-review allowed", func(r *gateRun) {
			r.environment(func(e *githubsim.Environment) { e.PreventSelfReview = false })
		}, "prevent self-review"},
		{"admin bypass on", func(r *gateRun) {
			r.environment(func(e *githubsim.Environment) { e.CanAdminsBypass = githubsim.Bool(true) })
		}, "lets administrators bypass"},
		{"admin bypass not reported", func(r *gateRun) {
			r.environment(func(e *githubsim.Environment) { e.CanAdminsBypass = nil })
		}, "can_admins_bypass missing"},
		{"any branch may deploy", func(r *gateRun) {
			r.environment(func(e *githubsim.Environment) { e.DeploymentBranchPolicy = nil })
		}, "lets any branch deploy"},
		{"environment missing", func(r *gateRun) { r.sim.DeleteEnvironment("acme", "support-agent", "production") },
			`environment \"production\" does not exist or the token cannot read it`},
		{"team membership unknown with the job token", func(r *gateRun) {
			r.env["INPUT_APPROVERS"] = "acme/release-approvers"
			r.sim.SetTeamMember("acme", githubsim.DefaultTeam, githubsim.DefaultApprover, "active")
		}, "whether release-manager is a member of acme/release-approvers is unknown"},
		{"one team short of a two-team quorum", func(r *gateRun) {
			r.orgToken()
			r.env["INPUT_APPROVERS"] = "1 of acme/release-approvers\n1 of acme/security"
			r.sim.SetTeamMember("acme", githubsim.DefaultTeam, githubsim.DefaultApprover, "active")
			r.sim.SetTeamMember("acme", "security", githubsim.DefaultApprover, "active")
		}, "approvers line 2 (acme/security) needs 1 distinct approver(s), found 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRun(t)
			tt.mutate(r)
			o := r.gate()
			if o.code != ExitDeny || o.outputs["decision"] != "deny" {
				t.Fatalf("exit %d decision %q, stderr:\n%s", o.code, o.outputs["decision"], o.stderr)
			}
			if !strings.Contains(o.outputs["reasons"], tt.reason) {
				t.Errorf("reasons do not mention %q: %s", tt.reason, o.outputs["reasons"])
			}
			if !strings.Contains(o.stdout, "::error title=airlock C4::") {
				t.Errorf("no C4 annotation:\n%s", o.stdout)
			}
			r.assertNoSecrets(o, r.env["INPUT_GITHUB-TOKEN"])
		})
	}
}

func TestGateApprovalAllows(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(r *gateRun)
	}{
		{"named user", func(*gateRun) {}},
		{"login case differs", func(r *gateRun) { r.env["INPUT_APPROVERS"] = "Release-Manager" }},
		{"active team member with an org token", func(r *gateRun) {
			r.orgToken()
			r.env["INPUT_APPROVERS"] = "acme/release-approvers"
			r.sim.SetTeamMember("acme", githubsim.DefaultTeam, githubsim.DefaultApprover, "active")
		}},
		{"two teams, two people", func(r *gateRun) {
			r.orgToken()
			r.env["INPUT_APPROVERS"] = "1 of acme/release-approvers\n1 of acme/security"
			r.env["INPUT_MIN-APPROVALS"] = "2"
			r.sim.SetTeamMember("acme", githubsim.DefaultTeam, githubsim.DefaultApprover, "active")
			r.sim.SetTeamMember("acme", "security", githubsim.DefaultApprover, "active")
			r.sim.SetTeamMember("acme", "security", "sec-lead", "active")
			r.approve("sec-lead", 5150, "approved", "threat model reviewed")
		}},
		{"approval for another environment is ignored", func(r *gateRun) {
			r.sim.AddRunApproval("acme", "support-agent", r.runID(), githubsim.Approval{
				State: "rejected", User: githubsim.User{Login: "qa-lead", ID: 31}, Environments: []string{"qa"},
			})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRun(t)
			tt.mutate(r)
			o := r.gate()
			if o.code != ExitAllow {
				t.Fatalf("exit %d reasons %s, stderr:\n%s", o.code, o.outputs["reasons"], o.stderr)
			}
			ap := o.evidence["approvals"].(map[string]any)
			if ap["status"] != "ok" || len(ap["approvers"].([]any)) == 0 {
				t.Errorf("approvals evidence: %v", ap)
			}
			r.assertNoSecrets(o, r.env["INPUT_GITHUB-TOKEN"])
		})
	}
}

// TestGateApprovalEvidence checks what the signed record will carry: the
// approver's login, id and comment, and the environment's settings, with
// unknowns as null.
func TestGateApprovalEvidence(t *testing.T) {
	r := newRun(t)
	o := r.gate()
	if o.code != ExitAllow {
		t.Fatalf("exit %d: %s", o.code, o.stderr)
	}
	var ev struct {
		Approvals struct {
			Status      string `json:"status"`
			Environment struct {
				PreventSelfReview *bool `json:"prevent_self_review"`
				CanAdminsBypass   *bool `json:"can_admins_bypass"`
			} `json:"environment"`
			Approvals []struct {
				Login   string     `json:"login"`
				UserID  int64      `json:"user_id"`
				Comment string     `json:"comment"`
				Time    *time.Time `json:"time"`
			} `json:"approvals"`
			Approvers  []string `json:"approvers"`
			AgeSeconds *int64   `json:"age_seconds"`
			AgeSource  string   `json:"age_source"`
		} `json:"approvals"`
	}
	if err := json.Unmarshal([]byte(o.evidenceRaw), &ev); err != nil {
		t.Fatal(err)
	}
	a := ev.Approvals
	if a.Status != "ok" || len(a.Approvals) != 1 || a.Approvals[0].Login != githubsim.DefaultApprover ||
		a.Approvals[0].UserID != githubsim.DefaultApproverID || a.Approvals[0].Comment != "Ship it!" || a.Approvals[0].Time != nil ||
		len(a.Approvers) != 1 || a.AgeSeconds == nil || a.AgeSource != "run.created_at" ||
		a.Environment.PreventSelfReview == nil || a.Environment.CanAdminsBypass == nil || *a.Environment.CanAdminsBypass {
		t.Errorf("approvals evidence:\n%s", o.evidenceRaw)
	}
	for _, want := range []string{"release-manager | approved | production | ✅ | Ship it!"} {
		if !strings.Contains(o.summary, want) {
			t.Errorf("step summary lacks %q:\n%s", want, o.summary)
		}
	}
	if !strings.Contains(o.stderr, `release-manager approved production (counts): "Ship it!"`) {
		t.Errorf("terminal report lacks the approver and comment:\n%s", o.stderr)
	}
}

// TestGateApprovalCommentIsEscaped: an approver's comment is data. It must
// not add markdown structure, HTML or workflow commands anywhere.
func TestGateApprovalCommentIsEscaped(t *testing.T) {
	r := newRun(t)
	evil := "ok | <img src=x onerror=alert(1)> [x](https://evil.example)\n::error::forged\r\n## Heading\x1b[2J"
	r.approve("security-lead", 4242, "rejected", evil)
	o := r.gate()
	if o.code != ExitDeny {
		t.Fatalf("exit %d: %s", o.code, o.stderr)
	}
	for _, bad := range []string{"<img", "\n::error::forged", "\n## Heading", "[x](https://evil.example)", "\x1b"} {
		if strings.Contains(o.summary, bad) {
			t.Errorf("step summary carries %q:\n%s", bad, o.summary)
		}
		if strings.Contains(o.stderr, bad) && bad != "<img" && bad != "[x](https://evil.example)" {
			t.Errorf("terminal report carries %q:\n%s", bad, o.stderr)
		}
	}
	for _, line := range strings.Split(o.stdout, "\n") {
		if strings.HasPrefix(line, "::error::forged") || strings.HasPrefix(line, "## Heading") {
			t.Errorf("a comment forged a runner line: %q", line)
		}
	}
	if !strings.Contains(o.summary, "&lt;img") {
		t.Errorf("the comment is not shown escaped:\n%s", o.summary)
	}
}

func TestGateApprovalOperationalFaults(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(r *gateRun)
		msg    string
	}{
		{"token without actions: read", func(r *gateRun) {
			r.sim.AddToken("ghs_contents_only", "contents:read")
			r.env["INPUT_GITHUB-TOKEN"] = "ghs_contents_only"
		}, "actions: read"},
		{"approvals malformed", func(r *gateRun) {
			r.sim.InjectFault(approvalsRoute, githubsim.Fault{Body: []byte(`[{"state":"approved","user":`)})
		}, "decode approvals"},
		{"rate limited past the deadline", func(r *gateRun) {
			r.sim.InjectFault(approvalsRoute, githubsim.Fault{Status: 429, RetryAfter: "30"})
		}, "rate limited"},
		{"environment API 502", func(r *gateRun) {
			r.sim.InjectFault("GET /repos/{owner}/{repo}/environments/{environment_name}", githubsim.Fault{Status: 502})
		}, "502"},
		{"team API 500", func(r *gateRun) {
			r.orgToken()
			r.env["INPUT_APPROVERS"] = "acme/release-approvers"
			r.sim.InjectFault("GET /orgs/{org}/teams/{team_slug}/memberships/{username}", githubsim.Fault{Status: 500})
		}, "membership of release-manager"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRun(t)
			r.env["INPUT_TIMEOUT"] = "10s" // under the 30s Retry-After, well over retries on a loaded machine
			tt.mutate(r)
			o := r.gate()
			if o.code != ExitOperational {
				t.Fatalf("exit %d, expected %d; stderr:\n%s", o.code, ExitOperational, o.stderr)
			}
			if !strings.Contains(o.stderr, tt.msg) {
				t.Errorf("stderr does not mention %q:\n%s", tt.msg, o.stderr)
			}
			if o.outputs["decision"] != "" {
				t.Errorf("an operational failure wrote decision=%q", o.outputs["decision"])
			}
			r.assertNoSecrets(o, r.env["INPUT_GITHUB-TOKEN"])
		})
	}
}

func TestGateApprovalBadInput(t *testing.T) {
	tests := []struct {
		name, input, value, msg string
	}{
		{"approvers syntax", "APPROVERS", "release manager", `"release manager" is neither`},
		{"approvers count", "APPROVERS", "3 of alice, bob", "3 approvers required from 2 named people"},
		{"min-approvals word", "MIN-APPROVALS", "two", `input min-approvals: "two"`},
		{"min-approvals zero", "MIN-APPROVALS", "0", "min-approvals: expected 1 to 100"},
		{"max-approval-age", "MAX-APPROVAL-AGE", "1 day", `input max-approval-age: "1 day"`},
		{"max-approval-age too long", "MAX-APPROVAL-AGE", "1000h", "max-approval-age: expected 1m"},
		{"approval-source", "APPROVAL-SOURCE", "issue", `input approval-source: "issue"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRun(t)
			r.env["INPUT_"+tt.input] = tt.value
			o := r.gate()
			if o.code != ExitUsage {
				t.Fatalf("exit %d, expected %d; stderr:\n%s", o.code, ExitUsage, o.stderr)
			}
			if !strings.Contains(o.stderr, tt.msg) {
				t.Errorf("stderr does not say %q:\n%s", tt.msg, o.stderr)
			}
		})
	}
}

// TestGateApprovalAPICalls counts the GitHub API calls one gate run makes for
// approval evidence (one page of approvals, approvers named by login): the
// environment, its custom rules, the run, and the run's approvals.
func TestGateApprovalAPICalls(t *testing.T) {
	r := newRun(t)
	o := r.gate()
	if o.code != ExitAllow {
		t.Fatalf("exit %d: %s", o.code, o.stderr)
	}
	counts := map[string]int{}
	for _, req := range r.sim.Requests() {
		if req.OperationID != "" {
			counts[req.OperationID]++
		}
	}
	want := map[string]int{
		"repos/get":             1, // the default branch, for allowed-refs (not approvals)
		"repos/get-environment": 1,
		"repos/get-all-deployment-protection-rules": 1,
		"actions/get-workflow-run":                  1,
		"actions/get-reviews-for-run":               1,
	}
	if !maps.Equal(counts, want) {
		t.Errorf("REST calls: expected %v, got %v", want, counts)
	}
	t.Logf("approval evidence: %d REST calls; the whole gate run: %d requests to the simulator (REST and OIDC)", len(want)-1, len(r.sim.Requests()))
}

func TestGatePullRequestMode(t *testing.T) {
	r := newRun(t)
	r.env["INPUT_APPROVAL-SOURCE"] = "pull-request"
	r.claims["ref"] = "refs/pull/9/merge"
	r.claims["event_name"] = "pull_request"
	r.env["INPUT_ALLOWED-REFS"] = "refs/pull/*"
	sha := r.claims["sha"].(string)
	r.sim.SetPullRequest("acme", "support-agent", githubsim.PullRequest{Number: 9, HeadSHA: "feed", MergeCommitSHA: sha})
	r.sim.AddReview("acme", "support-agent", 9, githubsim.Review{User: githubsim.User{Login: githubsim.DefaultApprover, ID: githubsim.DefaultApproverID}, Body: "LGTM"})
	o := r.gate()
	if o.code != ExitAllow {
		t.Fatalf("exit %d reasons %s\n%s", o.code, o.outputs["reasons"], o.stderr)
	}
	if !strings.Contains(o.summary, "release-manager | approved | commit feed | ✅ | LGTM") {
		t.Errorf("summary:\n%s", o.summary)
	}

	// A new commit on the PR: the approval was for the old head.
	r.sim.SetPullRequest("acme", "support-agent", githubsim.PullRequest{Number: 9, HeadSHA: "beef", MergeCommitSHA: sha})
	o = r.gate()
	if o.code != ExitDeny || !strings.Contains(o.outputs["reasons"], "0 distinct named approver(s)") {
		t.Fatalf("exit %d reasons %s", o.code, o.outputs["reasons"])
	}
}

// TestApprovalEvidenceMatchesSchema: every shape of the approvals section
// the gate writes is the one schema/evidence.schema.json documents.
func TestApprovalEvidenceMatchesSchema(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(r *gateRun)
	}{
		{"allow", func(*gateRun) {}},
		{"unverified token", func(r *gateRun) { r.claims["aud"] = "someone-else" }},
		{"environment missing", func(r *gateRun) { r.sim.DeleteEnvironment("acme", "support-agent", "production") }},
		{"unknown settings and a rejection", func(r *gateRun) {
			r.environment(func(e *githubsim.Environment) {
				e.CanAdminsBypass, e.DeploymentBranchPolicy, e.WaitTimer = nil, nil, 5
				e.CustomRules = []githubsim.CustomRule{{ID: 1, AppID: 2, AppSlug: "freeze", Enabled: true}}
			})
			r.approve("security-lead", 4242, "rejected", "no")
		}},
		{"teams", func(r *gateRun) {
			r.env["INPUT_APPROVERS"] = "1 of acme/release-approvers\n2 of alice, bob, acme/security"
		}},
		{"pull request", func(r *gateRun) {
			r.env["INPUT_APPROVAL-SOURCE"] = "pull-request"
			r.claims["ref"] = "refs/pull/3/merge"
			r.sim.SetPullRequest("acme", "support-agent", githubsim.PullRequest{Number: 3, MergeCommitSHA: r.claims["sha"].(string)})
			r.sim.AddReview("acme", "support-agent", 3, githubsim.Review{User: githubsim.User{Login: githubsim.DefaultApprover, ID: githubsim.DefaultApproverID}})
		}},
		{"not a pull request", func(r *gateRun) { r.env["INPUT_APPROVAL-SOURCE"] = "pull-request" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRun(t)
			tt.mutate(r)
			o := r.gate()
			if o.evidence == nil {
				t.Fatalf("no evidence (exit %d): %s", o.code, o.stderr)
			}
			assertMatchesSchema(t, "evidence.schema.json", o.evidence)
		})
	}
}

// TestGateRefusesAnAllowWithoutIdentity: a policy directory with its own
// main.rego replaces the defaults and their C1 rules. Even one that allows
// everything cannot allow a run whose token did not verify: the gate checks
// again in Go, and nothing is signed.
func TestGateRefusesAnAllowWithoutIdentity(t *testing.T) {
	permissive := "package airlock\n\ndecision := {\"allow\": true, \"deny\": [], \"warn\": [], \"requirements\": [], \"checked\": [], \"grants\": {}}\n"
	for _, tc := range []struct {
		name   string
		mutate func(r *gateRun)
		code   int
	}{
		{"verified: the permissive policy allows", func(*gateRun) {}, ExitAllow},
		{"not verified: refused", func(r *gateRun) { r.claims["aud"] = "someone-else" }, ExitDeny},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRun(t)
			d := filepath.Join(r.dir, "pol")
			if err := os.Mkdir(d, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(d, "main.rego"), []byte(permissive), 0o600); err != nil {
				t.Fatal(err)
			}
			r.env["INPUT_POLICY"] = d
			tc.mutate(r)
			o := r.gate()
			if o.code != tc.code {
				t.Fatalf("exit %d, expected %d\n%s", o.code, tc.code, o.stderr)
			}
			if tc.code == ExitDeny && (o.outputs["decision"] != "deny" || !strings.Contains(o.outputs["reasons"], "no policy can waive C1")) {
				t.Errorf("decision %q reasons %s", o.outputs["decision"], o.outputs["reasons"])
			}
		})
	}
}
