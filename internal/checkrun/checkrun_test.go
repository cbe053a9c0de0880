package checkrun

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/airlock-dev/airlock/internal/approvals"
	"github.com/airlock-dev/airlock/internal/evidence"
	"github.com/airlock-dev/airlock/internal/gate"
	"github.com/airlock-dev/airlock/internal/ghapi"
	"github.com/airlock-dev/airlock/internal/manifest"
	"github.com/airlock-dev/airlock/internal/policy"
	"github.com/airlock-dev/airlock/internal/revocation"
)

func fixture(t *testing.T, name, file string) *manifest.Manifest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "manifests", name, file))
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Parse(file, b)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// result is a denied check of the given fixture pair.
func result(t *testing.T, name string, reasons ...policy.Reason) *gate.CheckResult {
	t.Helper()
	qa, prod := fixture(t, name, "qa.yaml"), fixture(t, name, "production.yaml")
	return &gate.CheckResult{
		Promotion: true,
		Result: gate.Result{
			Evidence: evidence.Evidence{Agent: manifest.Diff(qa, prod, manifest.Promote), Approvals: &approvals.Report{}},
			Decision: policy.Decision{Reasons: reasons},
		},
		PullRequest: evidence.PullRequest{Number: 3, HeadSHA: strings.Repeat("a", 40), BaseSHA: strings.Repeat("b", 40), BaseRef: "refs/heads/main"},
		Sources: gate.Sources{
			QAManifestPath: "agent/qa.yaml", ProductionManifestPath: "agent/production.yaml", QA: qa, Production: prod,
			CredentialsPath: "qa.yaml", Credentials: []revocation.Credential{{Name: "qa-token", Line: 4}, {Name: "qa-token-2", Line: 9}},
		},
	}
}

// TestLocate: each kind of finding lands on the line that caused it, in the
// file the pull request changes.
func TestLocate(t *testing.T) {
	tests := []struct {
		fixture string
		reason  policy.Reason
		want    []loc
	}{
		{"same", policy.Reason{Control: "C2", Message: `QA credential "qa-token-2" (oauth2) is still active: …`}, []loc{{"qa.yaml", 9}}},
		{"same", policy.Reason{Control: "C2", Message: `QA credential "qa-token" (oauth2): revocation could not be verified`}, []loc{{"qa.yaml", 4}}},
		{"same", policy.Reason{Control: "C2", Message: "no QA credentials were listed"}, nil},
		{"model-change", policy.Reason{Control: "C7", Message: "the agent changed between QA and production (model.version) and needs re-attestation by 1 approver(s); 0 approved"}, []loc{{"agent/production.yaml", 6}}},
		{"stubbed-to-live", policy.Reason{Control: "C8", Message: `escalation across the boundary: integration "zendesk" goes live (QA: stubbed); this needs 2 approvers, 1 approved`}, []loc{{"agent/production.yaml", 22}}},
		{"qa-used-live", policy.Reason{Control: "C9", Message: "QA already used live systems (zendesk), which raises the approvals needed to 2; 0 approved"}, []loc{{"agent/qa.yaml", 22}}},
		{"downstream-on-qa", policy.Reason{Control: "C11", Message: `downstream agent "billing-agent" still runs on a QA identity (client_id equal to QA agent billing-agent)`}, []loc{{"agent/production.yaml", 37}}},
		{"same", policy.Reason{Control: "C6", Message: "the production credential TTL of 7200s exceeds the maximum of 3600s"}, []loc{{"agent/production.yaml", 34}}},
		{"same", policy.Reason{Control: "C6", Message: "scopes kb:read, tickets:write are more than policy allows for internal data (allowed: tickets:read); drop them"}, []loc{{"agent/production.yaml", 31}, {"agent/production.yaml", 33}}},
		{"identity-reuse", policy.Reason{Control: "C3", Message: `the production identity reuses a QA identity (client_id "support-agent-qa"): production needs a new identity`}, []loc{{"agent/production.yaml", 28}}},
		{"same", policy.Reason{Control: "C3", Message: "the production identity reuses a QA identity (qa-token.subject=production.subject)"}, []loc{{"agent/production.yaml", 27}, {"qa.yaml", 4}}},
		{"same", policy.Reason{Control: "C3", Message: "no production-identity was given"}, []loc{{"agent/production.yaml", 25}}},
		{"same", policy.Reason{Control: "C4", Message: "0 distinct named approver(s) approved"}, nil},
		{"same", policy.Reason{Control: "C1", Message: `ref "refs/pull/3/merge" is not an allowed ref`}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.reason.Control+" "+tt.fixture+" "+tt.reason.Message[:min(30, len(tt.reason.Message))], func(t *testing.T) {
			got := locate(tt.reason, result(t, tt.fixture))
			if len(got) != len(tt.want) {
				t.Fatalf("expected %v, got %v", tt.want, got)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("expected %v, got %v", tt.want, got)
				}
			}
		})
	}
}

func TestContainsWord(t *testing.T) {
	for _, tt := range []struct {
		msg, name string
		want      bool
	}{
		{"QA credential(s) qa-token, other did not say", "qa-token", true},
		{"QA credential(s) qa-token-2 did not say", "qa-token", false},
		{"reuses (qa-token.subject=production.subject)", "qa-token", true},
		{"my-qa-token", "qa-token", false},
		{"qa-token.", "qa-token", true},
		{"", "qa-token", false},
	} {
		if got := containsWord(tt.msg, tt.name); got != tt.want {
			t.Errorf("containsWord(%q, %q) = %v, expected %v", tt.msg, tt.name, got, tt.want)
		}
	}
}

// TestBuildConclusions: only an allow or a non-promotion succeeds.
func TestBuildConclusions(t *testing.T) {
	deny := []policy.Reason{{Control: "C4", Message: "0 distinct named approver(s) approved"}}
	for _, tt := range []struct {
		name       string
		mutate     func(r *gate.CheckResult)
		conclusion string
		status     string
	}{
		{"allow", func(r *gate.CheckResult) { r.Decision = policy.Decision{Allow: true} }, "success", "success"},
		{"approvals would allow", func(r *gate.CheckResult) { r.ApprovalsWouldAllow = true }, "action_required", "pending"},
		{"deny", func(r *gate.CheckResult) {}, "failure", "failure"},
		{"deny with no reasons", func(r *gate.CheckResult) { r.Decision = policy.Decision{} }, "failure", "failure"},
		{"not a promotion", func(r *gate.CheckResult) { r.Promotion = false }, "success", "success"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := result(t, "same", deny...)
			tt.mutate(r)
			b, err := Build(r, []string{"agent/production.yaml"})
			if err != nil {
				t.Fatal(err)
			}
			if b.Conclusion != tt.conclusion || statusState(b.Conclusion) != tt.status {
				t.Errorf("conclusion %q (status %q), expected %q (%q)", b.Conclusion, statusState(b.Conclusion), tt.conclusion, tt.status)
			}
			if b.Title == "" || b.Summary == "" || b.Description == "" || utf8.RuneCountInString(b.Description) > ghapi.MaxStatusDescription {
				t.Errorf("body %+v", b)
			}
		})
	}
}

// TestBuildEscapesAndBounds: policy messages and file problems are data;
// they cannot add markdown structure, and the summary stays within GitHub's
// limit however many findings there are.
func TestBuildEscapesAndBounds(t *testing.T) {
	evil := "x | <img src=x> [link](https://evil.example)\n## heading\x1b"
	var reasons []policy.Reason
	for range 400 {
		reasons = append(reasons, policy.Reason{Control: "C2", Message: `QA credential "qa-token" ` + evil + strings.Repeat("long ", 60)})
	}
	r := result(t, "same", reasons...)
	r.Sources.Problems = []gate.SourceProblem{{Path: "agent/production.yaml", Line: 3, Message: evil}}
	b, err := Build(r, []string{"agent/production.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	if n := utf8.RuneCountInString(b.Summary); n > ghapi.MaxCheckRunText || !strings.HasSuffix(b.Summary, truncatedNote) {
		t.Errorf("summary: %d characters, ends %q", n, b.Summary[len(b.Summary)-80:])
	}
	for _, bad := range []string{"<img", "\n## heading", "[link](", "\x1b"} {
		if strings.Contains(b.Summary, bad) {
			t.Errorf("summary carries %q", bad)
		}
	}
	for _, a := range b.Annotations {
		if strings.ContainsAny(a.Message, "\n\x1b") {
			t.Errorf("annotation message carries a control character: %q", a.Message)
		}
	}
	// Identical findings on one line are annotated once.
	if len(b.Annotations) != 2 {
		t.Errorf("expected the problem and one C2 annotation, got %d", len(b.Annotations))
	}
}

func TestBatch(t *testing.T) {
	for n, want := range map[int][]int{0: {0}, 1: {1}, 50: {50}, 51: {50, 1}, 120: {50, 50, 20}} {
		anns := make([]ghapi.Annotation, n)
		got := batch(anns)
		if len(got) != len(want) {
			t.Fatalf("%d annotations: %d batches, expected %d", n, len(got), len(want))
		}
		for i := range got {
			if len(got[i]) != want[i] {
				t.Errorf("%d annotations: batch %d has %d, expected %d", n, i, len(got[i]), want[i])
			}
		}
	}
}
