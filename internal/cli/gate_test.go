package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
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
	if err := os.Mkdir(filepath.Join(dir, "tmp"), 0o700); err != nil {
		t.Fatal(err)
	}
	r := &gateRun{t: t, sim: sim, dir: dir, claims: claims, env: map[string]string{
		"GITHUB_ACTIONS":                 "true",
		"ACTIONS_ID_TOKEN_REQUEST_URL":   sim.TokenRequestURL(),
		"ACTIONS_ID_TOKEN_REQUEST_TOKEN": sim.TokenRequestToken(),
		"GITHUB_API_URL":                 sim.APIURL(),
		"GITHUB_OUTPUT":                  filepath.Join(dir, "output"),
		"GITHUB_STEP_SUMMARY":            filepath.Join(dir, "summary.md"),
		"RUNNER_TEMP":                    filepath.Join(dir, "tmp"),
		"GITHUB_REPOSITORY":              "acme/support-agent",
		"INPUT_OIDC-ISSUER":              sim.IssuerURL(),
		"INPUT_GITHUB-TOKEN":             sim.JobToken(),
		"INPUT_QA-CREDENTIALS":           "none",
		"INPUT_PRODUCTION-IDENTITY":      "issuer: https://idp.example.com\nsubject: agent:support-agent:prod\nclient-id: support-agent-prod",
	}}
	return r
}

type outcome struct {
	code           int
	stdout, stderr string
	outputs        map[string]string
	summary        string
	evidence       map[string]any
	evidenceRaw    string
}

func (r *gateRun) gate(args ...string) outcome {
	r.t.Helper()
	r.sim.SetRunClaims(r.claims)
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), append([]string{"gate"}, args...), func(k string) string { return r.env[k] },
		Stdio{In: strings.NewReader(""), Out: &stdout, Err: &stderr})
	o := outcome{code: code, stdout: stdout.String(), stderr: stderr.String(), outputs: map[string]string{}}
	if b, err := os.ReadFile(r.env["GITHUB_OUTPUT"]); err == nil {
		o.outputs = parseOutputFile(r.t, string(b))
	}
	if b, err := os.ReadFile(r.env["GITHUB_STEP_SUMMARY"]); err == nil {
		o.summary = string(b)
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
	os.WriteFile(filepath.Join(d, "main.rego"), []byte("package airlock\n\nallow := true\n"), 0o600)
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
			r.env["INPUT_TIMEOUT"] = "1s"
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
	reTmp    = regexp.MustCompile(`airlock-[0-9]+`)
	reDigest = regexp.MustCompile(`sha256:[0-9a-f]{64}`)
	reURL    = regexp.MustCompile(`http://127\.0\.0\.1:[0-9]+`)
)

// golden compares what users read (step summary and outputs) with
// testdata/<name>.summary.md and .outputs.json; -update rewrites them.
func golden(t *testing.T, name string, r *gateRun, o outcome) {
	t.Helper()
	norm := func(s string) string {
		s = strings.ReplaceAll(s, r.dir, "<RUNNER>")
		s = reTmp.ReplaceAllString(s, "airlock-<N>")
		s = reDigest.ReplaceAllString(s, "sha256:<DIGEST>")
		return reURL.ReplaceAllString(s, "http://<SIM>")
	}
	outs, _ := json.MarshalIndent(o.outputs, "", "  ")
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
