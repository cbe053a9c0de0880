package opa_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/policy"
	"github.com/airlock-dev/airlock/internal/policy/opa"
	"github.com/airlock-dev/airlock/internal/testsvc"
	"github.com/airlock-dev/airlock/policies"
)

var defaults = policy.Source{Name: "policies", FS: policies.FS}

// goodInput passes the default identity and revocation rules.
func goodInput() map[string]any {
	return map[string]any{
		"approvals": testsvc.Approvals("release-manager"),
		"revocation": map[string]any{
			"declared": "none", "credentials": []any{}, "production_identity": map[string]any{"client_id": "prod"},
			"identity_reuse": false, "identity_reuse_with": []any{}, "shared_issuer": false, "shared_issuer_with": []any{},
			"identity_unknown_for": []any{},
		},
		"identity": map[string]any{
			"verified": true,
			"claims": map[string]any{
				"environment": "production", "ref": "refs/heads/main",
				"runner_environment": "github-hosted", "repository_id": "1",
			},
			"hint_mismatches": []any{},
		},
		"request": map[string]any{
			"environment": "production", "allowed_refs": []any{"refs/heads/main"},
			"allow_self_hosted": false, "workflow": "", "repository_id": "",
		},
	}
}

func user(files map[string]string) policy.Source {
	fs := fstest.MapFS{}
	for name, body := range files {
		fs[name] = &fstest.MapFile{Data: []byte(body)}
	}
	return policy.Source{Name: "user", FS: fs}
}

func evaluate(t *testing.T, input any, srcs ...policy.Source) policy.Decision {
	t.Helper()
	e, err := opa.Load(context.Background(), srcs...)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	d, err := e.Evaluate(context.Background(), input)
	if err != nil {
		t.Fatalf("Evaluate: %v", err)
	}
	return d
}

func hasReason(d policy.Decision, control, substr string) bool {
	for _, r := range d.Reasons {
		if r.Control == control && strings.Contains(r.Message, substr) {
			return true
		}
	}
	return false
}

func TestDefaultsAllowGoodRun(t *testing.T) {
	d := evaluate(t, goodInput(), defaults)
	if !d.Allow || len(d.Reasons) != 0 {
		t.Fatalf("expected allow without reasons, got %+v", d)
	}
	if !strings.HasPrefix(d.PolicyDigest, "sha256:") || len(d.PolicyDigest) != len("sha256:")+64 {
		t.Errorf("policy digest %q", d.PolicyDigest)
	}
	var c1 string
	for _, c := range d.Controls {
		if c.ID == "C1" {
			c1 = c.Result
		}
	}
	if c1 != policy.ResultPass || len(d.Controls) != 13 {
		t.Errorf("controls table: C1=%q, %d rows", c1, len(d.Controls))
	}
}

func TestFailClosed(t *testing.T) {
	tests := []struct {
		name    string
		input   any
		srcs    []policy.Source
		control string
		substr  string
	}{
		{"empty input", map[string]any{}, []policy.Source{defaults}, "C1", "not verified"},
		{"undefined decision", goodInput(), []policy.Source{user(map[string]string{"main.rego": "package airlock\ndecision := {\"allow\": true} if input.nope\n"})}, "C5", "undefined"},
		{"decision not an object", goodInput(), []policy.Source{user(map[string]string{"main.rego": "package airlock\ndecision := true\n"})}, "C5", "expected an object"},
		{"unknown control", goodInput(), []policy.Source{defaults, user(map[string]string{"x.rego": "package airlock\ndeny contains {\"control\": \"C99\", \"message\": \"m\"}\n"})}, "C5", "C99"},
		{"reason without message", goodInput(), []policy.Source{defaults, user(map[string]string{"x.rego": "package airlock\ndeny contains {\"control\": \"C4\"}\n"})}, "C5", "malformed"},
		{"allow is not a boolean", goodInput(), []policy.Source{user(map[string]string{"main.rego": "package airlock\ndecision := {\"allow\": \"yes\", \"deny\": [], \"warn\": [], \"requirements\": [], \"checked\": [], \"grants\": {}}\n"})}, "C5", "allow"},
		{"runtime error", goodInput(), []policy.Source{defaults, user(map[string]string{"x.rego": "package airlock\ndeny contains reason(\"C6\", \"x\") if { to_number(\"not a number\") > 1 }\n"})}, "C5", "evaluation failed"},
		{"allow false without reasons", goodInput(), []policy.Source{user(map[string]string{"main.rego": "package airlock\ndecision := {\"allow\": false, \"deny\": [], \"warn\": [], \"requirements\": [], \"checked\": [], \"grants\": {}}\n"})}, "C5", "gave no reason"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := evaluate(t, tt.input, tt.srcs...)
			if d.Allow {
				t.Fatalf("expected deny, got allow")
			}
			if !hasReason(d, tt.control, tt.substr) {
				t.Fatalf("expected a %s reason containing %q, got %+v", tt.control, tt.substr, d.Reasons)
			}
		})
	}
}

// A user module that says allow cannot override a deny from another module.
func TestUserAllowCannotOverrideDeny(t *testing.T) {
	in := goodInput()
	in["identity"].(map[string]any)["claims"].(map[string]any)["environment"] = "staging"
	d := evaluate(t, in, defaults, user(map[string]string{"x.rego": "package airlock\nallow if true\n"}))
	if d.Allow || !hasReason(d, "C1", "staging") {
		t.Fatalf("expected deny naming staging, got %+v", d)
	}
}

func TestCompileErrorNamesFileAndLine(t *testing.T) {
	for name, body := range map[string]string{
		"syntax.rego":  "package airlock\n\ndeny contains x if {\n  x := \n}\n",
		"compile.rego": "package airlock\n\ndeny contains reason(\"C1\", y) if { true }\n",
	} {
		_, err := opa.Load(context.Background(), defaults, user(map[string]string{name: body}))
		if err == nil {
			t.Fatalf("%s: expected an error", name)
		}
		if fault.KindOf(err) != fault.KindConfig {
			t.Errorf("%s: kind %v, expected config", name, fault.KindOf(err))
		}
		if !strings.Contains(err.Error(), "user/"+name+":") {
			t.Errorf("%s: error does not name file:line: %v", name, err)
		}
	}
}

func TestParamsMergeAndDigest(t *testing.T) {
	rule := "package airlock\ndeny contains reason(\"C6\", sprintf(\"ttl %v customer %v\", [data.airlock.params.agent.max_credential_ttl_seconds, data.airlock.params.agent.allowed_scopes.customer])) if true\n"
	team := user(map[string]string{
		"x.rego":            rule,
		"params/agent.json": `{"max_credential_ttl_seconds": 60, "allowed_scopes": {"internal": ["a"], "customer": ["kb:read"]}}`,
	})
	base, err := opa.Load(context.Background(), defaults, team)
	if err != nil {
		t.Fatal(err)
	}
	over, err := opa.Load(context.Background(), defaults, team, user(map[string]string{"y.rego": "package airlock\n", "params/agent.json": `{"max_credential_ttl_seconds": 30}`}))
	if err != nil {
		t.Fatal(err)
	}
	if base.Digest() == over.Digest() {
		t.Error("digest did not change when params changed")
	}
	d, err := over.Evaluate(context.Background(), goodInput())
	if err != nil {
		t.Fatal(err)
	}
	if !hasReason(d, "C6", `ttl 30 customer ["kb:read"]`) {
		t.Errorf("override not applied or a nested key lost in merge: %+v", d.Reasons)
	}
}

func TestLoadRejectsEmptySource(t *testing.T) {
	if _, err := opa.Load(context.Background(), user(map[string]string{"README.md": "x"})); err == nil || fault.KindOf(err) != fault.KindConfig {
		t.Fatalf("expected a config error for a directory without .rego files, got %v", err)
	}
}

// BenchmarkDecision measures evidence → decision with the compiled default policy set.
func BenchmarkDecision(b *testing.B) {
	e, err := opa.Load(context.Background(), defaults)
	if err != nil {
		b.Fatal(err)
	}
	in := goodInput()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		d, err := e.Evaluate(ctx, in)
		if err != nil || !d.Allow {
			b.Fatalf("unexpected %v %+v", err, d)
		}
	}
}

// BenchmarkDecisionAgent is BenchmarkDecision with agent evidence that
// exercises the C7/C8 rules (testdata/manifests/read-to-write: two changes,
// two escalations).
func BenchmarkDecisionAgent(b *testing.B) {
	e, err := opa.Load(context.Background(), defaults)
	if err != nil {
		b.Fatal(err)
	}
	raw, err := os.ReadFile("../../testdata/manifests/read-to-write/agent.json")
	if err != nil {
		b.Fatal(err)
	}
	var agent map[string]any
	if err := json.Unmarshal(raw, &agent); err != nil {
		b.Fatal(err)
	}
	in := goodInput()
	in["agent"] = agent
	in["request"].(map[string]any)["manifests_required"] = true
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		d, err := e.Evaluate(ctx, in)
		if err != nil || d.Allow {
			b.Fatalf("expected a deny: %v %+v", err, d)
		}
	}
}
