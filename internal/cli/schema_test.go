package cli

import (
	"context"
	"encoding/json"
	"os"
	"testing"

	"github.com/open-policy-agent/opa/v1/rego"
)

// assertMatchesSchema validates doc against a JSON Schema file of schema/
// with OPA's json.match_schema, so the documented schema and what the gate
// writes cannot drift apart.
func assertMatchesSchema(t *testing.T, schemaFile string, doc any) {
	t.Helper()
	b, err := os.ReadFile("../../schema/" + schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	var schema any
	if err := json.Unmarshal(b, &schema); err != nil {
		t.Fatalf("%s: %v", schemaFile, err)
	}
	rs, err := rego.New(
		rego.Query("r := json.match_schema(input.doc, input.schema)"),
		rego.Input(map[string]any{"doc": doc, "schema": schema}),
	).Eval(context.Background())
	if err != nil || len(rs) != 1 {
		t.Fatalf("match_schema: %v %v", rs, err)
	}
	r := rs[0].Bindings["r"].([]any)
	if r[0] != true {
		t.Fatalf("document does not match %s: %v", schemaFile, r[1])
	}
}

func TestEvidenceMatchesSchema(t *testing.T) {
	for name, setup := range map[string]func(*gateRun){
		"plain":      func(*gateRun) {},
		"agent":      func(r *gateRun) { r.withManifests("read-to-write"); r.allowScopes() },
		"unverified": func(r *gateRun) { r.claims["aud"] = "other" },
		"revocation": func(r *gateRun) { r.withQAGitHubToken() },
	} {
		t.Run(name, func(t *testing.T) {
			r := newRun(t)
			setup(r)
			o := r.gate()
			if o.evidence == nil {
				t.Fatalf("no evidence (exit %d)\n%s", o.code, o.stderr)
			}
			assertMatchesSchema(t, "evidence.schema.json", o.evidence)
		})
	}
	// The check itself can fail.
	rs, err := rego.New(rego.Query(`r := json.match_schema({"schema": "x"}, {"type": "object", "required": ["request"]})`)).Eval(context.Background())
	if err != nil || rs[0].Bindings["r"].([]any)[0] != false {
		t.Fatalf("match_schema accepted an invalid document: %v %v", rs, err)
	}
}
