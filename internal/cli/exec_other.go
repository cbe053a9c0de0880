//go:build !unix

package cli

// execEngine cannot replace the process here (Windows has no exec):
// dispatch runs airlock-rego as a child instead.
func execEngine(string, []string, []string) error { return nil }
