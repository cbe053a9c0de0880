# C1 — issuer trust: the run is who it claims to be. Facts come only from the
# verified OIDC token (input.identity.claims); input.request holds what the
# workflow asked airlock to enforce.
package airlock

checked contains "C1"

token_identity := object.get(input, "identity", {})

deny contains reason("C1", sprintf("the job's OIDC token was not verified: %s", [object.get(token_identity, "error", "no verification result")])) if {
	not token_identity.verified == true
}

token_claims := object.get(token_identity, "claims", {})

deny contains reason("C1", "the OIDC token has no environment claim: the job must declare `environment:`") if {
	input.identity.verified == true
	not pr_check # check.rego: a pull request check deploys nothing
	object.get(token_claims, "environment", "") == ""
}

deny contains reason("C1", sprintf("the job runs in environment %q, expected %q", [token_claims.environment, input.request.environment])) if {
	object.get(token_claims, "environment", "") != ""
	token_claims.environment != input.request.environment
}

deny contains reason("C1", sprintf("ref %q is not an allowed ref (allowed: %s)", [object.get(token_claims, "ref", ""), concat(", ", input.request.allowed_refs)])) if {
	input.identity.verified == true
	not pr_check # check.rego judges the pull request's base branch instead
	not ref_allowed(object.get(token_claims, "ref", ""))
}

# A pattern ending in "*" matches by prefix ("refs/tags/*" matches every tag,
# including ones containing "/" or "."); any other pattern matches exactly.
ref_allowed(ref) if {
	some p in input.request.allowed_refs
	not endswith(p, "*")
	ref == p
}

ref_allowed(ref) if {
	some p in input.request.allowed_refs
	endswith(p, "*")
	startswith(ref, trim_suffix(p, "*"))
}

deny contains reason("C1", sprintf("the job ran on a %q runner; only github-hosted runners are allowed unless allow-self-hosted is set", [object.get(token_claims, "runner_environment", "")])) if {
	input.identity.verified == true
	not input.request.allow_self_hosted == true
	object.get(token_claims, "runner_environment", "") != "github-hosted"
}

# A pinned workflow with "@ref" must match job_workflow_ref exactly; without
# "@" it pins the workflow file and accepts any ref of it.
deny contains reason("C1", sprintf("job_workflow_ref %q is not the pinned workflow %q", [object.get(token_claims, "job_workflow_ref", ""), input.request.workflow])) if {
	input.identity.verified == true
	object.get(input.request, "workflow", "") != ""
	not workflow_pinned(object.get(token_claims, "job_workflow_ref", ""), input.request.workflow)
}

workflow_pinned(ref, pin) if {
	contains(pin, "@")
	ref == pin
}

workflow_pinned(ref, pin) if {
	not contains(pin, "@")
	startswith(ref, concat("", [pin, "@"]))
}

deny contains reason("C1", sprintf("repository id %q does not match the expected repository id %q", [object.get(token_claims, "repository_id", ""), input.request.repository_id])) if {
	input.identity.verified == true
	object.get(input.request, "repository_id", "") != ""
	object.get(token_claims, "repository_id", "") != input.request.repository_id
}

deny contains reason("C1", sprintf("%s says %q but the verified token says %s=%q", [object.get(m, "variable", "?"), object.get(m, "hint", "?"), object.get(m, "claim", "?"), object.get(m, "verified", "?")])) if {
	some m in object.get(token_identity, "hint_mismatches", [])
}
