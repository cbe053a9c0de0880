package attest_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/airlock-dev/airlock/internal/attest"
)

// TestPredicateMatchesSchema validates predicates airlock writes against
// schema/decision-predicate.schema.json with OPA's json.match_schema, and
// shows the check can fail.
func TestPredicateMatchesSchema(t *testing.T) {
	raw, err := os.ReadFile("../../schema/decision-predicate.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var schema any
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
	var s struct {
		ID string `json:"$id"`
	}
	_ = json.Unmarshal(raw, &s)
	if s.ID != attest.PredicateType {
		t.Errorf("schema $id %q, expected the predicate type %q", s.ID, attest.PredicateType)
	}
	q, err := rego.New(rego.Query("x := json.match_schema(input.doc, input.schema)"), rego.StrictBuiltinErrors(true)).PrepareForEval(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	match := func(doc any) (bool, string) {
		rs, err := q.Eval(t.Context(), rego.EvalInput(map[string]any{"doc": doc, "schema": schema}))
		if err != nil || len(rs) != 1 {
			t.Fatalf("match_schema: %v %v", rs, err)
		}
		r := rs[0].Bindings["x"].([]any)
		b, _ := json.Marshal(r[1])
		return r[0].(bool), string(b)
	}
	for _, allow := range []bool{true, false} {
		p, err := attest.DecodePredicate(sampleStatement(t, allow))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(p)
		var doc map[string]any
		_ = json.Unmarshal(b, &doc)
		if ok, why := match(doc); !ok {
			t.Errorf("allow=%v: the predicate violates its schema: %s", allow, why)
		}
		bad := map[string]func(map[string]any){
			"decision maybe":     func(d map[string]any) { d["decision"] = "maybe" },
			"no validity":        func(d map[string]any) { delete(d, "validity") },
			"reason C14":         func(d map[string]any) { d["reasons"] = []any{map[string]any{"control": "C14", "message": "x"}} },
			"digest not sha256":  func(d map[string]any) { d["policy"].(map[string]any)["digest"] = "md5:1" },
			"controls not array": func(d map[string]any) { d["controls"] = "all" },
		}
		for name, mutate := range bad {
			var d map[string]any
			_ = json.Unmarshal(b, &d)
			mutate(d)
			if ok, _ := match(d); ok {
				t.Errorf("%s: accepted", name)
			}
		}
	}
	if !strings.Contains(string(raw), `"enum": ["allow", "deny"]`) {
		t.Error("decision must be an enum")
	}
}
