package testsvc

import (
	"time"

	"github.com/airlock-dev/airlock/internal/approvals"
)

// Approvals is approval evidence (C4) as the collector writes it for a run
// started by "octo-dev" in environment "production", gated properly, and
// approved by each of approvers, who are all named in one approvers line.
// With at least one approver it passes the default C4 policy, so tests of
// other controls can feed the whole default policy set; with none, C4 denies
// ("0 distinct named approver(s)").
func Approvals(approvers ...string) *approvals.Report {
	yes, no := true, false
	age := int64(600)
	names := append([]string{}, approvers...)
	r := &approvals.Report{
		Status: approvals.StatusOK,
		Source: approvals.SourceRun,
		Environment: &approvals.Environment{
			Name: "production", ID: 1,
			RequiredReviewers: []approvals.Reviewer{{Type: "User", ID: 7, Login: "release-manager"}},
			PreventSelfReview: &yes, CanAdminsBypass: &no,
			BranchPolicy: &approvals.BranchPolicy{ProtectedBranches: true},
			CustomRules:  []approvals.CustomRule{}, RuleTypes: []string{"required_reviewers", "branch_policy"},
		},
		Run: &approvals.Run{
			ID: 5, Attempt: 1, CreatedAt: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC),
			Actor: approvals.Person{Login: "octo-dev", ID: 100}, TriggeringActor: approvals.Person{Login: "octo-dev", ID: 100},
		},
		Approvals: []approvals.Approval{}, Approvers: names, TeamMembership: map[string]map[string]string{},
		Quorum:     []approvals.GroupResult{{Eligible: names, Assigned: names[:min(1, len(names))]}},
		AgeSeconds: &age, AgeSource: approvals.AgeFromRunCreation,
		Requested: approvals.Requested{
			Environment: "production", MinApprovals: 1, MaxAgeSeconds: 86400,
			Approvers: []approvals.Group{{Min: 1, Members: append([]string{"release-manager"}, names...)}},
		},
	}
	for i, login := range names {
		r.Approvals = append(r.Approvals, approvals.Approval{
			Login: login, UserID: int64(1000 + i), State: "approved", Comment: "", Environments: []string{"production"},
		})
	}
	return r
}
