package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/internal/githubsim"
)

// withManifests puts a fixture pair from testdata/manifests into the
// simulated repository at the run's commit and names it in the inputs.
func (r *gateRun) withManifests(fixture string) {
	r.t.Helper()
	sha := r.claims["sha"].(string)
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

// allowScopes writes a user policy directory whose params allow the
// fixtures' scopes: the defaults allow none, as airlock cannot know scope names.
func (r *gateRun) allowScopes() {
	r.t.Helper()
	d := filepath.Join(r.dir, "policy")
	if err := os.MkdirAll(filepath.Join(d, "params"), 0o700); err != nil {
		r.t.Fatal(err)
	}
	params := `{"allowed_scopes": {"internal": ["kb:read", "tickets:read", "tickets:write"]}}`
	if err := os.WriteFile(filepath.Join(d, "params", "agent.json"), []byte(params), 0o600); err != nil {
		r.t.Fatal(err)
	}
	r.env["INPUT_POLICY"] = d
}

func TestGateAgentUnchangedAllowed(t *testing.T) {
	r := newRun(t)
	r.withManifests("same")
	r.allowScopes()
	o := r.gate()
	if o.code != ExitAllow {
		t.Fatalf("exit %d, reasons %s\n%s", o.code, o.outputs["reasons"], o.stderr)
	}
	agent, ok := o.evidence["agent"].(map[string]any)
	if !ok || agent["name"] != "support-agent" || agent["reattestation_required"] != false {
		t.Fatalf("agent evidence %v", o.evidence["agent"])
	}
	b, err := os.ReadFile(o.outputs["decision-path"])
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Grants struct {
			Tools  []map[string]any `json:"tools"`
			Scopes []string         `json:"scopes"`
		} `json:"grants"`
	}
	if err := json.Unmarshal(b, &d); err != nil || len(d.Grants.Tools) != 3 || len(d.Grants.Scopes) != 3 {
		t.Fatalf("decision grants %s: %v", b, err)
	}
}

func TestGateAgentDenies(t *testing.T) {
	tests := []struct {
		fixture string
		reasons []string
	}{
		// Nobody has re-attested the changed agent: this run has no approvals
		// (with the seeded one, one approver would be enough for a change).
		{"model-change", []string{`"control":"C7"`, "model", "0 approved"}},
		{"stubbed-to-live", []string{`"control":"C8"`}},
		{"identity-reuse", []string{`"control":"C3"`}},
		{"downstream-on-qa", []string{`"control":"C11"`}},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			r := newRun(t)
			r.withManifests(tt.fixture)
			r.allowScopes()
			if tt.fixture == "model-change" {
				r.claims["run_id"] = strconv.FormatInt(githubsim.DefaultRunID("acme", "support-agent")+1, 10)
			}
			o := r.gate()
			if o.code != ExitDeny {
				t.Fatalf("exit %d\n%s", o.code, o.stderr)
			}
			for _, want := range tt.reasons {
				if !strings.Contains(o.outputs["reasons"], want) {
					t.Errorf("reasons lack %s: %s", want, o.outputs["reasons"])
				}
			}
		})
	}
}

func TestGateAgentBadInput(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(r *gateRun)
		msg    string
	}{
		{"manifest not at the verified commit", func(r *gateRun) {
			r.withManifests("same")
			r.env["INPUT_PRODUCTION-MANIFEST"] = "agent/missing.yaml"
		}, "production-manifest: agent/missing.yaml is not in acme/support-agent at the verified commit"},
		{"only one manifest", func(r *gateRun) { r.env["INPUT_QA-MANIFEST"] = "agent/qa.yaml" }, "qa-manifest and production-manifest go together"},
		{"unknown promotion", func(r *gateRun) { r.env["INPUT_PROMOTION"] = "hotfix" }, "promotion"},
		{"schema violation", func(r *gateRun) {
			r.withManifests("same")
			b, _ := os.ReadFile(filepath.Join("..", "..", "testdata", "manifests", "same", "production.yaml"))
			bad := strings.Replace(string(b), "access: write", "access: admin", 1)
			r.sim.SetFile("acme", "support-agent", r.claims["sha"].(string), "agent/production.yaml", []byte(bad))
		}, "production-manifest: tool_registry.tools[2].access: must be one of read, write, execute"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRun(t)
			tt.mutate(r)
			o := r.gate()
			if o.code != ExitUsage {
				t.Fatalf("exit %d, expected %d\n%s", o.code, ExitUsage, o.stderr)
			}
			if !strings.Contains(o.stderr, tt.msg) {
				t.Errorf("stderr lacks %q:\n%s", tt.msg, o.stderr)
			}
		})
	}
}
