package policy

// DidYouMean names the candidate nearest to s when it is near enough to be
// a plausible typo: " (did you mean X?)", or "". The params schema uses it
// for a mistyped key; the command line for a mistyped flag, so that both
// suggest alike.
func DidYouMean(s string, candidates []string) string { return didYouMean(s, candidates) }
