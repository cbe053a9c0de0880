package manifest_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/rego"
	"go.yaml.in/yaml/v3"

	"github.com/airlock-dev/airlock/internal/manifest"
)

// schemaCheck validates documents against schema/agent-manifest.schema.json
// with OPA's json.match_schema, the validator users' own policies would use.
type schemaCheck struct {
	query  rego.PreparedEvalQuery
	schema any
}

func newSchemaCheck(t *testing.T) *schemaCheck {
	t.Helper()
	schema, err := os.ReadFile("../../schema/agent-manifest.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var s any
	if err := json.Unmarshal(schema, &s); err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
	q, err := rego.New(
		rego.Query("json.match_schema(input.doc, input.schema)"),
		rego.StrictBuiltinErrors(true),
	).PrepareForEval(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return &schemaCheck{query: q, schema: s}
}

// match reports whether the manifest bytes are valid under the schema, the
// fields the schema complains about ("tool_registry.tools.2.access",
// "(Root)") and why. Bytes that do not even convert to a JSON document (not
// YAML, duplicate keys) count as rejected, with no fields.
func (c *schemaCheck) match(t *testing.T, data []byte) (ok bool, fields []string, why string) {
	t.Helper()
	var doc any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return false, nil, "not convertible: " + err.Error()
	}
	// Handed over as JSON text: match_schema takes a document of any JSON
	// type that way (an object argument would have to be an object).
	b, err := json.Marshal(doc)
	if err != nil {
		return false, nil, "not convertible: " + err.Error()
	}
	rs, err := c.query.Eval(context.Background(), rego.EvalInput(map[string]any{"doc": string(b), "schema": c.schema}))
	if err != nil {
		t.Fatalf("json.match_schema: %v", err)
	}
	if len(rs) != 1 {
		t.Fatalf("json.match_schema: %d results", len(rs))
	}
	res := rs[0].Expressions[0].Value.([]any)
	for _, e := range res[1].([]any) {
		fields = append(fields, e.(map[string]any)["field"].(string))
	}
	msg, _ := json.Marshal(res[1])
	return res[0].(bool), fields, string(msg)
}

// samePlace reports whether a schema error field and a parser problem path
// point at the same spot. The schema names the parent object for a missing
// field ("model" for model.version) and "(Root)" for top-level keys.
func samePlace(schemaField, parserPath string) bool {
	p := regexp.MustCompile(`\[(\d+)\]`).ReplaceAllString(parserPath, ".$1")
	if schemaField == "(Root)" {
		return !strings.Contains(p, ".")
	}
	return p == schemaField || strings.HasPrefix(p, schemaField+".")
}

// TestSchemaMatchesParser keeps the JSON Schema and the Go parser from
// drifting: every fixture the parser accepts, the schema accepts; every bad
// fixture the schema can judge, it rejects.
func TestSchemaMatchesParser(t *testing.T) {
	c := newSchemaCheck(t)
	good, _ := filepath.Glob(filepath.Join(fixtures, "*", "*"))
	n := 0
	for _, f := range good {
		if base := filepath.Base(f); !strings.HasPrefix(base, "qa.") && !strings.HasPrefix(base, "production.") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if ok, _, why := c.match(t, b); !ok {
			t.Errorf("%s: parser accepts it, schema rejects it: %s", f, why)
		}
		n++
	}
	if n < 20 {
		t.Fatalf("only %d good fixtures found", n)
	}
	for _, tc := range badCases {
		b, err := os.ReadFile(filepath.Join(fixtures, "bad", tc.file+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		ok, fields, why := c.match(t, b)
		switch {
		case tc.schema && ok:
			t.Errorf("bad/%s: parser rejects it, schema accepts it", tc.file)
		case !tc.schema && !ok:
			t.Errorf("bad/%s: marked parser-only, but the schema rejects it too (%s): mark it schema=true", tc.file, why)
		case !ok && len(fields) > 0:
			// Rejected for the same reason, not by accident elsewhere.
			_, err := manifest.Parse("production-manifest", b)
			var pe *manifest.ParseError
			if !errors.As(err, &pe) {
				continue
			}
			agree := false
			for _, f := range fields {
				for _, p := range pe.Problems {
					agree = agree || samePlace(f, p.Path)
				}
			}
			if !agree {
				t.Errorf("bad/%s: schema and parser disagree on where: schema %v, parser %v", tc.file, fields, pe.Problems)
			}
		}
	}
}

// TestSchemaSelfCheck guards against a schema so loose it accepts anything:
// an empty object and a wrong top-level type must fail.
func TestSchemaSelfCheck(t *testing.T) {
	c := newSchemaCheck(t)
	for _, doc := range []string{`{}`, `[]`, `{"name": "x"}`} {
		if ok, _, _ := c.match(t, []byte(doc)); ok {
			t.Errorf("schema accepts %s", doc)
		}
	}
}
