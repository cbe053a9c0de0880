# `airlock check`: a required status check on promotion pull requests. The
# evidence then describes a pull request as it would be at merge
# (input.pull_request, internal/evidence.PullRequest), not a deployment: the
# run is a pull_request or pull_request_review run on refs/pull/N/merge and
# deploys nothing, so it has no production environment claim (identity.rego
# skips that rule), and what C1 asks of a deployment's ref it asks here of
# the branch the pull request merges into. Every other control is evaluated
# as the gate will evaluate it after the merge.
package airlock

pr_check if is_object(input.pull_request)

pr_number := object.get(input.pull_request, "number", null)

deny contains reason("C1", sprintf("pull request evidence is malformed: expected an object, got %s", [type_name(input.pull_request)])) if {
	x := input.pull_request
	x != null
	not is_object(x)
}

deny contains reason("C1", sprintf("pull request #%v merges into %q, which is not an allowed ref (allowed: %s)", [pr_number, pr_base_ref, concat(", ", input.request.allowed_refs)])) if {
	pr_check
	input.identity.verified == true
	not ref_allowed(pr_base_ref)
}

pr_base_ref := r if {
	r := input.pull_request.base_ref
	is_string(r)
} else := ""

# The token names the pull request the evidence is about: refs/pull/N/merge
# (pull_request, pull_request_review) or refs/pull/N/head.
deny contains reason("C1", sprintf("the verified ref %q is not pull request #%v's: the check must run for the pull request it reports on", [object.get(token_claims, "ref", ""), pr_number])) if {
	pr_check
	input.identity.verified == true
	not object.get(token_claims, "ref", "") in pr_refs
}

pr_refs := {sprintf("refs/pull/%d/merge", [pr_number]), sprintf("refs/pull/%d/head", [pr_number])} if {
	is_number(pr_number)
} else := set()

deny contains reason("C1", sprintf("airlock check evaluates pull_request and pull_request_review runs; this run's event is %q", [object.get(token_claims, "event_name", "")])) if {
	pr_check
	input.identity.verified == true
	not object.get(token_claims, "event_name", "") in {"pull_request", "pull_request_review"}
}
