package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/airlock-dev/airlock/internal/doctor"
	"github.com/airlock-dev/airlock/internal/githubsim"
)

const doctorToken = "ghp_doctorToken0000000000000000000000000"

// doctorRun is a gate run (newRun: githubsim seeded with a correctly gated
// production environment) and the promotion workflow that would make it:
// the job's environment is the token's environment claim, the step's with:
// is the run's INPUT_* variables. Doctor reads the same simulator, the
// workflow file and the workspace as the repository's checkout.
type doctorRun struct {
	*gateRun
	perms   map[string]any // the job's permissions
	jobEnv  any            // the job's environment (nil: none)
	uses    string
	fixture string // testdata/manifests fixture copied into the checkout
}

func newDoctorRun(t *testing.T) *doctorRun {
	r := newRun(t)
	r.sim.AddToken(doctorToken, "actions:read")
	return &doctorRun{gateRun: r,
		perms:  map[string]any{"id-token": "write", "contents": "read", "actions": "read"},
		jobEnv: "production",
		uses:   "airlock-dev/airlock@0123456789abcdef0123456789abcdef01234567",
	}
}

func (d *doctorRun) workspace() string { return d.env["GITHUB_WORKSPACE"] }

// workflow writes .github/workflows/promote.yml into the checkout.
func (d *doctorRun) workflow() string {
	d.t.Helper()
	with := map[string]string{}
	for k, v := range d.env {
		if name, ok := strings.CutPrefix(k, "INPUT_"); ok {
			with[strings.ToLower(name)] = v
		}
	}
	job := map[string]any{"runs-on": "ubuntu-latest", "permissions": d.perms,
		"steps": []any{map[string]any{"uses": d.uses, "with": with}}}
	if d.jobEnv != nil {
		job["environment"] = d.jobEnv
	}
	b, err := yaml.Marshal(map[string]any{"name": "promote", "on": map[string]any{"push": nil},
		"permissions": map[string]any{"contents": "read"}, "jobs": map[string]any{"deploy": job}})
	if err != nil {
		d.t.Fatal(err)
	}
	p := filepath.Join(d.workspace(), ".github", "workflows", "promote.yml")
	os.MkdirAll(filepath.Dir(p), 0o700)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		d.t.Fatal(err)
	}
	return p
}

type doctorOutcome struct {
	code        int
	out, stderr string
	rep         doctor.Report
}

func (d *doctorRun) doctor(args ...string) doctorOutcome {
	d.t.Helper()
	if d.fixture != "" {
		for _, f := range []string{"qa.yaml", "production.yaml"} {
			b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "manifests", d.fixture, f))
			if err != nil {
				d.t.Fatal(err)
			}
			os.MkdirAll(filepath.Join(d.workspace(), "agent"), 0o700)
			os.WriteFile(filepath.Join(d.workspace(), "agent", f), b, 0o600)
		}
	}
	d.workflow()
	env := map[string]string{"GITHUB_TOKEN": doctorToken, "GITHUB_API_URL": d.sim.APIURL()}
	var stdout, stderr bytes.Buffer
	full := append([]string{"doctor", "--repo", "acme/support-agent", "--repo-dir", d.workspace(), "--output", "json"}, args...)
	code := Main(context.Background(), full, func(k string) string { return env[k] }, Stdio{In: strings.NewReader(""), Out: &stdout, Err: &stderr})
	o := doctorOutcome{code: code, out: stdout.String(), stderr: stderr.String()}
	if strings.Contains(o.out+o.stderr, doctorToken) {
		d.t.Fatal("the token is in doctor's output")
	}
	if o.out != "" {
		if err := json.Unmarshal(stdout.Bytes(), &o.rep); err != nil {
			d.t.Fatalf("doctor's JSON: %v\n%s", err, o.out)
		}
	}
	return o
}

// item returns the report's item of that check.
func (o doctorOutcome) item(t *testing.T, check string) doctor.Item {
	t.Helper()
	for _, it := range o.rep.Items {
		if it.Check == check {
			return it
		}
	}
	t.Fatalf("no item %q in %s", check, o.out)
	return doctor.Item{}
}

// gateReasons runs the gate as the workflow would and returns its deny
// reasons, and its error output for a run it refuses.
func (d *doctorRun) gateReasons(t *testing.T) ([]map[string]string, string, int) {
	t.Helper()
	o := d.gate()
	var reasons []map[string]string
	if s := o.outputs["reasons"]; s != "" {
		if err := json.Unmarshal([]byte(s), &reasons); err != nil {
			t.Fatalf("reasons %q: %v", s, err)
		}
	}
	return reasons, o.stderr, o.code
}

func TestDoctorWellConfiguredRepositoryPasses(t *testing.T) {
	d := newDoctorRun(t)
	o := d.doctor()
	if o.code != ExitAllow {
		t.Fatalf("exit %d\n%s\n%s", o.code, o.out, o.stderr)
	}
	if len(o.rep.Items) < 12 {
		t.Fatalf("only %d items:\n%s", len(o.rep.Items), o.out)
	}
	for _, it := range o.rep.Items {
		if it.Status != doctor.Pass {
			t.Errorf("%s: %s: %s", it.Check, it.Status, it.Message)
		}
	}
	for _, area := range []string{"environment", "workflow", "policy"} {
		if !strings.Contains(o.out, `"area": "`+area+`"`) {
			t.Errorf("no %s item", area)
		}
	}
	// And the gate agrees: this setup allows.
	if _, errs, code := d.gateReasons(t); code != ExitAllow {
		t.Fatalf("the gate does not allow the setup doctor passes: exit %d\n%s", code, errs)
	}
	// The table, as people read it.
	env := map[string]string{"GITHUB_TOKEN": doctorToken, "GITHUB_API_URL": d.sim.APIURL()}
	var out, errb bytes.Buffer
	code := Main(context.Background(), []string{"doctor", "--repo", "acme/support-agent", "--repo-dir", d.workspace()},
		func(k string) string { return env[k] }, Stdio{In: strings.NewReader(""), Out: &out, Err: &errb})
	if code != ExitAllow || !strings.Contains(out.String(), "pass         prevent self-review") || !strings.Contains(out.String(), "0 will deny · 0 cannot tell") {
		t.Fatalf("table: exit %d\n%s%s", code, out.String(), errb.String())
	}
}

// Each misconfiguration is one "will deny" item whose message is the
// reason the gate gives for it, word for word.
func TestDoctorMisconfigurationsAsTheGateWordsThem(t *testing.T) {
	for _, tc := range []struct {
		name, check, control string
		setup                func(d *doctorRun)
	}{
		{"no required reviewers", "required reviewers", "C4", func(d *doctorRun) {
			e := githubsim.DefaultProductionEnvironment("acme")
			e.RequiredReviewers = nil
			d.sim.SetEnvironment("acme", "support-agent", e)
		}},
		{"self-review allowed", "prevent self-review", "C4", func(d *doctorRun) {
			e := githubsim.DefaultProductionEnvironment("acme")
			e.PreventSelfReview = false
			d.sim.SetEnvironment("acme", "support-agent", e)
		}},
		{"administrators may bypass", "administrators bypass", "C4", func(d *doctorRun) {
			e := githubsim.DefaultProductionEnvironment("acme")
			e.CanAdminsBypass = githubsim.Bool(true)
			d.sim.SetEnvironment("acme", "support-agent", e)
		}},
		{"GitHub does not say whether administrators may bypass", "administrators bypass", "C4", func(d *doctorRun) {
			e := githubsim.DefaultProductionEnvironment("acme")
			e.CanAdminsBypass = nil
			d.sim.SetEnvironment("acme", "support-agent", e)
		}},
		{"any branch may deploy", "deployment branches", "C4", func(d *doctorRun) {
			e := githubsim.DefaultProductionEnvironment("acme")
			e.DeploymentBranchPolicy = nil
			d.sim.SetEnvironment("acme", "support-agent", e)
		}},
		{"the environment does not exist", "environment exists", "C4", func(d *doctorRun) {
			e := githubsim.DefaultProductionEnvironment("acme")
			e.Name = "prod"
			d.sim.SetEnvironment("acme", "support-agent", e)
			d.sim.DeleteEnvironment("acme", "support-agent", "production")
		}},
		{"the job declares no environment", "job environment", "C1", func(d *doctorRun) {
			d.jobEnv = nil
			delete(d.claims, "environment")
		}},
		{"the job runs in another environment", "job environment", "C1", func(d *doctorRun) {
			d.jobEnv = map[string]any{"name": "staging", "url": "https://staging.example"}
			d.claims["environment"] = "staging"
		}},
		{"no approvers", "approvers input", "C4", func(d *doctorRun) { delete(d.env, "INPUT_APPROVERS") }},
		{"no qa-credentials", "qa-credentials input", "C2", func(d *doctorRun) { delete(d.env, "INPUT_QA-CREDENTIALS") }},
		{"no production identity", "production identity", "C3", func(d *doctorRun) { delete(d.env, "INPUT_PRODUCTION-IDENTITY") }},
		{"scope allow-lists empty", "scope allow-lists", "C6", func(d *doctorRun) {
			d.withManifests("same")
			d.fixture = "same"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDoctorRun(t)
			tc.setup(d)
			o := d.doctor()
			if o.code != ExitDeny {
				t.Fatalf("exit %d, expected %d\n%s\n%s", o.code, ExitDeny, o.out, o.stderr)
			}
			it := o.item(t, tc.check)
			if it.Status != doctor.Deny || it.Control != tc.control || it.Fix == "" {
				t.Fatalf("item %+v", it)
			}
			if n := o.rep.Count(doctor.Deny); n != 1 {
				t.Errorf("%d items would deny, expected 1:\n%s", n, o.out)
			}
			reasons, errs, code := d.gateReasons(t)
			if code != ExitDeny {
				t.Fatalf("the gate: exit %d, expected a deny\n%s", code, errs)
			}
			for _, r := range reasons {
				if r["control"] == it.Control && r["message"] == it.Message {
					return
				}
			}
			t.Fatalf("doctor says %q; the gate's reasons are %q", it.Message, reasons)
		})
	}
}

// What the gate refuses before deciding is worded as its error.
func TestDoctorRefusalsAsTheGateWordsThem(t *testing.T) {
	t.Run("no id-token: write", func(t *testing.T) {
		d := newDoctorRun(t)
		d.perms = map[string]any{"contents": "read"}
		o := d.doctor()
		it := o.item(t, "id-token: write")
		if o.code != ExitDeny || it.Status != doctor.Deny {
			t.Fatalf("exit %d, %+v", o.code, it)
		}
		// A job without the permission gets no token request variables.
		delete(d.env, "ACTIONS_ID_TOKEN_REQUEST_URL")
		delete(d.env, "ACTIONS_ID_TOKEN_REQUEST_TOKEN")
		if _, errs, code := d.gateReasons(t); code != ExitUsage || !strings.Contains(errs, it.Message) {
			t.Fatalf("gate: exit %d, %q lacks %q", code, errs, it.Message)
		}
	})
	t.Run("a policy that does not load", func(t *testing.T) {
		d := newDoctorRun(t)
		dir := filepath.Join(d.workspace(), "policy", "params")
		os.MkdirAll(dir, 0o700)
		os.WriteFile(filepath.Join(dir, "agent.json"), []byte(`{"max_credential_ttl_secs": 600}`), 0o600)
		d.env["INPUT_POLICY"] = "policy"
		o := d.doctor()
		it := o.item(t, "policy loads")
		if o.code != ExitDeny || it.Status != doctor.Deny || !strings.Contains(it.Message, "did you mean max_credential_ttl_seconds?") {
			t.Fatalf("exit %d, %+v", o.code, it)
		}
		if _, errs, code := d.gateReasons(t); code != ExitUsage || !strings.Contains(errs, it.Message) {
			t.Fatalf("gate: exit %d, %q lacks %q", code, errs, it.Message)
		}
	})
}

func TestDoctorCannotTell(t *testing.T) {
	t.Run("a token that may not read environments", func(t *testing.T) {
		d := newDoctorRun(t)
		d.sim.AddToken(doctorToken) // metadata only
		o := d.doctor()
		if o.code != ExitOperational {
			t.Fatalf("exit %d, expected %d\n%s\n%s", o.code, ExitOperational, o.out, o.stderr)
		}
		it := o.item(t, `read environment "production"`)
		if it.Status != doctor.Unknown || !strings.Contains(it.Fix, "actions: read") || !strings.Contains(it.Message, "HTTP 403") {
			t.Fatalf("%+v", it)
		}
	})
	t.Run("no workflow", func(t *testing.T) {
		d := newDoctorRun(t)
		o := d.doctor("--workflow", filepath.Join(t.TempDir(), "x.yml"))
		if o.code != ExitUsage || !strings.Contains(o.stderr, "--workflow") {
			t.Fatalf("missing --workflow file: exit %d %s", o.code, o.stderr)
		}
		other := filepath.Join(t.TempDir(), "ci.yml")
		os.WriteFile(other, []byte("on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n      - run: make test\n"), 0o600)
		o = d.doctor("--workflow", other)
		if o.code != ExitOperational || o.item(t, "promotion workflow").Status != doctor.Unknown {
			t.Fatalf("a workflow without airlock: exit %d\n%s", o.code, o.out)
		}
	})
	t.Run("GitHub fails", func(t *testing.T) {
		d := newDoctorRun(t)
		for range 5 {
			d.sim.InjectFault("GET /repos/{owner}/{repo}/environments/{environment_name}", githubsim.Fault{Status: 500})
		}
		o := d.doctor()
		if o.code != ExitOperational || o.item(t, `read environment "production"`).Status != doctor.Unknown {
			t.Fatalf("exit %d\n%s%s", o.code, o.out, o.stderr)
		}
	})
}

// Warnings do not deny: an action not pinned by a full commit SHA, team
// approvers with the job's GITHUB_TOKEN.
func TestDoctorWarnings(t *testing.T) {
	d := newDoctorRun(t)
	d.uses = "airlock-dev/airlock@v1"
	d.env["INPUT_APPROVERS"] = "acme/" + githubsim.DefaultTeam
	d.env["INPUT_GITHUB-TOKEN"] = "${{ github.token }}"
	o := d.doctor()
	if o.code != ExitAllow {
		t.Fatalf("exit %d\n%s", o.code, o.out)
	}
	if it := o.item(t, "action pinned"); it.Status != doctor.Warn || !strings.Contains(it.Message, "full commit SHA") {
		t.Errorf("%+v", it)
	}
	if it := o.item(t, "team membership"); it.Status != doctor.Warn || !strings.Contains(it.Fix, "members: read") {
		t.Errorf("%+v", it)
	}
}

func TestDoctorUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"doctor"}, map[string]string{"GITHUB_TOKEN": "x"}, "--repo OWNER/REPO is required"},
		{[]string{"doctor", "--repo", "acme"}, map[string]string{"GITHUB_TOKEN": "x"}, "--repo: expected OWNER/REPO"},
		{[]string{"doctor", "--repo", "acme/agent"}, nil, "GITHUB_TOKEN is empty"},
		{[]string{"doctor", "--repo", "acme/agent", "--token-env", "DOCTOR_TOKEN"}, map[string]string{"GITHUB_TOKEN": "x"}, "DOCTOR_TOKEN is empty"},
		{[]string{"doctor", "--repo", "acme/agent", "--format", "yaml"}, map[string]string{"GITHUB_TOKEN": "x"}, "--format"},
		{[]string{"doctor", "--repo", "acme/agent", "--enviroment", "x"}, map[string]string{"GITHUB_TOKEN": "x"}, "did you mean --environment?"},
	} {
		var out, errb bytes.Buffer
		code := Main(context.Background(), tc.args, func(k string) string { return tc.env[k] }, Stdio{In: strings.NewReader(""), Out: &out, Err: &errb})
		if code != ExitUsage || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%q: exit %d, %q lacks %q", tc.args, code, errb.String(), tc.want)
		}
	}
}

// README's workflow, on a repository set up as README says, has nothing
// that would deny; it only warns that it is not pinned by a commit SHA.
func TestDoctorOnTheREADMEWorkflow(t *testing.T) {
	d := newDoctorRun(t)
	p := filepath.Join(t.TempDir(), "promote.yml")
	if err := os.WriteFile(p, readmeWorkflow(t), 0o600); err != nil {
		t.Fatal(err)
	}
	o := d.doctor("--workflow", p)
	if o.code != ExitAllow {
		t.Fatalf("exit %d\n%s\n%s", o.code, o.out, o.stderr)
	}
	for _, it := range o.rep.Items {
		want := doctor.Pass
		if it.Check == "action pinned" {
			want = doctor.Warn
		}
		if it.Status != want {
			t.Errorf("%s: %s (expected %s): %s", it.Check, it.Status, want, it.Message)
		}
	}
}
