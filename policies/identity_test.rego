package airlock_test

import data.airlock

good := {
	"identity": {
		"verified": true,
		"claims": {
			"environment": "production",
			"ref": "refs/heads/main",
			"runner_environment": "github-hosted",
			"job_workflow_ref": "acme/agent/.github/workflows/deploy.yml@refs/heads/main",
			"repository_id": "123",
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
}

c1_denies(inp) := {r.message | some r in airlock.deny with input as inp; r.control == "C1"}

# This fixture carries identity evidence only; other modules deny on their
# own missing evidence (C2 revocation, …), so a good run here means: no C1
# reason. The all-controls allow path belongs in a fixture with every collector.
test_good_run_allowed if {
	count(c1_denies(good)) == 0
}

test_unverified_denied if {
	inp := json.patch(good, [{"op": "replace", "path": "/identity", "value": {"verified": false, "error": "expired at 2026-06-13T19:06:04Z"}}])
	not airlock.allow with input as inp
	some m in c1_denies(inp)
	contains(m, "expired at")
}

test_missing_identity_denied if {
	not airlock.allow with input as {"request": good.request}
}

test_wrong_environment_denied if {
	inp := json.patch(good, [{"op": "replace", "path": "/identity/claims/environment", "value": "staging"}])
	some m in c1_denies(inp)
	contains(m, `"staging"`)
}

test_no_environment_claim_denied if {
	inp := json.patch(good, [{"op": "remove", "path": "/identity/claims/environment"}])
	some m in c1_denies(inp)
	contains(m, "no environment claim")
}

test_tag_with_slash_and_dots_allowed if {
	inp := json.patch(good, [{"op": "replace", "path": "/identity/claims/ref", "value": "refs/tags/release/v1.2.3"}])
	count(c1_denies(inp)) == 0
}

test_branch_not_allowed_denied if {
	inp := json.patch(good, [{"op": "replace", "path": "/identity/claims/ref", "value": "refs/heads/feature"}])
	some m in c1_denies(inp)
	contains(m, "refs/heads/feature")
}

test_ref_prefix_is_not_substring if {
	inp := json.patch(good, [{"op": "replace", "path": "/identity/claims/ref", "value": "refs/heads/main-evil"}])
	count(c1_denies(inp)) == 1
}

test_self_hosted_denied_by_default if {
	inp := json.patch(good, [{"op": "replace", "path": "/identity/claims/runner_environment", "value": "self-hosted"}])
	some m in c1_denies(inp)
	contains(m, "self-hosted")
}

test_self_hosted_allowed_when_asked if {
	inp := json.patch(good, [
		{"op": "replace", "path": "/identity/claims/runner_environment", "value": "self-hosted"},
		{"op": "replace", "path": "/request/allow_self_hosted", "value": true},
	])
	count(c1_denies(inp)) == 0
}

test_pinned_workflow_exact if {
	ok := json.patch(good, [{"op": "replace", "path": "/request/workflow", "value": "acme/agent/.github/workflows/deploy.yml@refs/heads/main"}])
	count(c1_denies(ok)) == 0
	bad := json.patch(good, [{"op": "replace", "path": "/request/workflow", "value": "acme/agent/.github/workflows/deploy.yml@refs/heads/other"}])
	count(c1_denies(bad)) == 1
}

test_pinned_workflow_any_ref if {
	ok := json.patch(good, [{"op": "replace", "path": "/request/workflow", "value": "acme/agent/.github/workflows/deploy.yml"}])
	count(c1_denies(ok)) == 0
	bad := json.patch(good, [{"op": "replace", "path": "/request/workflow", "value": "acme/agent/.github/workflows/deploy"}])
	count(c1_denies(bad)) == 1
}

test_repository_id_pinned if {
	ok := json.patch(good, [{"op": "replace", "path": "/request/repository_id", "value": "123"}])
	count(c1_denies(ok)) == 0
	bad := json.patch(good, [{"op": "replace", "path": "/request/repository_id", "value": "999"}])
	some m in c1_denies(bad)
	contains(m, `"999"`)
}

test_hint_mismatch_denied if {
	inp := json.patch(good, [{"op": "replace", "path": "/identity/hint_mismatches", "value": [{"variable": "GITHUB_REPOSITORY", "hint": "evil/repo", "claim": "repository", "verified": "acme/agent"}]}])
	some m in c1_denies(inp)
	contains(m, "GITHUB_REPOSITORY")
}

test_hint_mismatch_missing_keys_still_denied if {
	inp := json.patch(good, [{"op": "replace", "path": "/identity/hint_mismatches", "value": [{"variable": "GITHUB_REPOSITORY"}]}])
	some m in c1_denies(inp)
	contains(m, "GITHUB_REPOSITORY says")
}

test_decision_document_shape if {
	d := airlock.decision with input as good
	is_boolean(d.allow)
	is_array(d.deny)
	every r in d.deny {
		r.control != "C1"
	}
	"C1" in d.checked
}
