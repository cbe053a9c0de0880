package opa

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/grants"
)

var testNotAfter = time.Date(2026, 12, 6, 13, 0, 0, 0, time.UTC)

func testDecision() grants.Decision {
	return grants.Decision{
		Grants: grants.Grants{
			Tools:  []grants.Tool{{Name: "kb-search", Access: grants.AccessRead}, {Name: "ticket-update", Access: grants.AccessWrite}, {Name: "deploy", Access: grants.AccessExecute}},
			Scopes: []string{"kb:read", "tickets:write"},
		},
		NotAfter:       testNotAfter,
		Subject:        []grants.Subject{{Name: "agent.tar", Digest: map[string]string{"sha256": strings.Repeat("ab", 32)}}},
		Environment:    "production",
		PolicyDigest:   "sha256:" + strings.Repeat("01", 32),
		DecisionDigest: "sha256:" + strings.Repeat("cd", 32),
	}
}

func newTestEvaluator(t testing.TB) *Evaluator {
	t.Helper()
	tarball, err := Build(context.Background(), testDecision(), nil)
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewEvaluator(context.Background(), tarball)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// CallCases are the per-call questions both the in-process evaluator and
// the real OPA server must answer alike.
var callCases = []struct {
	name   string
	input  any
	allow  bool
	reason string // a substring of one reason; "" for an allow
}{
	{"granted read", grants.Call{Tool: "kb-search", Access: "read", Scope: "kb:read"}, true, ""},
	{"read on a write grant", grants.Call{Tool: "ticket-update", Access: "read", Scope: "tickets:write"}, true, ""},
	{"write on a write grant", grants.Call{Tool: "ticket-update", Access: "write", Scope: "tickets:write"}, true, ""},
	{"execute on an execute grant, with a resource", grants.Call{Tool: "deploy", Access: "execute", Scope: "kb:read", Resource: "svc/a"}, true, ""},
	{"write on a read grant", grants.Call{Tool: "kb-search", Access: "write", Scope: "kb:read"}, false, `tool "kb-search" is granted read access, not write`},
	{"execute on a write grant", grants.Call{Tool: "ticket-update", Access: "execute", Scope: "tickets:write"}, false, "granted write access, not execute"},
	{"unknown tool", grants.Call{Tool: "shell", Access: "read", Scope: "kb:read"}, false, `tool "shell" is not granted`},
	{"scope not granted", grants.Call{Tool: "kb-search", Access: "read", Scope: "admin"}, false, `scope "admin" is not granted`},
	{"unknown access", grants.Call{Tool: "kb-search", Access: "admin", Scope: "kb:read"}, false, "input.access"},
	{"missing scope", map[string]any{"tool": "kb-search", "access": "read"}, false, "input.scope"},
	{"missing tool", map[string]any{"access": "read", "scope": "kb:read"}, false, "input.tool"},
	{"mistyped tool", map[string]any{"tool": 7, "access": "read", "scope": "kb:read"}, false, "input.tool"},
	{"mistyped resource", map[string]any{"tool": "kb-search", "access": "read", "scope": "kb:read", "resource": 1}, false, "input.resource"},
	{"null resource", map[string]any{"tool": "kb-search", "access": "read", "scope": "kb:read", "resource": nil}, false, "input.resource"},
	{"false resource", map[string]any{"tool": "kb-search", "access": "read", "scope": "kb:read", "resource": false}, false, "input.resource"},
	{"null tool", map[string]any{"tool": nil, "access": "read", "scope": "kb:read"}, false, "input.tool"},
	{"empty object", map[string]any{}, false, "input.tool"},
	{"an array", []any{"kb-search", "read", "kb:read"}, false, "input: expected an object"},
	{"not an object", "kb-search", false, "input: expected an object"},
	{"no input", nil, false, "input: expected an object"},
}

func TestEvaluatorCalls(t *testing.T) {
	e := newTestEvaluator(t)
	now := testNotAfter.Add(-time.Minute)
	for _, tc := range callCases {
		t.Run(tc.name, func(t *testing.T) {
			a, err := e.Ask(context.Background(), tc.input, now)
			if err != nil {
				t.Fatal(err)
			}
			checkAnswer(t, a, tc.allow, tc.reason)
		})
	}
}

func checkAnswer(t *testing.T, a grants.Answer, allow bool, reason string) {
	t.Helper()
	if a.Allow != allow {
		t.Fatalf("allow %v, expected %v (reasons %q)", a.Allow, allow, a.Reasons)
	}
	if allow && len(a.Reasons) != 0 {
		t.Fatalf("allow with reasons %q", a.Reasons)
	}
	if !allow && !slices.ContainsFunc(a.Reasons, func(r string) bool { return strings.Contains(r, reason) }) {
		t.Fatalf("reasons %q lack %q", a.Reasons, reason)
	}
}

func TestEvaluatorExpiry(t *testing.T) {
	e := newTestEvaluator(t)
	call := grants.Call{Tool: "kb-search", Access: "read", Scope: "kb:read"}
	for _, tc := range []struct {
		at    time.Time
		allow bool
	}{
		{testNotAfter.Add(-time.Nanosecond), true},
		{testNotAfter, false}, // "before notAfter": notAfter itself is over
		{testNotAfter.Add(time.Hour), false},
	} {
		a, err := e.Ask(context.Background(), call, tc.at)
		if err != nil {
			t.Fatal(err)
		}
		if tc.allow {
			checkAnswer(t, a, true, "")
		} else {
			checkAnswer(t, a, false, "the airlock decision expired at 2026-12-06T13:00:00Z")
		}
	}
}

func TestBundleLayout(t *testing.T) {
	tarball, err := Build(context.Background(), testDecision(), nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadDecision(tarball)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(testDecision())
	have, _ := json.Marshal(got)
	if string(want) != string(have) {
		t.Fatalf("data.json decision:\n%s\nexpected\n%s", have, want)
	}
	files := tarFiles(t, tarball)
	for _, f := range []string{"/.manifest", "/data.json", grants.ModulePath} {
		if _, ok := files[f]; !ok {
			t.Fatalf("bundle lacks %s (has %v)", f, keysOf(files))
		}
	}
	var m struct {
		Revision    string   `json:"revision"`
		Roots       []string `json:"roots"`
		RegoVersion int      `json:"rego_version"`
	}
	if err := json.Unmarshal(files["/.manifest"], &m); err != nil {
		t.Fatal(err)
	}
	if m.Revision != testDecision().DecisionDigest || !slices.Equal(m.Roots, []string{grants.Root}) || m.RegoVersion != 1 {
		t.Fatalf("manifest %s", files["/.manifest"])
	}
	if _, ok := files["/.signatures.json"]; ok {
		t.Fatal("an unsigned export carries .signatures.json")
	}
}

func BenchmarkEvaluatorAsk(b *testing.B) {
	e := newTestEvaluator(b)
	call := grants.Call{Tool: "kb-search", Access: "read", Scope: "kb:read"}
	now := testNotAfter.Add(-time.Minute)
	ctx := context.Background()
	for b.Loop() {
		if _, err := e.Ask(ctx, call, now); err != nil {
			b.Fatal(err)
		}
	}
}
