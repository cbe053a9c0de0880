package verify

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// An auditor verifies long after the promotion: an expired decision says
// when it was valid and how to check a deployment made then, and keeps the
// prefix internal/audit classifies by.
func TestExpiredDecisionSaysWhenItWasValid(t *testing.T) {
	issued := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	notAfter := issued.Add(time.Hour)
	now := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		validity string
		want     string
	}{
		{"a window", `{"issuedAt": "2026-03-01T10:00:00Z", "notAfter": "2026-03-01T11:00:00Z"}`,
			"decision expired: notAfter 2026-03-01T11:00:00Z is before 2026-12-07T03:00:00Z; it was valid from 2026-03-01T10:00:00Z to 2026-03-01T11:00:00Z: to check a deployment made then, verify with --at <deployment time> (RFC 3339)"},
		{"no issuedAt", `{"notAfter": "2026-03-01T11:00:00Z"}`,
			"decision expired: notAfter 2026-03-01T11:00:00Z is before 2026-12-07T03:00:00Z; to check a past deployment, verify with --at <deployment time> (RFC 3339)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := DecisionCheck{}.CheckPredicate(json.RawMessage(`{"decision": "allow", "validity": `+tc.validity+`}`), now)
			var got []string
			for _, e := range o.Errors {
				if strings.HasPrefix(e, "decision expired: notAfter") {
					got = append(got, e)
				}
			}
			if len(got) != 1 || got[0] != tc.want {
				t.Errorf("errors %q\nexpected one %q", o.Errors, tc.want)
			}
		})
	}
	// At a time inside the window the same decision passes: the --at the
	// message points to is the way out.
	o := DecisionCheck{}.CheckPredicate(json.RawMessage(`{"decision": "allow", "validity": {"issuedAt": "`+issued.Format(time.RFC3339)+`", "notAfter": "`+notAfter.Format(time.RFC3339)+`"}}`), issued.Add(30*time.Minute))
	if len(o.Errors) != 0 {
		t.Errorf("at a time in the window: %q", o.Errors)
	}
}
