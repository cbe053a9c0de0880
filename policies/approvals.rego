# C4 — a named human approved this promotion. Evidence: input.approvals
# (internal/approvals): the target environment's protection settings, the
# approval record (the run's deployment reviews, or a promotion PR's reviews),
# team memberships, and what the workflow asked for (input.approvals.requested).
#
# Thresholds are data.airlock.params.approvals; the workflow's inputs can only
# make them stricter (more approvers, a shorter maximum age), never looser.
# input.approvals.approvers is the list of distinct approvers that count;
# other modules count it (e.g. "two approvers when data goes live").
package airlock

checked contains "C4" if input.approvals

approvals_params := object.get(data.airlock.params, "approvals", {})

approvals_requested := object.get(object.get(input, "approvals", {}), "requested", {})

approvals_env_name := object.get(approvals_requested, "environment", object.get(object.get(input, "request", {}), "environment", ""))

# Effective thresholds: the stricter of policy and workflow.
approvals_min := max({
	object.get(approvals_params, "min_approvals", 1),
	object.get(approvals_requested, "min_approvals", 1),
})

approvals_max_age := min({a |
	some a in [object.get(approvals_params, "max_age_seconds", 86400), object.get(approvals_requested, "max_age_seconds", 86400)]
	is_number(a)
	a > 0
})

# --- evidence present and usable -------------------------------------------

deny contains reason("C4", "no approval evidence was collected: a promotion needs a recorded approval") if {
	not input.approvals
}

deny contains reason("C4", sprintf("environment %q does not exist or the token cannot read it: create it with required reviewers, or grant the github-token actions: read", [approvals_env_name])) if {
	input.approvals.status == "environment-missing"
}

deny contains reason("C4", sprintf("approval-source pull-request needs a run of a pull request (ref refs/pull/N/merge), but this run's ref is %q", [object.get(token_claims, "ref", "")])) if {
	input.approvals.status == "pull-request-missing"
}

deny contains reason("C4", sprintf("approval evidence has status %q, expected \"ok\"", [input.approvals.status])) if {
	not input.approvals.status in {"ok", "environment-missing", "pull-request-missing"}
}

# --- the environment's own settings ----------------------------------------

approvals_env := input.approvals.environment if {
	input.approvals.environment != null
}

deny contains reason("C4", sprintf("environment %q has no required reviewers: nobody has to approve a deployment to it", [approvals_env.name])) if {
	count(object.get(approvals_env, "required_reviewers", [])) == 0
}

deny contains reason("C4", sprintf("environment %q lets whoever triggered a deployment approve it: turn on \"prevent self-review\"", [approvals_env.name])) if {
	count(approvals_env.required_reviewers) > 0
	approvals_env.prevent_self_review == false
}

deny contains reason("C4", sprintf("GitHub did not say whether environment %q prevents self-review (prevent_self_review missing): treated as allowed", [approvals_env.name])) if {
	count(approvals_env.required_reviewers) > 0
	not is_boolean(object.get(approvals_env, "prevent_self_review", null))
}

deny contains reason("C4", sprintf("environment %q lets administrators bypass its protection rules: turn off \"allow administrators to bypass\"", [approvals_env.name])) if {
	approvals_env.can_admins_bypass == true
}

deny contains reason("C4", sprintf("GitHub did not say whether administrators can bypass environment %q (can_admins_bypass missing): treated as allowed", [approvals_env.name])) if {
	approvals_env
	not is_boolean(object.get(approvals_env, "can_admins_bypass", null))
}

deny contains reason("C4", sprintf("environment %q lets any branch deploy: set a deployment branch policy (protected or selected branches)", [approvals_env.name])) if {
	object.get(approvals_params, "require_branch_policy", true) == true
	object.get(approvals_env, "branch_policy", null) == null
}

# --- who approved ------------------------------------------------------------

deny contains reason("C4", sprintf("no approvers are named: set the approvers input (logins or org/team slugs) allowed to approve promotion to %q", [approvals_env_name])) if {
	input.approvals
	count(object.get(approvals_requested, "approvers", [])) == 0
}

approvals_run := object.get(input.approvals, "run", null)

approvals_self_logins contains lower(l) if {
	some l in [
		object.get(token_claims, "actor", ""),
		object.get(object.get(approvals_run, "actor", {}), "login", ""),
		object.get(object.get(approvals_run, "triggering_actor", {}), "login", ""),
		object.get(object.get(object.get(input.approvals, "pull_request", {}), "author", {}), "login", ""),
	]
	l != ""
}

approvals_self_ids contains id if {
	some id in [
		object.get(object.get(approvals_run, "actor", {}), "id", 0),
		object.get(object.get(approvals_run, "triggering_actor", {}), "id", 0),
		object.get(object.get(object.get(input.approvals, "pull_request", {}), "author", {}), "id", 0),
	]
	id > 0
}

approvals_self_ids contains id if {
	regex.match(`^[0-9]+$`, object.get(token_claims, "actor_id", ""))
	id := to_number(token_claims.actor_id)
}

approval_is_self(a) if lower(a.login) in approvals_self_logins

approval_is_self(a) if a.user_id in approvals_self_ids

# approval_for_target: the approval applies to the promotion being gated.
approval_for_target(a) if {
	input.approvals.source == "run"
	some e in a.environments
	lower(e) == lower(approvals_env_name)
}

approval_for_target(_) if input.approvals.source == "pull_request"

deny contains reason("C4", "the run's actor and triggering actor are unknown: self-approval cannot be ruled out") if {
	input.approvals
	count(approvals_self_logins) == 0
}

deny contains reason("C4", sprintf("%s approved a promotion to %q that they started themselves: an approver must be someone other than the run's actor or triggering actor", [a.login, approvals_env_name])) if {
	some a in input.approvals.approvals
	a.state == "approved"
	approval_for_target(a)
	approval_is_self(a)
}

deny contains reason("C4", sprintf("%s rejected the promotion to %q: %q", [a.login, approvals_env_name, approvals_comment(a)])) if {
	some a in input.approvals.approvals
	a.state in {"rejected", "changes_requested"}
	approval_for_target(a)
}

approvals_comment(a) := substring(object.get(a, "comment", ""), 0, 200)

approvals_count := count(object.get(input.approvals, "approvers", []))

deny contains reason("C4", sprintf("%d distinct named approver(s) approved the promotion to %q, %d required", [approvals_count, approvals_env_name, approvals_min])) if {
	input.approvals
	count(object.get(approvals_requested, "approvers", [])) > 0
	approvals_count < approvals_min
}

approvals_groups := object.get(approvals_requested, "approvers", [])

approvals_quorum := object.get(input.approvals, "quorum", [])

default approvals_assigned_count(_) := 0

approvals_assigned_count(i) := count(approvals_quorum[i].assigned)

approvals_group_short contains i if {
	some i, g in approvals_groups
	approvals_assigned_count(i) < g.min
}

deny contains reason("C4", sprintf("approvers line %d (%s) needs %d distinct approver(s), found %d", [i + 1, concat(", ", g.members), g.min, approvals_assigned_count(i)])) if {
	some i in approvals_group_short
	g := approvals_groups[i]
	approvals_group_reason_needed(g)
}

# With one group the total count above already says it, unless the group
# asks for more than the total.
approvals_group_reason_needed(_) if count(approvals_groups) > 1

approvals_group_reason_needed(g) if g.min > approvals_min

approvals_quorum_met if {
	approvals_count >= approvals_min
	count(approvals_group_short) == 0
}

# The quorum is recorded as an assignment of distinct people: check it.
deny contains reason("C4", "the recorded quorum does not match the requested approver groups") if {
	input.approvals
	count(approvals_quorum) != count(approvals_groups)
}

deny contains reason("C4", sprintf("the recorded quorum assigns %s to approvers line %d, who is not an eligible approver there", [p, i + 1])) if {
	some i, q in approvals_quorum
	some p in q.assigned
	not approvals_eligible_in(p, q)
}

approvals_eligible_in(p, q) if {
	p in q.eligible
	p in input.approvals.approvers
}

deny contains reason("C4", sprintf("the recorded quorum counts %s for more than one approvers line", [p])) if {
	some i, q in approvals_quorum
	some j, r in approvals_quorum
	i < j
	some p in q.assigned
	p in r.assigned
}

deny contains reason("C4", sprintf("whether %s is a member of %s is unknown: the github-token cannot read organization teams; pass a token with members: read (a GitHub App installation token — the job's GITHUB_TOKEN cannot have it)", [login, team])) if {
	not approvals_quorum_met
	some team, members in object.get(input.approvals, "team_membership", {})
	some login, state in members
	state == "unknown"
}

# --- how recent ----------------------------------------------------------------

deny contains reason("C4", sprintf("the age of the approvals of the promotion to %q is unknown (%s): a maximum approval age of %s cannot be checked", [approvals_env_name, object.get(input.approvals, "age_source", "unknown"), approvals_duration(approvals_max_age)])) if {
	approvals_count > 0
	not is_number(object.get(input.approvals, "age_seconds", null))
}

deny contains reason("C4", sprintf("the approval cannot be shown to be younger than %s: GitHub's approval record carries no time, and this run was created %s ago; approve a new run", [approvals_duration(approvals_max_age), approvals_duration(input.approvals.age_seconds)])) if {
	approvals_count > 0
	input.approvals.age_source == "run.created_at"
	input.approvals.age_seconds > approvals_max_age
}

deny contains reason("C4", sprintf("the oldest counted review is %s old, more than the maximum approval age of %s", [approvals_duration(input.approvals.age_seconds), approvals_duration(approvals_max_age)])) if {
	approvals_count > 0
	input.approvals.age_source != "run.created_at"
	input.approvals.age_seconds > approvals_max_age
}

approvals_duration(s) := sprintf("%dh%02dm", [floor(s / 3600), floor((s % 3600) / 60)]) if s >= 3600

approvals_duration(s) := sprintf("%dm%02ds", [floor(s / 60), floor(s % 60)]) if s < 3600

# --- promotion-PR mode -----------------------------------------------------------

deny contains reason("C4", sprintf("pull request #%d is at %s (merge commit %s), but this run is for commit %s: its reviews do not approve this run", [pr.number, pr.head_sha, pr.merge_commit_sha, object.get(token_claims, "sha", "")])) if {
	pr := input.approvals.pull_request
	not object.get(token_claims, "sha", "") in {pr.head_sha, pr.merge_commit_sha}
}

deny contains reason("C4", "promotion-PR mode found no pull request in the evidence") if {
	input.approvals.source == "pull_request"
	input.approvals.status == "ok"
	not input.approvals.pull_request
}

# --- explanations ------------------------------------------------------------------

warn contains reason("C4", sprintf("%s approved the promotion to %q but does not count: not named in approvers (directly or through an active team membership)", [a.login, approvals_env_name])) if {
	some a in input.approvals.approvals
	a.state == "approved"
	approval_for_target(a)
	count(approvals_groups) > 0
	not approval_is_self(a)
	not approvals_outdated_review(a)
	not a.login in {x | some x in input.approvals.approvers}
	not approvals_unknown_member(a.login)
}

approvals_unknown_member(login) if {
	some _, members in object.get(input.approvals, "team_membership", {})
	members[login] == "unknown"
}

approvals_outdated_review(a) if a.commit_id != input.approvals.pull_request.head_sha

warn contains reason("C4", sprintf("%s approved commit %s of pull request #%d, not its head %s: only approvals of the head commit count", [a.login, a.commit_id, pr.number, pr.head_sha])) if {
	pr := input.approvals.pull_request
	some a in input.approvals.approvals
	a.state == "approved"
	a.commit_id != pr.head_sha
}
