package approvals

// assign picks, for each group i, up to mins[i] people from eligible[i] so
// that nobody is picked twice across groups, with as many picks as possible
// (a maximum bipartite matching of group slots to people, by augmenting
// paths). "1 of acme/security" and "1 of acme/release" then need two
// different people even when one person is in both teams.
//
// The result is a proof the policy can check (each pick eligible, nobody
// twice, enough per group); a collector bug can only make it deny.
func assign(mins []int, eligible [][]string) [][]string {
	type slot struct{ group int }
	var slots []slot
	for g, n := range mins {
		for range n {
			slots = append(slots, slot{g})
		}
	}
	owner := map[string]int{} // person → slot index
	var try func(s int, seen map[string]bool) bool
	try = func(s int, seen map[string]bool) bool {
		for _, p := range eligible[slots[s].group] {
			if seen[p] {
				continue
			}
			seen[p] = true
			cur, taken := owner[p]
			if !taken || try(cur, seen) {
				owner[p] = s
				return true
			}
		}
		return false
	}
	for s := range slots {
		try(s, map[string]bool{})
	}
	out := make([][]string, len(mins))
	// Report picks in the order people appear in eligible, for stable output.
	for g := range mins {
		for _, p := range eligible[g] {
			if s, ok := owner[p]; ok && slots[s].group == g {
				out[g] = append(out[g], p)
			}
		}
	}
	return out
}
