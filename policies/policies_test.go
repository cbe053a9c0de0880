package policies_test

import (
	"context"
	"testing"

	"github.com/airlock-dev/airlock/internal/policy"
	"github.com/airlock-dev/airlock/internal/policy/opa"
	"github.com/airlock-dev/airlock/policies"
)

// TestRego runs every test_* rule of the default policies through OPA's test
// runner, the same code path as `airlock policy test`.
func TestRego(t *testing.T) {
	results, err := opa.RunTests(context.Background(), policy.Source{Name: "policies", FS: policies.FS})
	if err != nil {
		t.Fatal(err)
	}
	if len(results) == 0 {
		t.Fatal("no Rego tests found in policies/")
	}
	for _, r := range results {
		if !r.Pass {
			t.Errorf("%s (%s): %s", r.Name, r.File, r.Message)
		}
	}
	t.Logf("%d Rego tests", len(results))
}
