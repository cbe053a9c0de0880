package airlock_test

import data.airlock

# A run that C1 and C4 both accept: the production environment is gated
# properly and release-manager (not the actor octo-dev) approved it.
# This is also the full-policy fixture: a module that adds a control must add
# its evidence here so that test_c4_good_run_allowed keeps meaning "allow".
c4_good := {
	"identity": {
		"verified": true,
		"claims": {
			"environment": "production",
			"ref": "refs/heads/main",
			"sha": "aaaa",
			"runner_environment": "github-hosted",
			"job_workflow_ref": "acme/agent/.github/workflows/deploy.yml@refs/heads/main",
			"repository_id": "123",
			"actor": "octo-dev",
			"actor_id": "100",
		},
		"hint_mismatches": [],
	},
	"request": {
		"environment": "production",
		"allowed_refs": ["refs/heads/main"],
		"allow_self_hosted": false,
		"workflow": "",
		"repository_id": "",
	},
	# Revocation evidence that passes C2/C3.
	"revocation": {
		"declared": "none", "credentials": [], "production_identity": {"client_id": "prod"},
		"identity_reuse": false, "identity_reuse_with": [], "shared_issuer": false, "shared_issuer_with": [],
		"identity_unknown_for": [],
	},
	"approvals": {
		"status": "ok",
		"source": "run",
		"environment": {
			"name": "production",
			"id": 1,
			"required_reviewers": [{"type": "User", "id": 7, "login": "release-manager"}],
			"prevent_self_review": true,
			"can_admins_bypass": false,
			"wait_timer": 0,
			"branch_policy": {"protected_branches": true, "custom_branch_policies": false},
			"custom_rules": [],
			"rule_types": ["required_reviewers", "branch_policy"],
		},
		"run": {
			"id": 5, "attempt": 1, "created_at": "2026-06-01T12:00:00Z",
			"actor": {"login": "octo-dev", "id": 100},
			"triggering_actor": {"login": "octo-dev", "id": 100},
		},
		"approvals": [{
			"login": "release-manager", "user_id": 7, "state": "approved", "comment": "Ship it!",
			"environments": ["production"], "time": null,
		}],
		"approvers": ["release-manager"],
		"team_membership": {},
		"quorum": [{"eligible": ["release-manager"], "assigned": ["release-manager"]}],
		"age_seconds": 600,
		"age_source": "run.created_at",
		"requested": {
			"environment": "production",
			"approvers": [{"min": 1, "members": ["release-manager"]}],
			"min_approvals": 1,
			"max_age_seconds": 86400,
		},
	},
}

c4_denies(inp) := {r.message | some r in airlock.deny with input as inp; r.control == "C4"}

c4_warns(inp) := {r.message | some r in airlock.warn with input as inp; r.control == "C4"}

c4_patch(ops) := json.patch(c4_good, ops)

c4_set(path, value) := c4_patch([{"op": "replace", "path": path, "value": value}])

c4_denied(inp, word) if {
	some m in c4_denies(inp)
	contains(m, word)
}

# --- the good run ----------------------------------------------------------

test_c4_good_run_allowed if {
	count(c4_denies(c4_good)) == 0
	count(c4_warns(c4_good)) == 0
	"C4" in airlock.checked with input as c4_good
	airlock.allow with input as c4_good
}

test_c4_missing_evidence_denied if {
	inp := json.remove(c4_good, ["approvals"])
	c4_denied(inp, "no approval evidence")
	not "C4" in airlock.checked with input as inp
	not airlock.allow with input as inp
}

test_c4_environment_missing_denied if {
	inp := c4_patch([
		{"op": "replace", "path": "/approvals/status", "value": "environment-missing"},
		{"op": "replace", "path": "/approvals/environment", "value": null},
	])
	c4_denied(inp, `environment "production" does not exist or the token cannot read it`)
}

test_c4_malformed_evidence_denied if {
	not c4_denied(c4_good, "malformed")
	c4_denied(c4_set("/approvals/status", "partial"), "malformed")
	c4_denied(c4_set("/approvals", "yes"), "malformed")
	c4_denied(c4_set("/approvals", {"approvers": ["alice"]}), "malformed")
	c4_denied(c4_set("/approvals/approvers", [1]), "malformed")
	c4_denied(c4_set("/approvals/approvals/0/comment", null), "malformed")
	c4_denied(c4_set("/approvals/run", null), "malformed")
	c4_denied(c4_set("/approvals/age_seconds", "600"), "malformed")
	c4_denied(c4_set("/approvals/environment/can_admins_bypass", "no"), "malformed")
	c4_denied(c4_set("/approvals/requested/approvers/0/members", "release-manager"), "malformed")
	c4_denied(c4_set("/approvals/team_membership", {"acme/x": {"bob": 1}}), "malformed")
	c4_denied(c4_patch([{"op": "add", "path": "/approvals/pull_request", "value": {"number": "12"}}]), "malformed")
	# One reason, not a cascade.
	count(c4_denies(c4_set("/approvals/run", null))) == 1
}

# --- environment settings --------------------------------------------------------

test_c4_no_required_reviewers_denied if {
	c4_denied(c4_set("/approvals/environment/required_reviewers", []), "has no required reviewers")
}

test_c4_no_required_reviewers_one_reason if {
	inp := c4_patch([
		{"op": "replace", "path": "/approvals/environment/required_reviewers", "value": []},
		{"op": "replace", "path": "/approvals/environment/prevent_self_review", "value": null},
	])
	not c4_denied(inp, "self-review")
}

test_c4_self_review_allowed_denied if {
	c4_denied(c4_set("/approvals/environment/prevent_self_review", false), `turn on "prevent self-review"`)
}

test_c4_self_review_unknown_denied if {
	c4_denied(c4_set("/approvals/environment/prevent_self_review", null), "prevent_self_review missing")
}

test_c4_admin_bypass_denied if {
	c4_denied(c4_set("/approvals/environment/can_admins_bypass", true), "administrators bypass")
}

test_c4_admin_bypass_unknown_denied if {
	c4_denied(c4_set("/approvals/environment/can_admins_bypass", null), "can_admins_bypass missing")
	inp := c4_patch([{"op": "remove", "path": "/approvals/environment/can_admins_bypass"}])
	c4_denied(inp, "can_admins_bypass missing")
}

test_c4_no_branch_policy_denied if {
	inp := c4_set("/approvals/environment/branch_policy", null)
	c4_denied(inp, "lets any branch deploy")
	count(c4_denies(inp)) == 1 with data.airlock.params.approvals.require_branch_policy as true
	count(c4_denies(inp)) == 0 with data.airlock.params.approvals.require_branch_policy as false
}

# --- who approved ------------------------------------------------------------------

test_c4_no_approvers_named_denied if {
	inp := c4_patch([
		{"op": "replace", "path": "/approvals/requested/approvers", "value": []},
		{"op": "replace", "path": "/approvals/quorum", "value": []},
		{"op": "replace", "path": "/approvals/approvers", "value": []},
	])
	c4_denied(inp, "no approvers are named")
	not c4_denied(c4_good, "no approvers are named")
}

test_c4_self_approval_by_actor_denied if {
	inp := c4_set("/approvals/approvals/0", {"login": "Octo-Dev", "user_id": 100, "state": "approved", "comment": "", "environments": ["production"], "time": null})
	c4_denied(inp, "Octo-Dev approved a promotion to \"production\" that they started themselves")
}

test_c4_self_approval_by_id_after_rename_denied if {
	inp := c4_set("/approvals/approvals/0", {"login": "new-name", "user_id": 100, "state": "approved", "comment": "", "environments": ["production"], "time": null})
	c4_denied(inp, "new-name approved a promotion")
}

test_c4_self_approval_by_triggering_actor_denied if {
	inp := c4_set("/approvals/run/triggering_actor", {"login": "release-manager", "id": 7})
	c4_denied(inp, "release-manager approved a promotion")
}

test_c4_self_approval_for_another_environment_ignored if {
	inp := c4_patch([{"op": "add", "path": "/approvals/approvals/-", "value": {
		"login": "octo-dev", "user_id": 100, "state": "approved", "comment": "",
		"environments": ["qa"], "time": null,
	}}])
	count(c4_denies(inp)) == 0
}

test_c4_actor_unknown_denied if {
	inp := c4_patch([
		{"op": "replace", "path": "/identity/claims/actor", "value": ""},
		{"op": "replace", "path": "/identity/claims/actor_id", "value": ""},
		{"op": "replace", "path": "/approvals/run/actor", "value": {"login": "", "id": 0}},
		{"op": "replace", "path": "/approvals/run/triggering_actor", "value": {"login": "", "id": 0}},
	])
	c4_denied(inp, "self-approval cannot be ruled out")
}

test_c4_rejection_denied if {
	inp := c4_patch([{"op": "add", "path": "/approvals/approvals/-", "value": {
		"login": "security-lead", "user_id": 9, "state": "rejected", "comment": "pen test pending",
		"environments": ["production"], "time": null,
	}}])
	c4_denied(inp, `security-lead rejected the promotion to "production": "pen test pending"`)
}

test_c4_rejection_of_another_environment_ignored if {
	inp := c4_patch([{"op": "add", "path": "/approvals/approvals/-", "value": {
		"login": "security-lead", "user_id": 9, "state": "rejected", "comment": "",
		"environments": ["qa"], "time": null,
	}}])
	count(c4_denies(inp)) == 0
}

test_c4_unnamed_approver_warned if {
	inp := c4_patch([{"op": "add", "path": "/approvals/approvals/-", "value": {
		"login": "bot", "user_id": 11, "state": "approved", "comment": "",
		"environments": ["production"], "time": null,
	}}])
	some w in c4_warns(inp)
	contains(w, "bot approved the promotion")
	count(c4_denies(inp)) == 0
}

# --- quorum ---------------------------------------------------------------------------

test_c4_quorum_requested_denied if {
	c4_denied(c4_set("/approvals/requested/min_approvals", 2), "1 distinct named approver(s) approved the promotion to \"production\", 2 required")
}

test_c4_quorum_from_params_denied if {
	inp := c4_good
	c4_denied(inp, "2 required") with data.airlock.params.approvals.min_approvals as 2
	not c4_denied(inp, "required") with data.airlock.params.approvals.min_approvals as 1
}

test_c4_workflow_cannot_loosen_quorum if {
	inp := c4_set("/approvals/requested/min_approvals", 1)
	c4_denied(inp, "2 required") with data.airlock.params.approvals.min_approvals as 2
}

test_c4_no_approval_denied if {
	inp := c4_patch([
		{"op": "replace", "path": "/approvals/approvals", "value": []},
		{"op": "replace", "path": "/approvals/approvers", "value": []},
		{"op": "replace", "path": "/approvals/quorum/0", "value": {"eligible": [], "assigned": []}},
	])
	c4_denied(inp, "0 distinct named approver(s)")
	# One group: the total says it all, no second reason for the line.
	count(c4_denies(inp)) == 1
}

c4_two_teams := c4_patch([
	{"op": "replace", "path": "/approvals/requested/approvers", "value": [
		{"min": 1, "members": ["acme/security"]},
		{"min": 1, "members": ["acme/release"]},
	]},
	{"op": "replace", "path": "/approvals/requested/min_approvals", "value": 2},
	{"op": "replace", "path": "/approvals/approvers", "value": ["alice", "bob"]},
	{"op": "replace", "path": "/approvals/quorum", "value": [
		{"eligible": ["alice"], "assigned": ["alice"]},
		{"eligible": ["alice", "bob"], "assigned": ["bob"]},
	]},
	{"op": "replace", "path": "/approvals/team_membership", "value": {
		"acme/security": {"alice": "active", "bob": "not-member"},
		"acme/release": {"alice": "active", "bob": "active"},
	}},
	{"op": "replace", "path": "/approvals/approvals", "value": [
		{"login": "alice", "user_id": 1, "state": "approved", "comment": "", "environments": ["production"], "time": null},
		{"login": "bob", "user_id": 2, "state": "approved", "comment": "", "environments": ["production"], "time": null},
	]},
])

test_c4_two_team_quorum_met if {
	count(c4_denies(c4_two_teams)) == 0
}

test_c4_two_team_quorum_short_denied if {
	# bob left: alice cannot fill both lines.
	inp := json.patch(c4_two_teams, [
		{"op": "replace", "path": "/approvals/approvers", "value": ["alice"]},
		{"op": "replace", "path": "/approvals/quorum", "value": [
			{"eligible": ["alice"], "assigned": ["alice"]},
			{"eligible": ["alice"], "assigned": []},
		]},
		{"op": "remove", "path": "/approvals/approvals/1"},
	])
	c4_denied(inp, "approvers line 2 (acme/release) needs 1 distinct approver(s), found 0")
	c4_denied(inp, "1 distinct named approver(s)")
}

test_c4_single_group_asking_more_than_total_denied if {
	inp := c4_set("/approvals/requested/approvers/0/min", 2)
	c4_denied(inp, "approvers line 1 (release-manager) needs 2 distinct approver(s), found 1")
}

test_c4_quorum_shape_mismatch_denied if {
	c4_denied(c4_set("/approvals/quorum", []), "does not match the requested approver groups")
}

test_c4_quorum_assigns_ineligible_denied if {
	inp := json.patch(c4_two_teams, [{"op": "replace", "path": "/approvals/quorum/0/assigned", "value": ["mallory"]}])
	c4_denied(inp, "assigns mallory to approvers line 1")
	not c4_denied(c4_two_teams, "assigns")
}

test_c4_quorum_counts_someone_twice_denied if {
	inp := json.patch(c4_two_teams, [{"op": "replace", "path": "/approvals/quorum/1/assigned", "value": ["alice"]}])
	c4_denied(inp, "counts alice for more than one approvers line")
	not c4_denied(c4_two_teams, "more than one")
}

c4_unknown_team := c4_patch([
	{"op": "replace", "path": "/approvals/requested/approvers/0/members", "value": ["acme/release"]},
	{"op": "replace", "path": "/approvals/approvers", "value": []},
	{"op": "replace", "path": "/approvals/quorum/0", "value": {"eligible": [], "assigned": []}},
	{"op": "replace", "path": "/approvals/team_membership", "value": {"acme/release": {"release-manager": "unknown"}}},
])

test_c4_unknown_team_membership_denied if {
	c4_denied(c4_unknown_team, "whether release-manager is a member of acme/release is unknown")
	c4_denied(c4_unknown_team, "members: read")
	# It explains the shortfall rather than warning that the approver is unnamed.
	count(c4_warns(c4_unknown_team)) == 0
}

test_c4_unknown_team_membership_irrelevant_when_quorum_met if {
	inp := c4_set("/approvals/team_membership", {"acme/release": {"someone": "unknown"}})
	count(c4_denies(inp)) == 0
}

# --- age ----------------------------------------------------------------------------------

test_c4_age_unknown_denied if {
	inp := c4_patch([
		{"op": "replace", "path": "/approvals/age_seconds", "value": null},
		{"op": "replace", "path": "/approvals/age_source", "value": "unknown"},
	])
	c4_denied(inp, "is unknown (unknown): a maximum approval age of 24h00m cannot be checked")
}

test_c4_stale_run_approval_denied if {
	inp := c4_set("/approvals/age_seconds", 108000)
	c4_denied(inp, "cannot be shown to be younger than 24h00m")
	c4_denied(inp, "created 30h00m ago")
}

test_c4_workflow_can_tighten_age if {
	inp := c4_set("/approvals/requested/max_age_seconds", 300)
	c4_denied(inp, "younger than 5m00s")
}

test_c4_workflow_cannot_loosen_age if {
	inp := c4_patch([
		{"op": "replace", "path": "/approvals/requested/max_age_seconds", "value": 172800},
		{"op": "replace", "path": "/approvals/age_seconds", "value": 108000},
	])
	c4_denied(inp, "younger than 24h00m")
}

# --- promotion-PR mode --------------------------------------------------------------

c4_pr := c4_patch([
	{"op": "replace", "path": "/approvals/source", "value": "pull_request"},
	{"op": "add", "path": "/approvals/pull_request", "value": {
		"number": 12, "state": "open", "author": {"login": "octo-dev", "id": 100},
		"head_sha": "bbbb", "merge_commit_sha": "aaaa", "base_ref": "main",
	}},
	{"op": "replace", "path": "/approvals/approvals/0", "value": {
		"login": "release-manager", "user_id": 7, "state": "approved", "comment": "LGTM",
		"environments": [], "time": "2026-06-01T12:00:00Z", "commit_id": "bbbb",
	}},
	{"op": "replace", "path": "/approvals/age_source", "value": "review.submitted_at"},
])

test_c4_pr_mode_allowed if {
	count(c4_denies(c4_pr)) == 0
	count(c4_warns(c4_pr)) == 0
}

test_c4_pr_of_another_commit_denied if {
	inp := json.patch(c4_pr, [{"op": "replace", "path": "/approvals/pull_request/merge_commit_sha", "value": "cccc"}])
	c4_denied(inp, "pull request #12 is at bbbb (merge commit cccc), but this run is for commit aaaa")
}

test_c4_pr_changes_requested_denied if {
	inp := json.patch(c4_pr, [{"op": "add", "path": "/approvals/approvals/-", "value": {
		"login": "sec", "user_id": 8, "state": "changes_requested", "comment": "no", "environments": [],
		"time": null, "commit_id": "bbbb",
	}}])
	c4_denied(inp, "sec rejected")
}

test_c4_pr_author_approval_denied if {
	inp := json.patch(c4_pr, [{"op": "add", "path": "/approvals/approvals/-", "value": {
		"login": "octo-dev", "user_id": 100, "state": "approved", "comment": "", "environments": [],
		"time": null, "commit_id": "bbbb",
	}}])
	c4_denied(inp, "octo-dev approved a promotion")
}

test_c4_pr_old_commit_warned if {
	inp := json.patch(c4_pr, [{"op": "add", "path": "/approvals/approvals/-", "value": {
		"login": "bob", "user_id": 3, "state": "approved", "comment": "", "environments": [],
		"time": null, "commit_id": "0000",
	}}])
	some w in c4_warns(inp)
	contains(w, "bob approved commit 0000 of pull request #12, not its head bbbb")
	count(c4_warns(inp)) == 1
}

test_c4_pr_stale_review_denied if {
	inp := json.patch(c4_pr, [{"op": "replace", "path": "/approvals/age_seconds", "value": 90000}])
	c4_denied(inp, "the oldest counted review is 25h00m old")
}

test_c4_pr_missing_denied if {
	inp := json.patch(c4_pr, [{"op": "remove", "path": "/approvals/pull_request"}])
	c4_denied(inp, "found no pull request")
	inp2 := json.patch(inp, [{"op": "replace", "path": "/approvals/status", "value": "pull-request-missing"}])
	c4_denied(inp2, `this run's ref is "refs/heads/main"`)
}

test_c4_mistyped_params_deny if {
	c4_denied(c4_good, "params.approvals.min_approvals must be a number, got string") with data.airlock.params.approvals.min_approvals as "3"
	c4_denied(c4_good, "params.approvals.max_age_seconds must be a number, got boolean") with data.airlock.params.approvals.max_age_seconds as true
	not c4_denied(c4_good, "must be a number") with data.airlock.params.approvals.min_approvals as 1
}
