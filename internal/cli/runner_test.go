package cli

// The action as GitHub's runner loads and runs it: the workflows users copy
// (README's example, docs/examples, .github/workflows) are read from their
// files, their airlock step is turned into the environment the runner gives
// a Docker action, and the built binary runs as runs: composes it (the
// Dockerfile's ENTRYPOINT plus runs.args) inside a root of its own where the
// workspace, the runner's file commands and home sit at the container's
// paths. What it outputs is then opened from the host's side, as the next
// step would.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"net/http"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/airlock-dev/airlock/internal/sigstoresim"
)

// workflowFile is the part of a workflow the runner needs for one step.
type workflowFile struct {
	Jobs map[string]struct {
		Permissions any `yaml:"permissions"`
		Steps       []workflowStep
	} `yaml:"jobs"`
}

type workflowStep struct {
	ID   string            `yaml:"id"`
	Name string            `yaml:"name"`
	Uses string            `yaml:"uses"`
	With map[string]string `yaml:"with"`
	Env  map[string]string `yaml:"env"`
	Run  string            `yaml:"run"`
}

func (s workflowStep) isAirlock() bool {
	return s.Uses == "./" || strings.HasPrefix(s.Uses, "airlock-dev/airlock@")
}

// exampleWorkflows are the workflows users read and copy, by where they
// come from: files, and README's first YAML block under "The minimal workflow".
func exampleWorkflows(t *testing.T) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, glob := range []string{".github/workflows/*.yml", "docs/examples/*.yml", "testdata/workflows/*.yml"} {
		files, err := filepath.Glob(filepath.Join(repoRoot, glob))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			rel, _ := filepath.Rel(repoRoot, f)
			out[rel] = b
		}
	}
	out[readmeExample] = readmeWorkflow(t)
	return out
}

const readmeExample = `README.md "The minimal workflow"`

// readmeWorkflowHeading is the README section whose first yaml block is the
// workflow the tests run as the runner would, and doctor checks.
const readmeWorkflowHeading = "### 2. The minimal workflow"

func readmeWorkflow(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "\n"+readmeWorkflowHeading+"\n")
	if i < 0 {
		t.Fatalf("README.md has no %q section", readmeWorkflowHeading)
	}
	s = s[i:]
	start := strings.Index(s, "\n```yaml\n")
	if start < 0 {
		t.Fatalf("README.md %q has no yaml block", readmeWorkflowHeading)
	}
	s = s[start+len("\n```yaml\n"):]
	end := strings.Index(s, "\n```")
	return []byte(s[:end+1])
}

func parseWorkflow(t *testing.T, name string, b []byte) workflowFile {
	t.Helper()
	var wf workflowFile
	if err := yamlUnmarshal(b, &wf); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return wf
}

var reStepOutput = regexp.MustCompile(`steps\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+)`)

// TestExampleWorkflowsAgreeWithTheAction checks every airlock step of the
// workflows users copy against action.yml: each `with:` key is a declared
// input, required inputs are given, and every steps.<id>.outputs.<name> of
// an airlock step is a declared output. (make lint checks the same with
// actionlint; this holds without it.)
func TestExampleWorkflowsAgreeWithTheAction(t *testing.T) {
	m := loadAction(t)
	found := 0
	for name, b := range exampleWorkflows(t) {
		wf := parseWorkflow(t, name, b)
		for job, j := range wf.Jobs {
			ids := map[string]bool{}
			for _, s := range j.Steps {
				if !s.isAirlock() {
					continue
				}
				found++
				if s.ID != "" {
					ids[s.ID] = true
				}
				for k := range s.With {
					if _, ok := m.Inputs[k]; !ok {
						t.Errorf("%s job %s: with: %q is not an input of action.yml", name, job, k)
					}
				}
				for k, in := range m.Inputs {
					if _, given := s.With[k]; in.Required && !given {
						t.Errorf("%s job %s: required input %q is missing", name, job, k)
					}
				}
			}
			for _, mm := range reStepOutput.FindAllStringSubmatch(string(b), -1) {
				if _, ok := m.Outputs[mm[2]]; ids[mm[1]] && !ok {
					t.Errorf("%s job %s: steps.%s.outputs.%s is not an output of action.yml", name, job, mm[1], mm[2])
				}
			}
		}
	}
	if found < 3 {
		t.Fatalf("found %d airlock steps in the example workflows: the scan is broken", found)
	}
}

// TestExampleWorkflowsLintAgainstTheAction runs actionlint (as make lint
// builds it) on every example with its airlock step taken from a copy of
// this checkout's action.yml, so that actionlint parses the metadata the way
// the runner does.
func TestExampleWorkflowsLintAgainstTheAction(t *testing.T) {
	bin := filepath.Join(os.Getenv("AIRLOCK_TOOLS"), "actionlint-v1.7.12", "actionlint")
	if _, err := os.Stat(bin); os.Getenv("AIRLOCK_TOOLS") == "" || err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("actionlint not found at %s: make test builds it (make lint)", bin)
		}
		t.Skipf("actionlint not built (run through make test, which builds it into AIRLOCK_TOOLS): %s", bin)
	}
	project := t.TempDir()
	action, err := os.ReadFile(filepath.Join(repoRoot, "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(project, "action.yml"), action, 0o644); err != nil {
		t.Fatal(err)
	}
	wfDir := filepath.Join(project, ".github", "workflows")
	if err := os.MkdirAll(wfDir, 0o755); err != nil {
		t.Fatal(err)
	}
	reUses := regexp.MustCompile(`uses: airlock-dev/airlock@\S+`)
	var files []string
	for name, b := range exampleWorkflows(t) {
		if !reUses.Match(b) {
			continue
		}
		f := filepath.Join(wfDir, strings.NewReplacer("/", "_", " ", "_", `"`, "").Replace(name)+".yml")
		if err := os.WriteFile(f, reUses.ReplaceAll(b, []byte("uses: ./")), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	if len(files) < 3 {
		t.Fatalf("only %d example workflows use the action", len(files))
	}
	cmd := exec.Command(bin, append([]string{"-shellcheck=", "-pyflakes="}, files...)...)
	cmd.Dir = project
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("actionlint: %v\n%s", err, out)
	}
}

// runnerContext expands the ${{ … }} expressions the example workflows use,
// as the runner would; an expression it does not know fails the test.
type runnerContext map[string]string

var reExpr = regexp.MustCompile(`\$\{\{\s*(.*?)\s*\}\}`)

func (c runnerContext) expand(t *testing.T, v string) string {
	t.Helper()
	return reExpr.ReplaceAllStringFunc(v, func(e string) string {
		key := reExpr.FindStringSubmatch(e)[1]
		val, ok := c[key]
		if !ok {
			t.Fatalf("expression %q: the runner emulation does not know it; add it to the context", e)
		}
		return val
	})
}

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// shippedBinary builds airlock and airlock-rego side by side, as installed
// (static, trimmed), and returns airlock's path.
func shippedBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "airlock-runner-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "airlock")
		for _, name := range []string{"airlock", "airlock-rego"} {
			cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", filepath.Join(dir, name), "../../cmd/"+name)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build %s: %v\n%s", name, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// shippedEngine is airlock-rego, built beside shippedBinary: the image's
// entrypoint.
func shippedEngine(t *testing.T) string {
	return filepath.Join(filepath.Dir(shippedBinary(t)), "airlock-rego")
}

// entrypoint reads the Dockerfile's exec-form ENTRYPOINT.
func entrypoint(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var ep []string
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(l), "ENTRYPOINT "); ok {
			if err := json.Unmarshal([]byte(rest), &ep); err != nil {
				t.Fatalf("Dockerfile ENTRYPOINT %s: not the exec form: %v", rest, err)
			}
		}
	}
	if len(ep) == 0 {
		t.Fatal("Dockerfile has no ENTRYPOINT")
	}
	return ep
}

// container is the root a Docker action sees: the image's binary at its
// entrypoint and the runner's mounts under /github. Host paths are under
// root; the process sees them at the container's paths.
type container struct {
	root      string
	workspace string // host side of /github/workspace
	output    string // host side of GITHUB_OUTPUT
	summary   string // host side of GITHUB_STEP_SUMMARY
}

func newContainer(t *testing.T, mountRunnerTemp bool) *container {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("the runner emulation needs root (chroot) and CI runs as root")
		}
		t.Skip("the runner emulation runs the action in a root of its own (chroot), which needs root; CI runs it")
	}
	c := &container{root: t.TempDir()}
	dirs := []string{"github/workspace", "github/home", "github/workflow", "github/file_commands"}
	if mountRunnerTemp {
		dirs = append(dirs, "github/runner_temp")
	}
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(c.root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	c.workspace = filepath.Join(c.root, "github", "workspace")
	c.output = filepath.Join(c.root, "github", "file_commands", "set_output_6f1c")
	c.summary = filepath.Join(c.root, "github", "file_commands", "step_summary_6f1c")
	// The runner creates the file commands as its own user (uid 1001 on
	// hosted runners) before the container starts.
	for _, f := range []string{c.output, c.summary} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(f, 1001, 1001); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(c.workspace, 1001, 1001); err != nil {
		t.Fatal(err)
	}
	ep := entrypoint(t)
	bin := filepath.Join(c.root, ep[0])
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(shippedEngine(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, src, 0o755); err != nil {
		t.Fatal(err)
	}
	return c
}

// runAction runs the airlock step of workflow as the runner runs a Docker
// action and returns the exit code, stderr and the outputs it wrote.
func runAction(t *testing.T, c *container, m *actionMeta, workflow, job string, ctx runnerContext, env map[string]string) (int, string, map[string]string) {
	t.Helper()
	var wf workflowFile
	b := map[string][]byte{readmeExample: readmeWorkflow(t)}[workflow]
	if b == nil {
		var err error
		if b, err = os.ReadFile(filepath.Join(repoRoot, workflow)); err != nil {
			t.Fatal(err)
		}
	}
	wf = parseWorkflow(t, workflow, b)
	j, ok := wf.Jobs[job]
	if !ok {
		t.Fatalf("%s has no job %s", workflow, job)
	}
	i := slices.IndexFunc(j.Steps, workflowStep.isAirlock)
	if i < 0 {
		t.Fatalf("%s job %s has no airlock step", workflow, job)
	}
	step := j.Steps[i]
	vars := map[string]string{}
	// Inputs: action.yml's defaults, then the step's with:, expressions
	// expanded; INPUT_ and the name upper-cased, hyphens kept.
	for name, in := range m.Inputs {
		if in.Default != nil {
			vars[inputVar(name)] = ctx.expand(t, *in.Default)
		}
	}
	for k, v := range step.With {
		vars[inputVar(k)] = ctx.expand(t, v)
	}
	for k, v := range step.Env {
		vars[k] = ctx.expand(t, v)
	}
	for k, v := range env {
		vars[k] = v
	}
	var list []string
	for k, v := range vars {
		list = append(list, k+"="+v)
	}
	ep := entrypoint(t)
	cmd := exec.Command(ep[0], append(ep[1:], m.Runs.Args...)...)
	cmd.Env = list
	cmd.Dir = "/github/workspace"
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: c.root}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	cmd.Stdout = &stderr
	code := 0
	if err := cmd.Run(); err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("run %v in the container: %v", cmd.Args, err)
		}
		code = ee.ExitCode()
	}
	b, err := os.ReadFile(c.output)
	if err != nil {
		t.Fatal(err)
	}
	return code, stderr.String(), parseOutputFile(t, string(b))
}

// runnerVars are the variables the runner sets for a Docker action, with
// the container's paths.
func runnerVars(r *gateRun, runnerTemp string) map[string]string {
	c := r.claims
	return map[string]string{
		"GITHUB_ACTIONS":                 "true",
		"CI":                             "true",
		"HOME":                           "/github/home",
		"GITHUB_WORKSPACE":               "/github/workspace",
		"GITHUB_OUTPUT":                  "/github/file_commands/set_output_6f1c",
		"GITHUB_STEP_SUMMARY":            "/github/file_commands/step_summary_6f1c",
		"GITHUB_EVENT_PATH":              "/github/workflow/event.json",
		"RUNNER_TEMP":                    runnerTemp,
		"GITHUB_API_URL":                 r.sim.APIURL(),
		"GITHUB_SERVER_URL":              "https://github.example",
		"ACTIONS_ID_TOKEN_REQUEST_URL":   r.sim.TokenRequestURL(),
		"ACTIONS_ID_TOKEN_REQUEST_TOKEN": r.sim.TokenRequestToken(),
		"GITHUB_REPOSITORY":              fmt.Sprint(c["repository"]),
		"GITHUB_REPOSITORY_ID":           fmt.Sprint(c["repository_id"]),
		"GITHUB_SHA":                     fmt.Sprint(c["sha"]),
		"GITHUB_REF":                     fmt.Sprint(c["ref"]),
		"GITHUB_RUN_ID":                  fmt.Sprint(c["run_id"]),
		"GITHUB_RUN_ATTEMPT":             fmt.Sprint(c["run_attempt"]),
		"GITHUB_EVENT_NAME":              fmt.Sprint(c["event_name"]),
		"GITHUB_ACTOR":                   fmt.Sprint(c["actor"]),
		"RUNNER_ENVIRONMENT":             "github-hosted",
	}
}

func contextOf(r *gateRun) runnerContext {
	return runnerContext{
		"github.repository":        fmt.Sprint(r.claims["repository"]),
		"github.repository_id":     fmt.Sprint(r.claims["repository_id"]),
		"github.token":             r.sim.JobToken(),
		"secrets.QA_AGENT_TOKEN":   "qa-agent-token-value",
		"vars.QA_CLIENT_ID":        "qa-client",
		"secrets.QA_CLIENT_SECRET": "qa-client-secret-value",
	}
}

// TestActionAsTheRunnerRunsIt: README's example, on a current runner (its
// temp mounted at /github/runner_temp) and an older one (RUNNER_TEMP names a
// host path the container does not have, actions/runner#1984).
func TestActionAsTheRunnerRunsIt(t *testing.T) {
	m := loadAction(t)
	for _, tc := range []struct {
		name       string
		mountTemp  bool
		runnerTemp string
	}{
		{"current runner", true, "/github/runner_temp"},
		{"older runner", false, "/home/runner/work/_temp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRun(t)
			r.sim.SetRunClaims(r.claims)
			ss := newSignedRunSigstore(t, r)
			c := newContainer(t, tc.mountTemp)
			if err := os.WriteFile(filepath.Join(c.workspace, "trusted_root.json"), ss.root, 0o644); err != nil {
				t.Fatal(err)
			}
			env := runnerVars(r, tc.runnerTemp)
			// Where this test's Sigstore is: a relative path input is
			// resolved against the workspace.
			env["INPUT_FULCIO-URL"] = ss.fulcio
			env["INPUT_TSA-URL"] = ss.tsa
			env["INPUT_TRANSPARENCY-LOG"] = "tsa"
			env["INPUT_TRUSTED-ROOT"] = "trusted_root.json"
			env["INPUT_OIDC-ISSUER"] = r.sim.IssuerURL()
			env["INPUT_PUBLISH-ATTESTATION"] = "true"
			code, stderr, outs := runAction(t, c, m, readmeExample, "promote", contextOf(r), env)
			if code != ExitAllow || outs["decision"] != "allow" || outs["attested"] != "true" {
				t.Fatalf("exit %d, outputs %v\n%s", code, outs, stderr)
			}
			for name := range outs {
				if _, ok := m.Outputs[name]; !ok {
					t.Errorf("output %q is not declared in action.yml", name)
				}
			}
			// The next step runs on the host, as the runner's user: every
			// path output opens from there, relative to the workspace.
			for _, k := range []string{"evidence-path", "decision-path", "bundle-path"} {
				v := outs[k]
				if v == "" || filepath.IsAbs(v) || !filepath.IsLocal(v) {
					t.Errorf("output %s = %q: expected a path relative to the workspace", k, v)
					continue
				}
				st, err := os.Stat(filepath.Join(c.workspace, v))
				if err != nil {
					t.Errorf("output %s = %q does not open from the host: %v", k, v, err)
					continue
				}
				if st.Mode().Perm()&0o004 == 0 {
					t.Errorf("output %s = %q: mode %v, not readable by the runner's user", k, v, st.Mode())
				}
			}
			var decision map[string]any
			b, _ := os.ReadFile(filepath.Join(c.workspace, outs["decision-path"]))
			if err := json.Unmarshal(b, &decision); err != nil || decision["allow"] != true {
				t.Errorf("decision document from the host: %v %s", err, b)
			}
			if b, err := os.ReadFile(filepath.Join(c.workspace, ".airlock", ".gitignore")); err != nil || !strings.Contains(string(b), "*") {
				t.Errorf(".airlock/.gitignore: %v %q", err, b)
			}
			summary, _ := os.ReadFile(c.summary)
			// ::add-mask:: commands exist to hand the runner its secrets.
			var printed []string
			for _, l := range strings.Split(stderr, "\n") {
				if !strings.HasPrefix(l, "::add-mask::") {
					printed = append(printed, l)
				}
			}
			all := strings.Join(printed, "\n") + string(summary) + strings.Join(mapValues(outs), "\n")
			if !strings.Contains(stderr, "::add-mask::"+r.sim.JobToken()) {
				t.Error("the github-token was not masked")
			}
			for _, secret := range []string{r.sim.JobToken(), r.sim.TokenRequestToken()} {
				if strings.Contains(all, secret) {
					t.Error("a secret reached the step's output")
				}
			}
		})
	}
}

// TestActionCheckModeAsTheRunnerRunsIt: the same entrypoint and runs.args
// with docs/examples' `mode: check` step reach the pull-request check.
func TestActionCheckModeAsTheRunnerRunsIt(t *testing.T) {
	m := loadAction(t)
	r, _ := newCheckRun(t)
	r.sim.SetRunClaims(r.claims)
	r.approveHead()
	c := newContainer(t, true)
	ev, _ := json.Marshal(map[string]any{"action": "synchronize", "pull_request": map[string]any{"number": checkPR, "head": map[string]any{"sha": checkHead}}})
	if err := os.WriteFile(filepath.Join(c.root, "github", "workflow", "event.json"), ev, 0o644); err != nil {
		t.Fatal(err)
	}
	env := runnerVars(r, "/github/runner_temp")
	env["INPUT_OIDC-ISSUER"] = r.sim.IssuerURL()
	env["QA_GITHUB_TOKEN"] = r.env["QA_GITHUB_TOKEN"]
	code, stderr, outs := runAction(t, c, m, "docs/examples/promotion-check.yml", "airlock", contextOf(r), env)
	if code != ExitAllow && code != ExitDeny {
		t.Fatalf("exit %d: the check did not run\n%s", code, stderr)
	}
	if outs["pull-request"] != fmt.Sprint(checkPR) || outs["head-sha"] != checkHead || outs["conclusion"] == "" {
		t.Fatalf("outputs %v: not the check's\n%s", outs, stderr)
	}
	runs := r.sim.CheckRuns("acme", "support-agent")
	if len(runs) != 1 || runs[0].HeadSHA != checkHead || runs[0].Conclusion != outs["conclusion"] {
		t.Fatalf("check runs %s, outputs %v", brief(runs...), outs)
	}
	if p := outs["decision-path"]; p != "" {
		if _, err := os.Stat(filepath.Join(c.workspace, p)); filepath.IsAbs(p) || err != nil {
			t.Errorf("decision-path %q does not open from the host: %v", p, err)
		}
	}
}

// localSigstore is an in-process Fulcio and timestamp authority trusting
// the simulator's OIDC issuer.
type localSigstore struct {
	ss          *sigstoresim.Server
	fulcio, tsa string
	root        []byte
}

func newSignedRunSigstore(t *testing.T, r *gateRun) localSigstore {
	t.Helper()
	ss, err := sigstoresim.New(sigstoresim.Config{Issuer: r.sim.IssuerURL(), HTTPClient: &http.Client{Timeout: 10 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ss.Close)
	root, err := ss.TrustedRootJSON()
	if err != nil {
		t.Fatal(err)
	}
	return localSigstore{ss: ss, fulcio: ss.FulcioURL(), tsa: ss.TSAURL(), root: root}
}

// yamlUnmarshal reads a workflow leniently: it has many keys the test
// does not need.
func yamlUnmarshal(b []byte, v any) error { return yaml.Unmarshal(b, v) }
