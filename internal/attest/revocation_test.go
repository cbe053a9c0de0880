package attest_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/airlock-dev/airlock/internal/attest"
)

// TestRevocationSignsAndVerifies signs the revocation of a signed decision
// keyless, as the gate signs, and reads it back: subjects are the decision's
// payload digest and the decision's own subjects; the record matches its
// schema; a decision predicate is not accepted as a revocation.
func TestRevocationSignsAndVerifies(t *testing.T) {
	w := newWorld(t)
	s := w.keyless(t, nil)
	decision, err := s.Sign(t.Context(), sampleStatement(t, true))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := attest.InspectDecision(decision.Bundle)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(decision.Statement)
	if ref.PayloadDigest != "sha256:"+hex.EncodeToString(sum[:]) || len(ref.Subjects) != 1 || ref.Subjects[0].Name != "agent.tar.gz" || ref.IssuedAt == nil {
		t.Fatalf("decision ref %+v", ref)
	}
	pred := attest.RevocationPredicate{
		Revoked: attest.RevokedDecision{PayloadDigest: ref.PayloadDigest, PredicateType: attest.PredicateType, IssuedAt: ref.IssuedAt, Bundle: "d.sigstore.json"},
		Reason:  "QA token found in production logs", RevokedAt: time.Now().UTC().Truncate(time.Second),
		Revoker: attest.Revoker{Identity: "https://github.com/acme/support-agent/.github/workflows/promote.yml@refs/heads/main"},
		Airlock: attest.Tool{Version: "test"},
	}
	st, err := attest.NewRevocationStatement(ref, pred)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := s.Sign(t.Context(), st)
	if err != nil {
		t.Fatal(err)
	}
	got, err := attest.VerifyRevocation(signed, s.Expectation())
	if err != nil {
		t.Fatal(err)
	}
	if got.Reason != pred.Reason || got.Revoked.PayloadDigest != ref.PayloadDigest {
		t.Errorf("revocation %+v", got)
	}
	var doc struct {
		Subject []attest.Subject `json:"subject"`
		Pred    map[string]any   `json:"predicate"`
	}
	if err := json.Unmarshal(st, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Subject) != 2 || doc.Subject[0].Name != attest.PayloadSubjectName && doc.Subject[1].Name != attest.PayloadSubjectName {
		t.Errorf("subjects %+v", doc.Subject)
	}
	matchSchema(t, "../../schema/revocation-predicate.schema.json", attest.RevocationPredicateType, doc.Pred, map[string]func(map[string]any){
		"no reason":      func(d map[string]any) { delete(d, "reason") },
		"empty reason":   func(d map[string]any) { d["reason"] = "" },
		"digest not hex": func(d map[string]any) { d["revoked"].(map[string]any)["payloadDigest"] = "sha256:xyz" },
		"no revoker":     func(d map[string]any) { delete(d, "revoker") },
	})

	// A decision is not a revocation, and a revocation is not a decision.
	if _, err := attest.VerifyRevocation(decision, s.Expectation()); err == nil {
		t.Error("a decision bundle verified as a revocation")
	}
	if _, err := attest.Verify(signed, s.Expectation(), "allow"); err == nil {
		t.Error("a revocation verified as a decision")
	}
	if _, err := attest.InspectDecision(signed.Bundle); err == nil {
		t.Error("a revocation was inspected as a decision")
	}
}

func TestRevocationStatementRejects(t *testing.T) {
	ref := &attest.DecisionRef{PayloadDigest: "sha256:" + strings.Repeat("a", 64), Subjects: []attest.Subject{{Name: "x", Digest: map[string]string{"sha256": strings.Repeat("b", 64)}}}}
	ok := attest.RevocationPredicate{Revoked: attest.RevokedDecision{PayloadDigest: ref.PayloadDigest}, Reason: "r", RevokedAt: time.Now(), Revoker: attest.Revoker{Identity: "key:abc"}}
	if _, err := attest.NewRevocationStatement(ref, ok); err != nil {
		t.Fatalf("valid revocation: %v", err)
	}
	for name, mutate := range map[string]func(*attest.RevocationPredicate, *attest.DecisionRef){
		"empty reason": func(p *attest.RevocationPredicate, _ *attest.DecisionRef) { p.Reason = "  " },
		"long reason": func(p *attest.RevocationPredicate, _ *attest.DecisionRef) {
			p.Reason = strings.Repeat("x", attest.MaxReasonBytes+1)
		},
		"control in reason": func(p *attest.RevocationPredicate, _ *attest.DecisionRef) { p.Reason = "ok\x1b[31m" },
		"no time":           func(p *attest.RevocationPredicate, _ *attest.DecisionRef) { p.RevokedAt = time.Time{} },
		"no revoker":        func(p *attest.RevocationPredicate, _ *attest.DecisionRef) { p.Revoker.Identity = "" },
		"bad digest": func(p *attest.RevocationPredicate, d *attest.DecisionRef) {
			d.PayloadDigest, p.Revoked.PayloadDigest = "sha256:AB", "sha256:AB"
		},
		"digest mismatch": func(p *attest.RevocationPredicate, _ *attest.DecisionRef) {
			p.Revoked.PayloadDigest = "sha256:" + strings.Repeat("c", 64)
		},
	} {
		p, d := ok, *ref
		mutate(&p, &d)
		if _, err := attest.NewRevocationStatement(&d, p); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// matchSchema validates doc against the schema file with OPA's
// json.match_schema, and each mutation of doc must fail it.
func matchSchema(t *testing.T, path, id string, doc map[string]any, bad map[string]func(map[string]any)) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
	if schema["$id"] != id {
		t.Errorf("schema $id %v, expected %q", schema["$id"], id)
	}
	q, err := rego.New(rego.Query("x := json.match_schema(input.doc, input.schema)"), rego.StrictBuiltinErrors(true)).PrepareForEval(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	match := func(d any) (bool, string) {
		rs, err := q.Eval(t.Context(), rego.EvalInput(map[string]any{"doc": d, "schema": schema}))
		if err != nil || len(rs) != 1 {
			t.Fatalf("match_schema: %v %v", rs, err)
		}
		r := rs[0].Bindings["x"].([]any)
		b, _ := json.Marshal(r[1])
		return r[0].(bool), string(b)
	}
	if ok, why := match(doc); !ok {
		t.Errorf("the record violates %s: %s", path, why)
	}
	b, _ := json.Marshal(doc)
	for name, mutate := range bad {
		var d map[string]any
		_ = json.Unmarshal(b, &d)
		mutate(d)
		if ok, _ := match(d); ok {
			t.Errorf("%s: accepted by %s", name, path)
		}
	}
}
