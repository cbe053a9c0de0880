package manifest_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/manifest"
)

var update = flag.Bool("update", false, "rewrite the agent.json golden files from the current Diff output")

const fixtures = "../../testdata/manifests"

// load parses a fixture pair; YAML unless the case directory holds JSON.
func load(t testing.TB, name string) (qa, prod *manifest.Manifest) {
	t.Helper()
	read := func(base, input string) *manifest.Manifest {
		matches, _ := filepath.Glob(filepath.Join(fixtures, name, base+".*"))
		if len(matches) != 1 {
			t.Fatalf("fixture %s/%s: expected one file, found %v", name, base, matches)
		}
		b, err := os.ReadFile(matches[0])
		if err != nil {
			t.Fatal(err)
		}
		m, err := manifest.Parse(input, b)
		if err != nil {
			t.Fatalf("fixture %s: %v", matches[0], err)
		}
		return m
	}
	return read("qa", "qa-manifest"), read("production", "production-manifest")
}

type diffCase struct {
	name       string
	promotion  string
	changes    []string // changed fields
	escalation []string // "kind detail from→to"
	qaLive     bool
	reuse      []string
	shared     bool
	downstream []string // "name fields qa_agents"
	ttl        int64
	scopes     int
}

var diffCases = []diffCase{
	{name: "same", promotion: "promote", ttl: 3600, scopes: 3},
	{name: "json", promotion: "promote", ttl: 3600, scopes: 3},
	{name: "model-change", promotion: "promote", changes: []string{"model.version"}, ttl: 3600, scopes: 3},
	{name: "registry-change", promotion: "promote", changes: []string{"tool_registry.digest", "tool_registry.tools"}, ttl: 3600, scopes: 3},
	{name: "domain-tenant-owner-change", promotion: "promote", changes: []string{"data_domain.name", "tenant", "owner"}, ttl: 3600, scopes: 3},
	{name: "stubbed-to-live", promotion: "promote", escalation: []string{
		"integration_live zendesk stubbed→live",
		"integration_live stripe absent→live",
	}, ttl: 3600, scopes: 3},
	{name: "synthetic-to-customer", promotion: "promote", changes: []string{"data_domain.sensitivity"}, escalation: []string{
		"data_sensitivity support-tickets synthetic→customer",
	}, ttl: 3600, scopes: 3},
	{name: "read-to-write", promotion: "promote", changes: []string{"tool_registry.digest", "tool_registry.tools"}, escalation: []string{
		"tool_access ticket-lookup read→write",
		"tool_added refund-issue absent→execute",
	}, ttl: 3600, scopes: 3},
	{name: "qa-used-live", promotion: "promote", qaLive: true, ttl: 3600, scopes: 3},
	{name: "identity-reuse", promotion: "promote", reuse: []string{"client_id"}, shared: true, ttl: 3600, scopes: 3},
	{name: "shared-issuer", promotion: "promote", shared: true, ttl: 3600, scopes: 3},
	{name: "downstream-on-qa", promotion: "promote", downstream: []string{"billing-agent client_id billing-agent"}, ttl: 3600, scopes: 3},
	{name: "rollback-qa-identity", promotion: "rollback", reuse: []string{"subject"}, ttl: 3600, scopes: 3},
	{name: "rollback-clean", promotion: "rollback", ttl: 3600, scopes: 3},
	{name: "wide-grants", promotion: "promote", ttl: 86400, scopes: 5},
}

func TestDiff(t *testing.T) {
	seen := map[string]bool{}
	for _, tc := range diffCases {
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			qa, prod := load(t, tc.name)
			r := manifest.Diff(qa, prod, tc.promotion)

			var changes []string
			for _, c := range r.Changes {
				changes = append(changes, c.Field)
				if c.QA == c.Production {
					t.Errorf("change %s: qa and production are both %q", c.Field, c.QA)
				}
				if prod.Line(c.Field) == 0 {
					t.Errorf("change %s: no production line to annotate", c.Field)
				}
			}
			check(t, "changes", changes, tc.changes)
			if r.ReattestationRequired != (len(tc.changes) > 0) {
				t.Errorf("reattestation_required = %v with changes %v", r.ReattestationRequired, tc.changes)
			}
			var esc []string
			for _, e := range r.Escalations {
				esc = append(esc, fmt.Sprintf("%s %s %s→%s", e.Kind, e.Detail, e.From, e.To))
				if prod.Line(e.Field) == 0 {
					t.Errorf("escalation %s: field %q has no production line", e.Detail, e.Field)
				}
			}
			check(t, "escalations", esc, tc.escalation)
			if r.QAUsedLive != tc.qaLive {
				t.Errorf("qa_used_live = %v, want %v", r.QAUsedLive, tc.qaLive)
			}
			check(t, "identity_reuse_fields", r.IdentityReuseFields, tc.reuse)
			if r.IdentityReuse != (len(tc.reuse) > 0) {
				t.Errorf("identity_reuse = %v with fields %v", r.IdentityReuse, r.IdentityReuseFields)
			}
			if r.SharedIssuer != tc.shared {
				t.Errorf("shared_issuer = %v, want %v", r.SharedIssuer, tc.shared)
			}
			var ds []string
			for _, d := range r.DownstreamOnQA {
				ds = append(ds, fmt.Sprintf("%s %s %s", d.Name, strings.Join(d.Fields, ","), strings.Join(d.QAAgents, ",")))
			}
			check(t, "downstream_on_qa", ds, tc.downstream)
			if r.Promotion != tc.promotion {
				t.Errorf("promotion = %q, want %q", r.Promotion, tc.promotion)
			}
			if r.TTL.RequestedSeconds != tc.ttl {
				t.Errorf("ttl.requested_seconds = %d, want %d", r.TTL.RequestedSeconds, tc.ttl)
			}
			if len(r.Scopes.Requested) != tc.scopes || !slices.IsSorted(r.Scopes.Requested) {
				t.Errorf("scopes.requested = %v, want %d sorted scopes", r.Scopes.Requested, tc.scopes)
			}
			if len(r.Tools) != len(prod.ToolRegistry.Tools) || r.DataSensitivity != prod.DataDomain.Sensitivity {
				t.Errorf("tools/data_sensitivity do not describe production: %v %q", r.Tools, r.DataSensitivity)
			}
			golden(t, filepath.Join(fixtures, tc.name, "agent.json"), r)
		})
	}
	dirs, _ := filepath.Glob(filepath.Join(fixtures, "*", "production.*"))
	for _, d := range dirs {
		if name := filepath.Base(filepath.Dir(d)); !seen[name] {
			t.Errorf("fixture %s has no diff case", name)
		}
	}
}

func check(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

// golden compares the report's JSON, the exact evidence section the policies
// read, with the file next to the fixtures.
func golden(t *testing.T, path string, r *manifest.Report) {
	t.Helper()
	got, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/manifest -run TestDiff -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from Diff output (run with -update and review the diff):\n%s", path, got)
	}
}

// TestReportNeverNull: policies count these lists; a JSON null would make
// count() fail and turn every decision into a C5 deny.
func TestReportNeverNull(t *testing.T) {
	qa, prod := load(t, "same")
	qa.Integrations, prod.Integrations, prod.Scopes, prod.ToolRegistry.Tools = nil, nil, nil, nil
	b, err := json.Marshal(manifest.Diff(qa, prod, manifest.Promote))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("null")) {
		t.Errorf("report contains null: %s", b)
	}
}

func TestToolOrderIsNotAChange(t *testing.T) {
	qa, prod := load(t, "same")
	slices.Reverse(prod.ToolRegistry.Tools)
	if r := manifest.Diff(qa, prod, manifest.Promote); len(r.Changes) != 0 {
		t.Errorf("reordering tools reported changes: %v", r.Changes)
	}
}

func TestAccessEscalations(t *testing.T) {
	cases := []struct {
		from, to manifest.Access
		want     bool
	}{
		{"read", "read", false},
		{"read", "write", true},
		{"read", "execute", true},
		{"write", "execute", true},
		{"execute", "write", true},
		{"write", "read", false},
		{"execute", "read", false},
	}
	for _, c := range cases {
		qa, prod := load(t, "same")
		qa.ToolRegistry.Tools = []manifest.Tool{{Name: "t", Access: c.from}}
		prod.ToolRegistry.Tools = []manifest.Tool{{Name: "t", Access: c.to}}
		r := manifest.Diff(qa, prod, manifest.Promote)
		if got := len(r.Escalations) == 1; got != c.want {
			t.Errorf("%s → %s: escalation %v, want %v (%v)", c.from, c.to, got, c.want, r.Escalations)
		}
	}
}

func TestLine(t *testing.T) {
	_, prod := load(t, "read-to-write")
	for path, want := range map[string]int{
		"name":                          2,
		"model.version":                 6,
		"tool_registry.tools":           10,
		"tool_registry.tools[1].access": 14,
		"tool_registry.tools[3]":        17,
		"integrations[0].mode":          24,
		"identity.client_id":            30,
		"downstream_agents[0].name":     38,
		"no.such.path":                  0,
	} {
		if got := prod.Line(path); got != want {
			t.Errorf("Line(%q) = %d, want %d", path, got, want)
		}
	}
	if prod.Input() != "production-manifest" {
		t.Errorf("Input() = %q", prod.Input())
	}
}

func TestParseValues(t *testing.T) {
	_, prod := load(t, "downstream-on-qa")
	if prod.CredentialTTL != time.Hour || prod.Model.Version != "2025-05-14" || prod.DataDomain.Sensitivity != manifest.SensitivityInternal {
		t.Errorf("unexpected values: %+v", prod)
	}
	if len(prod.DownstreamAgents) != 2 || prod.DownstreamAgents[1].Identity.SPIFFEID != "spiffe://example.com/agents/audit-agent" || prod.DownstreamAgents[1].Identity.ClientID != "" {
		t.Errorf("downstream agents: %+v", prod.DownstreamAgents)
	}
}

// badCases: each bad fixture with the exact error a person sees. schema says
// whether the JSON Schema rejects it too; the rest are checks only the parser
// can make (duplicate names, aliases, several documents, TTL ≥ 1s).
var badCases = []struct {
	file   string
	err    string
	schema bool
}{
	{"unknown-field", `production-manifest: autonomy: unknown field, expected one of name, model, tool_registry, data_domain, integrations, tenant, owner, identity, scopes, credential_ttl, downstream_agents (line 3)`, true},
	{"typo-field", `production-manifest: model.version: required field is missing (line 4); model.versoin: unknown field, expected one of provider, name, version (line 6)`, true},
	{"bad-enum", `production-manifest: tool_registry.tools[2].access: must be one of read, write, execute, got "admin" (line 16)`, true},
	{"bad-sensitivity", `production-manifest: data_domain.sensitivity: must be one of synthetic, internal, confidential, customer, got "public" (line 19)`, true},
	{"bad-duration", `production-manifest: credential_ttl: must be a duration like "1h" or "90m", got "1 hour" (line 34)`, true},
	{"number-duration", `production-manifest: credential_ttl: must be a duration like "1h" or "90m", got a number (line 34)`, true},
	{"zero-duration", `production-manifest: credential_ttl: must be at least 1s, got "0s" (line 34)`, false},
	{"missing-required", `production-manifest: owner: required field is missing (line 2)`, true},
	{"missing-nested", `production-manifest: downstream_agents[0].identity: required field is missing (line 36)`, true},
	{"wrong-type", `production-manifest: scopes: must be a list, got a string (line 30)`, true},
	{"unquoted-version", `production-manifest: model.version: must be a string, got a number; quote it (line 6)`, true},
	{"null-model", `production-manifest: model: must be a mapping, got null (line 3)`, true},
	{"empty-owner", `production-manifest: owner: must not be empty (line 24)`, true},
	{"blank-name", `production-manifest: name: must not be empty (line 2)`, true},
	{"bad-digest", `production-manifest: tool_registry.digest: must be "sha256:" and 64 lowercase hex digits (or "sha512:" and 128), got "sha256:abc" (line 9)`, true},
	{"bad-spiffe", `production-manifest: identity.spiffe_id: must be a SPIFFE ID like "spiffe://example.org/agent", got "https://example.com/agents/support-agent" (line 29)`, true},
	{"duplicate-scope", `production-manifest: scopes[3]: duplicate scope "kb:read", first at scopes[0] (line 34)`, true},
	{"duplicate-key", `production-manifest: tenant: defined twice, first at line 23 (line 25)`, true},
	{"duplicate-tool", `production-manifest: tool_registry.tools[3].name: duplicate tool "kb-search", first at tool_registry.tools[0].name (line 17)`, false},
	{"alias", `production-manifest: downstream_agents[0].identity: is a YAML alias; write the value out (line 37)`, false},
	{"two-documents", `production-manifest: more than one YAML document; a manifest is one document (line 41)`, false},
	{"not-yaml", `production-manifest: not YAML or JSON: yaml: line 2: did not find expected ',' or '}'`, true},
	{"empty", `production-manifest: empty document, expected a manifest`, true},
	{"list-root", `production-manifest: must be a mapping, got a list (line 2)`, true},
}

func TestParseBad(t *testing.T) {
	seen := map[string]bool{}
	for _, tc := range badCases {
		seen[tc.file] = true
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(fixtures, "bad", tc.file+".yaml"))
			if err != nil {
				t.Fatal(err)
			}
			m, err := manifest.Parse("production-manifest", b)
			if err == nil {
				t.Fatalf("parsed: %+v", m)
			}
			if err.Error() != tc.err {
				t.Errorf("error:\n got %s\nwant %s", err, tc.err)
			}
			if k := fault.KindOf(err); k != fault.KindConfig {
				t.Errorf("kind = %v, want config (exit 2)", k)
			}
			var pe *manifest.ParseError
			if errors.As(err, &pe) {
				for _, p := range pe.Problems {
					if p.Line == 0 || !strings.Contains(tc.err, fmt.Sprintf("(line %d)", p.Line)) {
						t.Errorf("problem %+v: line not in the message", p)
					}
				}
			} else if strings.Contains(tc.err, "(line ") {
				t.Errorf("error with a line is not a *ParseError: %T", err)
			}
		})
	}
	files, _ := filepath.Glob(filepath.Join(fixtures, "bad", "*.yaml"))
	for _, f := range files {
		if name := strings.TrimSuffix(filepath.Base(f), ".yaml"); !seen[name] {
			t.Errorf("bad fixture %s has no case", name)
		}
	}
}

func TestParseLimits(t *testing.T) {
	big := bytes.Repeat([]byte("#"), manifest.MaxSize+1)
	if _, err := manifest.Parse("qa-manifest", big); err == nil || err.Error() != fmt.Sprintf("qa-manifest: larger than %d bytes", manifest.MaxSize) || fault.KindOf(err) != fault.KindConfig {
		t.Errorf("oversized manifest: %v", err)
	}
}

func TestParsePromotion(t *testing.T) {
	for in, want := range map[string]string{"": "promote", "promote": "promote", "rollback": "rollback"} {
		if got, err := manifest.ParsePromotion(in); err != nil || got != want {
			t.Errorf("ParsePromotion(%q) = %q, %v", in, got, err)
		}
	}
	_, err := manifest.ParsePromotion("Rollback")
	if err == nil || err.Error() != `promotion: expected "promote" or "rollback", got "Rollback"` || fault.KindOf(err) != fault.KindUsage {
		t.Errorf("ParsePromotion(Rollback): %v", err)
	}
}

func BenchmarkDiff(b *testing.B) {
	qa, prod := load(b, "read-to-write")
	b.ReportAllocs()
	for b.Loop() {
		manifest.Diff(qa, prod, manifest.Promote)
	}
}

func BenchmarkParse(b *testing.B) {
	data, err := os.ReadFile(filepath.Join(fixtures, "read-to-write", "production.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := manifest.Parse("production-manifest", data); err != nil {
			b.Fatal(err)
		}
	}
}

// TestErrorsDoNotEchoUnknownValues: a secret pasted into a manifest under a
// field airlock does not know must not reach logs through the error.
func TestErrorsDoNotEchoUnknownValues(t *testing.T) {
	const secret = "s3cr3t-client-secret-value"
	b, err := os.ReadFile(filepath.Join(fixtures, "same", "production.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	data := strings.Replace(string(b), "  client_id: support-agent-prod\n", "  client_id: support-agent-prod\n  client_secret: "+secret+"\n", 1)
	_, err = manifest.Parse("production-manifest", []byte(data))
	if err == nil || !strings.Contains(err.Error(), "identity.client_secret: unknown field") {
		t.Fatalf("expected an unknown-field error, got %v", err)
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("error contains the value: %v", err)
	}
}
