# C4 — a named human approved this promotion. Evidence: input.approvals
# (internal/approvals): the target environment's protection settings, the
# approval record (the run's deployment reviews, or a promotion PR's reviews),
# team memberships, and what the workflow asked for (input.approvals.requested).
#
# Thresholds are data.airlock.params.approvals; the workflow's inputs can only
# make them stricter (more approvers, a shorter maximum age), never looser.
# input.approvals.approvers is the list of distinct approvers that count;
# other modules count it (e.g. "two approvers when data goes live").
#
# The evidence's shape is checked once (approvals_ok); every other rule reads
# `ap`, which exists only when the shape is right, so no input can make a
# rule error out instead of deny.
package airlock

checked contains "C4" if input.approvals

approvals_params := object.get(data.airlock.params, "approvals", {})

# --- shape -----------------------------------------------------------------------

deny contains reason("C4", "no approval evidence was collected: a promotion needs a recorded approval") if {
	not input.approvals
}

deny contains reason("C4", "approval evidence is malformed: it does not have the shape of schema/evidence.schema.json") if {
	input.approvals
	not approvals_ok
}

ap := input.approvals if approvals_ok

approvals_ok if {
	a := input.approvals
	is_object(a)
	a.status in {"ok", "environment-missing", "pull-request-missing"}
	a.source in {"run", "pull_request"}
	approvals_env_ok(a.environment)
	approvals_person_ok(a.run.actor)
	approvals_person_ok(a.run.triggering_actor)
	approvals_pr_ok(a)
	is_array(a.approvals)
	every x in a.approvals {
		approvals_entry_ok(x)
	}
	approvals_strings(a.approvers)
	is_object(a.team_membership)
	every _, members in a.team_membership {
		is_object(members)
		every _, state in members {
			is_string(state)
		}
	}
	is_array(a.quorum)
	every q in a.quorum {
		approvals_strings(q.eligible)
		approvals_strings(q.assigned)
	}
	approvals_null_or_number(a.age_seconds)
	is_string(a.age_source)
	is_string(a.requested.environment)
	is_number(a.requested.min_approvals)
	is_number(a.requested.max_age_seconds)
	is_array(a.requested.approvers)
	every g in a.requested.approvers {
		is_number(g.min)
		approvals_strings(g.members)
	}
}

approvals_strings(xs) if {
	is_array(xs)
	every x in xs {
		is_string(x)
	}
}

approvals_null_or_number(v) if v == null

approvals_null_or_number(v) if is_number(v)

approvals_null_or_bool(v) if v == null

approvals_null_or_bool(v) if is_boolean(v)

approvals_person_ok(p) if {
	is_string(p.login)
	is_number(p.id)
}

approvals_env_ok(e) if e == null

approvals_env_ok(e) if {
	is_string(e.name)
	is_array(e.required_reviewers)
	every r in e.required_reviewers {
		is_object(r)
	}
	approvals_null_or_bool(object.get(e, "prevent_self_review", null))
	approvals_null_or_bool(object.get(e, "can_admins_bypass", null))
}

approvals_pr_ok(a) if not "pull_request" in object.keys(a)

approvals_pr_ok(a) if {
	pr := a.pull_request
	is_number(pr.number)
	approvals_person_ok(pr.author)
	is_string(pr.head_sha)
	is_string(pr.merge_commit_sha)
}

approvals_entry_ok(x) if {
	is_string(x.login)
	is_number(x.user_id)
	is_string(x.state)
	is_string(x.comment)
	approvals_strings(x.environments)
	is_string(object.get(x, "commit_id", ""))
}

# --- thresholds: the stricter of policy and workflow -----------------------------

approvals_min := max({n |
	some n in [object.get(approvals_params, "min_approvals", 1), ap.requested.min_approvals, 1]
	is_number(n)
})

# A threshold that is not a number would drop out of the max/min above and
# quietly weaken the rule: it is a deny of its own.
deny contains reason("C4", sprintf("policy parameter params.approvals.%s must be a number, got %s", [k, type_name(approvals_params[k])])) if {
	some k in ["min_approvals", "max_age_seconds"]
	not is_number(object.get(approvals_params, k, 0))
}

approvals_max_age := min({s |
	some s in [object.get(approvals_params, "max_age_seconds", 86400), ap.requested.max_age_seconds]
	is_number(s)
	s > 0
})

approvals_env_name := ap.requested.environment

deny contains reason("C4", sprintf("environment %q does not exist or the token cannot read it: create it with required reviewers, or grant the github-token actions: read", [approvals_env_name])) if {
	ap.status == "environment-missing"
}

deny contains reason("C4", sprintf("approval-source pull-request needs a run of a pull request (ref refs/pull/N/merge), but this run's ref is %q", [object.get(token_claims, "ref", "")])) if {
	ap.status == "pull-request-missing"
}

# --- the environment's own settings ----------------------------------------

approvals_env := ap.environment if ap.environment != null

deny contains reason("C4", sprintf("environment %q has no required reviewers: nobody has to approve a deployment to it", [approvals_env.name])) if {
	count(approvals_env.required_reviewers) == 0
}

deny contains reason("C4", sprintf("environment %q lets whoever triggered a deployment approve it: turn on \"prevent self-review\"", [approvals_env.name])) if {
	count(approvals_env.required_reviewers) > 0
	approvals_env.prevent_self_review == false
}

deny contains reason("C4", sprintf("GitHub did not say whether environment %q prevents self-review (prevent_self_review missing): treated as allowed", [approvals_env.name])) if {
	count(approvals_env.required_reviewers) > 0
	object.get(approvals_env, "prevent_self_review", null) == null
}

deny contains reason("C4", sprintf("environment %q lets administrators bypass its protection rules: turn off \"allow administrators to bypass\"", [approvals_env.name])) if {
	approvals_env.can_admins_bypass == true
}

deny contains reason("C4", sprintf("GitHub did not say whether administrators can bypass environment %q (can_admins_bypass missing): treated as allowed", [approvals_env.name])) if {
	object.get(approvals_env, "can_admins_bypass", null) == null
}

deny contains reason("C4", sprintf("environment %q lets any branch deploy: set a deployment branch policy (protected or selected branches)", [approvals_env.name])) if {
	object.get(approvals_params, "require_branch_policy", true) != false
	object.get(approvals_env, "branch_policy", null) == null
}

# --- who approved ------------------------------------------------------------

approvals_groups := ap.requested.approvers

deny contains reason("C4", sprintf("no approvers are named: set the approvers input (logins or org/team slugs) allowed to approve promotion to %q", [approvals_env_name])) if {
	count(approvals_groups) == 0
}

approvals_people := [
	ap.run.actor,
	ap.run.triggering_actor,
	object.get(ap, ["pull_request", "author"], {"login": "", "id": 0}),
]

approvals_self_logins contains lower(l) if {
	some l in [object.get(token_claims, "actor", ""), approvals_people[_].login]
	is_string(l)
	l != ""
}

approvals_self_ids contains p.id if {
	some p in approvals_people
	p.id > 0
}

approvals_self_ids contains to_number(id) if {
	id := object.get(token_claims, "actor_id", "")
	regex.match(`^[0-9]+$`, id)
}

approval_is_self(a) if lower(a.login) in approvals_self_logins

approval_is_self(a) if a.user_id in approvals_self_ids

# approval_for_target: the approval applies to the promotion being gated.
approval_for_target(a) if {
	ap.source == "run"
	some e in a.environments
	lower(e) == lower(approvals_env_name)
}

approval_for_target(_) if ap.source == "pull_request"

deny contains reason("C4", "the run's actor and triggering actor are unknown: self-approval cannot be ruled out") if {
	ap
	count(approvals_self_logins) == 0
}

deny contains reason("C4", sprintf("%s approved a promotion to %q that they started themselves: an approver must be someone other than the run's actor or triggering actor", [a.login, approvals_env_name])) if {
	some a in ap.approvals
	a.state == "approved"
	approval_for_target(a)
	approval_is_self(a)
}

deny contains reason("C4", sprintf("%s rejected the promotion to %q: %q", [a.login, approvals_env_name, substring(a.comment, 0, 200)])) if {
	some a in ap.approvals
	a.state in {"rejected", "changes_requested"}
	approval_for_target(a)
}

approvals_count := count(ap.approvers)

deny contains reason("C4", sprintf("%d distinct named approver(s) approved the promotion to %q, %d required", [approvals_count, approvals_env_name, approvals_min])) if {
	count(approvals_groups) > 0
	approvals_count < approvals_min
}

default approvals_assigned_count(_) := 0

approvals_assigned_count(i) := count(ap.quorum[i].assigned)

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
	count(ap.quorum) != count(approvals_groups)
}

deny contains reason("C4", sprintf("the recorded quorum assigns %s to approvers line %d, who is not an eligible approver there", [p, i + 1])) if {
	some i, q in ap.quorum
	some p in q.assigned
	not approvals_eligible_in(p, q)
}

approvals_eligible_in(p, q) if {
	p in q.eligible
	p in ap.approvers
}

deny contains reason("C4", sprintf("the recorded quorum counts %s for more than one approvers line", [p])) if {
	some i, q in ap.quorum
	some j, r in ap.quorum
	i < j
	some p in q.assigned
	p in r.assigned
}

deny contains reason("C4", sprintf("whether %s is a member of %s is unknown: the github-token cannot read organization teams; pass a token with members: read (a GitHub App installation token — the job's GITHUB_TOKEN cannot have it)", [login, team])) if {
	not approvals_quorum_met
	some team, members in ap.team_membership
	some login, state in members
	state == "unknown"
}

# --- how recent ----------------------------------------------------------------

deny contains reason("C4", sprintf("the age of the approvals of the promotion to %q is unknown (%s): a maximum approval age of %s cannot be checked", [approvals_env_name, ap.age_source, approvals_duration(approvals_max_age)])) if {
	approvals_count > 0
	ap.age_seconds == null
}

deny contains reason("C4", sprintf("the approval cannot be shown to be younger than %s: GitHub's approval record carries no time, and this run was created %s ago; approve a new run", [approvals_duration(approvals_max_age), approvals_duration(ap.age_seconds)])) if {
	approvals_count > 0
	ap.age_source == "run.created_at"
	is_number(ap.age_seconds)
	ap.age_seconds > approvals_max_age
}

deny contains reason("C4", sprintf("the oldest counted review is %s old, more than the maximum approval age of %s", [approvals_duration(ap.age_seconds), approvals_duration(approvals_max_age)])) if {
	approvals_count > 0
	ap.age_source != "run.created_at"
	is_number(ap.age_seconds)
	ap.age_seconds > approvals_max_age
}

approvals_duration(s) := sprintf("%dh%02dm", [floor(s / 3600), floor((s % 3600) / 60)]) if s >= 3600

approvals_duration(s) := sprintf("%dm%02ds", [floor(s / 60), floor(s % 60)]) if s < 3600

# --- promotion-PR mode -----------------------------------------------------------

deny contains reason("C4", sprintf("pull request #%d is at %s (merge commit %s), but this run is for commit %s: its reviews do not approve this run", [pr.number, pr.head_sha, pr.merge_commit_sha, object.get(token_claims, "sha", "")])) if {
	pr := ap.pull_request
	not object.get(token_claims, "sha", "") in {pr.head_sha, pr.merge_commit_sha}
}

deny contains reason("C4", "promotion-PR mode found no pull request in the evidence") if {
	ap.source == "pull_request"
	ap.status == "ok"
	not ap.pull_request
}

# --- explanations ------------------------------------------------------------------

warn contains reason("C4", sprintf("%s approved the promotion to %q but does not count: not named in approvers (directly or through an active team membership)", [a.login, approvals_env_name])) if {
	some a in ap.approvals
	a.state == "approved"
	approval_for_target(a)
	count(approvals_groups) > 0
	not approval_is_self(a)
	not approvals_outdated_review(a)
	not a.login in ap.approvers
	not approvals_unknown_member(a.login)
}

approvals_unknown_member(login) if {
	some _, members in ap.team_membership
	members[login] == "unknown"
}

approvals_outdated_review(a) if a.commit_id != ap.pull_request.head_sha

warn contains reason("C4", sprintf("%s approved commit %s of pull request #%d, not its head %s: only approvals of the head commit count", [a.login, a.commit_id, pr.number, pr.head_sha])) if {
	pr := ap.pull_request
	some a in ap.approvals
	a.state == "approved"
	a.commit_id != pr.head_sha
}
