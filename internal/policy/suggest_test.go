package policy

import "testing"

func TestDidYouMean(t *testing.T) {
	for _, tc := range []struct{ s, want string }{
		{"max_credential_ttl_secs", " (did you mean max_credential_ttl_seconds?)"},
		{"denny", " (did you mean deny?)"},
		{"airlock_custom", " (did you mean airlock?)"},
		{"colour", ""},
	} {
		if got := DidYouMean(tc.s, []string{"max_credential_ttl_seconds", "deny", "airlock", "min_approvals"}); got != tc.want {
			t.Errorf("DidYouMean(%q) = %q, expected %q", tc.s, got, tc.want)
		}
	}
}
