package airlock_test

import data.airlock

# A pull_request run checking pull request #9 into main: no environment
# claim, a refs/pull ref.
pr_run := {
	"identity": {
		"verified": true,
		"claims": {
			"ref": "refs/pull/9/merge",
			"event_name": "pull_request",
			"runner_environment": "github-hosted",
			"job_workflow_ref": "acme/agent/.github/workflows/airlock-check.yml@refs/pull/9/merge",
		},
		"hint_mismatches": [],
	},
	"request": {
		"environment": "production",
		"allowed_refs": ["refs/heads/main", "refs/tags/*"],
		"allow_self_hosted": false,
		"workflow": "",
		"repository_id": "",
	},
	"pull_request": {
		"number": 9,
		"head_sha": "1111111111111111111111111111111111111111",
		"base_sha": "2222222222222222222222222222222222222222",
		"base_ref": "refs/heads/main",
		"promotion_files": ["agent/production.yaml"],
		"production_manifest_at_base": "present",
		"production_changes": [],
		"production_escalations": [],
	},
}

pr_c1(inp) := {r.message | some r in airlock.deny with input as inp; r.control == "C1"}

test_pr_check_into_allowed_branch_passes_c1 if {
	count(pr_c1(pr_run)) == 0
}

test_pr_check_review_event_passes_c1 if {
	inp := json.patch(pr_run, [{"op": "replace", "path": "/identity/claims/event_name", "value": "pull_request_review"}])
	count(pr_c1(inp)) == 0
}

# The same run without pull request evidence is a deployment run, and a
# deployment needs an environment claim and an allowed ref.
test_pr_run_as_deployment_denied if {
	inp := json.remove(pr_run, ["pull_request"])
	msgs := pr_c1(inp)
	some m in msgs
	contains(m, "no environment claim")
	some n in msgs
	contains(n, `"refs/pull/9/merge" is not an allowed ref`)
}

test_pr_check_into_other_branch_denied if {
	inp := json.patch(pr_run, [{"op": "replace", "path": "/pull_request/base_ref", "value": "refs/heads/feature"}])
	some m in pr_c1(inp)
	contains(m, `pull request #9 merges into "refs/heads/feature", which is not an allowed ref`)
}

test_pr_check_base_ref_missing_denied if {
	inp := json.remove(pr_run, ["pull_request/base_ref"])
	some m in pr_c1(inp)
	contains(m, `merges into "", which is not an allowed ref`)
}

test_pr_check_ref_of_another_pull_request_denied if {
	inp := json.patch(pr_run, [{"op": "replace", "path": "/identity/claims/ref", "value": "refs/pull/10/merge"}])
	some m in pr_c1(inp)
	contains(m, `the verified ref "refs/pull/10/merge" is not pull request #9's`)
}

test_pr_check_head_ref_passes if {
	inp := json.patch(pr_run, [{"op": "replace", "path": "/identity/claims/ref", "value": "refs/pull/9/head"}])
	count(pr_c1(inp)) == 0
}

test_pr_check_branch_ref_denied if {
	inp := json.patch(pr_run, [{"op": "replace", "path": "/identity/claims/ref", "value": "refs/heads/main"}])
	some m in pr_c1(inp)
	contains(m, "is not pull request #9's")
}

test_pr_check_number_not_a_number_denied if {
	inp := json.patch(pr_run, [{"op": "replace", "path": "/pull_request/number", "value": "9"}])
	some m in pr_c1(inp)
	contains(m, "is not pull request #9's")
}

test_pr_check_push_event_denied if {
	inp := json.patch(pr_run, [{"op": "replace", "path": "/identity/claims/event_name", "value": "pull_request_target"}])
	some m in pr_c1(inp)
	contains(m, `this run's event is "pull_request_target"`)
}

test_pr_evidence_malformed_denied if {
	inp := json.patch(pr_run, [{"op": "replace", "path": "/pull_request", "value": "yes"}])
	some m in pr_c1(inp)
	contains(m, "pull request evidence is malformed")
}

test_pr_check_unverified_still_denied if {
	inp := json.patch(pr_run, [{"op": "replace", "path": "/identity", "value": {"verified": false, "error": "expired"}}])
	some m in pr_c1(inp)
	contains(m, "was not verified")
	not airlock.allow with input as inp
}

# The other C1 rules still hold in a check.
test_pr_check_self_hosted_denied if {
	inp := json.patch(pr_run, [{"op": "replace", "path": "/identity/claims/runner_environment", "value": "self-hosted"}])
	some m in pr_c1(inp)
	contains(m, "self-hosted")
}
