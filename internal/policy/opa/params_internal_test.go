package opa

import (
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/policies"
)

// TestParamRules: every refinement names a key the defaults have, so the
// schema cannot drift from the default params silently.
func TestParamRules(t *testing.T) {
	if _, err := buildSchema(policies.FS, paramRules); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"agent.max_ttl", "nope.x", "agent.allowed_scopes.public"} {
		_, err := buildSchema(policies.FS, map[string]paramSpec{p: {kind: kindInteger}})
		if err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("rule %s: expected an error naming it, got %v", p, err)
		}
	}
}
