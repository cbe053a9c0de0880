package manifest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/internal/manifest"
	"github.com/airlock-dev/airlock/internal/policy"
	"github.com/airlock-dev/airlock/internal/policy/opa"
	"github.com/airlock-dev/airlock/internal/testsvc"
	"github.com/airlock-dev/airlock/policies"
)

// The worked example of docs/writing-policies.md: a user directory that
// widens the scope allow-lists and adds one rule.
const examplePolicies = "../../testdata/policies/agent-example"

var agentControls = []string{"C3", "C6", "C7", "C8", "C9", "C10", "C11"}

func loadEngine(t testing.TB) *opa.Engine {
	t.Helper()
	e, err := opa.Load(context.Background(),
		policy.Source{Name: "policies", FS: policies.FS},
		policy.Source{Name: "agent-example", FS: os.DirFS(examplePolicies)})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// evidence is the policy input the gate builds, reduced to what the agent
// rules and C1 read.
func evidence(agent any, approvers []string) map[string]any {
	ev := map[string]any{
		"identity": map[string]any{"verified": true, "claims": map[string]any{
			"environment": "production", "ref": "refs/heads/main", "runner_environment": "github-hosted",
		}},
		"request": map[string]any{"environment": "production", "allowed_refs": []string{"refs/heads/main"}, "manifests_required": true},
		// C4 passes with at least one approver; the agent rules count the same list.
		"approvals": testsvc.Approvals(approvers...),
		// Revocation evidence that passes C2/C3, so only agent rules decide.
		"revocation": map[string]any{
			"declared": "none", "credentials": []any{}, "production_identity": map[string]any{"client_id": "prod"},
			"identity_reuse": false, "identity_reuse_with": []any{}, "shared_issuer": false, "shared_issuer_with": []any{},
			"identity_unknown_for": []any{},
		},
	}
	if agent != nil {
		ev["agent"] = agent
	}
	return ev
}

// TestPolicyScenarios runs each fixture pair through Diff and the default
// policies plus the example directory: the Go report and the Rego rules must
// agree on every key, or these decisions change.
func TestPolicyScenarios(t *testing.T) {
	engine := loadEngine(t)
	cases := []struct {
		fixture   string
		promotion string
		approvers []string
		edit      func(qa, prod *manifest.Manifest)
		deny      map[string][]string // control → substrings of its deny messages
		warn      map[string][]string
		require   []string // controls with a requirement
	}{
		{fixture: "same", promotion: "promote"},
		{fixture: "json", promotion: "promote"},
		{fixture: "model-change", promotion: "promote",
			deny: map[string][]string{"C7": {"(model.version)", "re-attestation by 1 approver(s); 0 approved"}},
			warn: map[string][]string{"C7": {`model.version changed between QA and production ("2025-05-14" → "2025-09-29")`}}, require: []string{"C7"}},
		{fixture: "model-change", promotion: "promote", approvers: []string{"alice"},
			warn: map[string][]string{"C7": {"model.version changed"}}, require: []string{"C7"}},
		{fixture: "registry-change", promotion: "promote", approvers: []string{"alice"},
			warn: map[string][]string{"C7": {"tool_registry.tools changed"}}, require: []string{"C7"}},
		{fixture: "domain-tenant-owner-change", promotion: "promote",
			deny: map[string][]string{"C7": {"(data_domain.name, tenant, owner)"}}, warn: map[string][]string{"C7": {"owner changed"}}, require: []string{"C7"}},
		{fixture: "stubbed-to-live", promotion: "promote", approvers: []string{"alice"},
			deny: map[string][]string{"C8": {`integration "stripe" goes live (QA: absent)`, "needs 2 approvers, 1 approved"}}, require: []string{"C8"}},
		{fixture: "stubbed-to-live", promotion: "promote", approvers: []string{"alice", "bob"}, require: []string{"C8"}},
		{fixture: "synthetic-to-customer", promotion: "promote", approvers: []string{"alice", "bob"},
			warn: map[string][]string{"C7": {"data_domain.sensitivity changed"}}, require: []string{"C7", "C8"}},
		{fixture: "read-to-write", promotion: "promote", approvers: []string{"alice"},
			deny: map[string][]string{"C8": {`tool "refund-issue" is added with execute access`}},
			warn: map[string][]string{"C7": {"tool_registry.tools changed"}}, require: []string{"C7", "C8"}},
		{fixture: "read-to-write", promotion: "promote", approvers: []string{"alice", "bob"},
			edit: func(_, prod *manifest.Manifest) { prod.DataDomain.Sensitivity = manifest.SensitivityCustomer },
			deny: map[string][]string{"C6": {`tool "refund-issue" has execute access on customer data`}}, // the example's own rule
			warn: map[string][]string{"C7": {"data_domain.sensitivity changed"}}, require: []string{"C7", "C8"}},
		{fixture: "qa-used-live", promotion: "promote", approvers: []string{"alice"},
			deny: map[string][]string{"C9": {"QA already used live systems (zendesk)", "to 2; 1 approved"}}, require: []string{"C9"}},
		{fixture: "identity-reuse", promotion: "promote",
			deny: map[string][]string{"C3": {`reuses a QA identity (client_id "support-agent-qa")`}}},
		{fixture: "shared-issuer", promotion: "promote",
			deny: map[string][]string{"C3": {`share the issuer "https://idp.qa.example.com/"`}}},
		{fixture: "downstream-on-qa", promotion: "promote",
			deny: map[string][]string{"C11": {`downstream agent "billing-agent" still runs on a QA identity (client_id equal to QA agent billing-agent)`}}},
		{fixture: "rollback-qa-identity", promotion: "rollback",
			deny: map[string][]string{
				"C3":  {`subject "agent:support-agent:qa"`},
				"C10": {"a rollback is a new decision", `subject "agent:support-agent:qa"`},
			}, warn: map[string][]string{"C10": {"new decision under today's policy"}}},
		{fixture: "rollback-clean", promotion: "rollback", warn: map[string][]string{"C10": {"no earlier decision or approval is reused"}}},
		{fixture: "wide-grants", promotion: "promote",
			deny: map[string][]string{"C6": {
				"scopes users:write are more than policy allows for internal data (allowed: kb:read, tickets:*)",
				"TTL of 86400s exceeds the maximum of 7200s",
			}}},
		{fixture: "same", promotion: "deploy", deny: map[string][]string{"C10": {`got "deploy"`}}},
	}
	for _, tc := range cases {
		name := tc.fixture + "/" + tc.promotion + "/" + strings.Join(tc.approvers, "+")
		if len(tc.approvers) == 0 {
			// Nobody approved: C4 denies too, whatever the agent rules say.
			tc.deny = maps.Clone(tc.deny)
			if tc.deny == nil {
				tc.deny = map[string][]string{}
			}
			tc.deny["C4"] = []string{"0 distinct named approver(s)"}
		}
		t.Run(name, func(t *testing.T) {
			qa, prod := load(t, tc.fixture)
			if tc.edit != nil {
				tc.edit(qa, prod)
			}
			report := manifest.Diff(qa, prod, tc.promotion)
			d, err := engine.Evaluate(context.Background(), evidence(report, tc.approvers))
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range d.Reasons {
				if !slices.Contains(agentControls, r.Control) && tc.deny[r.Control] == nil {
					t.Errorf("unexpected %s deny: %s", r.Control, r.Message)
				}
			}
			expect(t, "deny", d.Reasons, tc.deny)
			expect(t, "warn", d.Warnings, tc.warn)
			var req []string
			for _, r := range d.Requirements {
				if !slices.Contains(req, r.Control) {
					req = append(req, r.Control)
				}
			}
			if !slices.Equal(req, tc.require) && len(req)+len(tc.require) > 0 {
				t.Errorf("requirements from %v, want %v: %v", req, tc.require, d.Requirements)
			}
			if d.Allow != (len(tc.deny) == 0) {
				t.Errorf("allow = %v with reasons %v", d.Allow, d.Reasons)
			}
			for _, c := range d.Controls {
				if slices.Contains(agentControls, c.ID) && c.Result == policy.ResultNotChecked {
					t.Errorf("%s not checked although agent evidence is present", c.ID)
				}
			}
			tools, _ := d.Grants["tools"].([]any)
			scopes, _ := d.Grants["scopes"].([]any)
			if len(tools) != len(report.Tools) || len(scopes) != len(report.Scopes.Requested) {
				t.Errorf("grants = %v, want the production tools and scopes", d.Grants)
			}
		})
	}
}

// expect checks that the reasons come from exactly the given controls, and
// that each substring is in some message of its control.
func expect(t *testing.T, kind string, reasons []policy.Reason, want map[string][]string) {
	t.Helper()
	got := map[string][]string{}
	for _, r := range reasons {
		got[r.Control] = append(got[r.Control], r.Message)
	}
	for c, subs := range want {
		for _, s := range subs {
			if !slices.ContainsFunc(got[c], func(m string) bool { return strings.Contains(m, s) }) {
				t.Errorf("no %s %s reason containing %q; got %q", kind, c, s, got[c])
			}
		}
	}
	for c, msgs := range got {
		if _, ok := want[c]; !ok {
			t.Errorf("unexpected %s %s: %q", kind, c, msgs)
		}
	}
}

func TestPolicyManifestsRequiredButMissing(t *testing.T) {
	d, err := loadEngine(t).Evaluate(context.Background(), evidence(nil, []string{"alice"}))
	if err != nil {
		t.Fatal(err)
	}
	if d.Allow || len(d.Reasons) != 1 || d.Reasons[0].Control != "C7" || !strings.Contains(d.Reasons[0].Message, "no agent evidence") {
		t.Errorf("decision without agent evidence: allow=%v %v", d.Allow, d.Reasons)
	}
}

// TestPolicyExampleTests runs the example directory's Rego tests together
// with the defaults, as `airlock policy test` would.
func TestPolicyExampleTests(t *testing.T) {
	results, err := opa.RunTests(context.Background(),
		policy.Source{Name: "policies", FS: policies.FS},
		policy.Source{Name: "agent-example", FS: os.DirFS(examplePolicies)})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range results {
		if strings.HasPrefix(r.File, "agent-example/") {
			n++
		}
		if !r.Pass {
			t.Errorf("%s (%s): %s", r.Name, r.File, r.Message)
		}
	}
	if n != 2 {
		t.Errorf("ran %d tests of the example, want 2", n)
	}
}

// TestShippedAgentParams pins the defaults a user gets without a params
// file: two approvers for escalations, one-hour credentials, no shared
// issuer, and no scopes at all until the user lists them.
func TestShippedAgentParams(t *testing.T) {
	b, err := fs.ReadFile(policies.FS, "params/agent.json")
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		ApprovalsOnChange       *int                `json:"approvals_on_change"`
		ApprovalsOnEscalation   *int                `json:"approvals_on_escalation"`
		ApprovalsWhenQALive     *int                `json:"approvals_when_qa_live"`
		AllowSharedIssuer       *bool               `json:"allow_shared_issuer"`
		MaxCredentialTTLSeconds *int                `json:"max_credential_ttl_seconds"`
		AllowedScopes           map[string][]string `json:"allowed_scopes"`
		FormerQAIdentities      []any               `json:"former_qa_identities"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatal(err)
	}
	if p.ApprovalsOnChange == nil || *p.ApprovalsOnChange != 1 || p.ApprovalsOnEscalation == nil || *p.ApprovalsOnEscalation != 2 ||
		p.ApprovalsWhenQALive == nil || *p.ApprovalsWhenQALive != 2 || p.AllowSharedIssuer == nil || *p.AllowSharedIssuer ||
		p.MaxCredentialTTLSeconds == nil || *p.MaxCredentialTTLSeconds != 3600 || p.FormerQAIdentities == nil {
		t.Errorf("shipped params changed: %s", b)
	}
	for _, s := range []string{"synthetic", "internal", "confidential", "customer"} {
		if l, ok := p.AllowedScopes[s]; !ok || len(l) != 0 {
			t.Errorf("allowed_scopes.%s = %v, want an empty list", s, l)
		}
	}

	e, err := opa.Load(context.Background(), policy.Source{Name: "policies", FS: policies.FS})
	if err != nil {
		t.Fatal(err)
	}
	qa, prod := load(t, "same")
	d, err := e.Evaluate(context.Background(), evidence(manifest.Diff(qa, prod, manifest.Promote), []string{"alice"}))
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "deny", d.Reasons, map[string][]string{"C6": {"kb:read, tickets:read, tickets:write are more than policy allows for internal data (allowed: none)"}})
}

// TestWritingPoliciesDocShowsTheExample keeps docs/writing-policies.md
// showing exactly the files the tests above run.
func TestWritingPoliciesDocShowsTheExample(t *testing.T) {
	doc, err := os.ReadFile("../../docs/writing-policies.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"params/agent.json", "no_execute_on_customer_data.rego", "no_execute_on_customer_data_test.rego"} {
		b, err := os.ReadFile(examplePolicies + "/" + f)
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, l := range strings.Split(string(b), "\n") {
			if !strings.HasPrefix(l, "#") {
				lines = append(lines, l)
			}
		}
		if body := strings.TrimSpace(strings.Join(lines, "\n")); !strings.Contains(string(doc), body) {
			t.Errorf("docs/writing-policies.md does not show %s as it is:\n%s", f, body)
		}
	}
}
