package grants

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// testNotAfter is the predicate's validity.notAfter below.
var testNotAfter = time.Date(2026, 12, 6, 13, 0, 0, 0, time.UTC)

func TestFromPredicateRefuses(t *testing.T) {
	base := func() map[string]any {
		return map[string]any{
			"decision": "allow",
			"grants": map[string]any{"tools": []any{map[string]any{"name": "kb-search", "access": "read"}},
				"scopes": []any{"kb:read"}},
			"validity": map[string]any{"issuedAt": "2026-12-06T12:00:00Z", "notAfter": "2026-12-06T13:00:00Z"},
			"issuer":   map[string]any{"environment": "production"},
			"policy":   map[string]any{"digest": "sha256:" + strings.Repeat("01", 32)},
		}
	}
	for _, tc := range []struct {
		name string
		edit func(map[string]any)
		want string
	}{
		{"deny", func(p map[string]any) { p["decision"] = "deny" }, `decision is "deny"`},
		{"no grants", func(p map[string]any) { p["grants"] = map[string]any{} }, "grants nothing"},
		{"no notAfter", func(p map[string]any) { delete(p, "validity") }, "notAfter"},
		{"unknown access", func(p map[string]any) {
			p["grants"].(map[string]any)["tools"] = []any{map[string]any{"name": "x", "access": "admin"}}
		}, "tools[0]"},
		{"tool twice", func(p map[string]any) {
			p["grants"].(map[string]any)["tools"] = []any{map[string]any{"name": "x", "access": "read"}, map[string]any{"name": "x", "access": "write"}}
		}, "granted twice"},
		{"unknown grant key", func(p map[string]any) { p["grants"].(map[string]any)["resources"] = []any{"a"} }, "resources"},
		{"no scopes", func(p map[string]any) { delete(p["grants"].(map[string]any), "scopes") }, "both tools and scopes"},
		{"mistyped scope", func(p map[string]any) { p["grants"].(map[string]any)["scopes"] = []any{1} }, "scopes[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := base()
			tc.edit(p)
			raw, _ := json.Marshal(p)
			_, err := FromPredicate(raw, nil, "sha256:x")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, expected one containing %q", err, tc.want)
			}
		})
	}
	raw, _ := json.Marshal(base())
	d, err := FromPredicate(raw, nil, "sha256:x")
	if err != nil || d.Environment != "production" || !d.NotAfter.Equal(testNotAfter) || d.Grants.Tools[0].Access != AccessRead {
		t.Fatalf("%+v %v", d, err)
	}
}
