package approvals

import (
	"slices"
	"strings"
	"testing"
)

// FuzzParseApprovers: the approvers input is workflow text. It parses into
// groups that each ask for at least one approver, and for no more people
// than they name unless a team is among them (N of a team is N of its
// members), or it is an error; it never panics.
func FuzzParseApprovers(f *testing.F) {
	for _, s := range []string{
		"release-manager, acme/release",
		"1 of acme/security\n2 from alice, bob, carol",
		"# comment\n\nalice",
		"0 of alice",
		"3 of alice, bob",
		"alice,,bob",
		"99999999999999999999 of alice",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		groups, err := ParseApprovers(s)
		if err != nil {
			return
		}
		for i, g := range groups {
			teams := slices.ContainsFunc(g.Members, IsTeam)
			if g.Min < 1 || (!teams && g.Min > len(g.Members)) {
				t.Fatalf("group %d of %q: min %d with %d member(s)", i, s, g.Min, len(g.Members))
			}
			for _, m := range g.Members {
				if m == "" || strings.ContainsAny(m, ", \t\n") {
					t.Fatalf("group %d of %q: member %q", i, s, m)
				}
			}
		}
	})
}
