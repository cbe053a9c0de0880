package airlock_test

import data.airlock

rev_good := {
	"identity": {"verified": true, "claims": {}},
	"revocation": {
		"declared": "list",
		"credentials": [
			{"name": "qa-hydra", "kind": "oauth2", "status": "revoked", "checked_at": "2026-06-01T12:00:00Z", "issuer_host": "auth.qa.example", "http_status": 200, "detail": "introspection at auth.qa.example/introspect: active=false", "client_id": "qa-client", "revoked_by_airlock": true},
			{"name": "qa-vault", "kind": "vault", "status": "revoked", "checked_at": "2026-06-01T12:00:00Z", "detail": "HTTP 403", "revoked_by_airlock": false},
		],
		"production_identity": {"issuer": "https://auth.prod.example", "client_id": "prod-client"},
		"identity_reuse": false,
		"identity_reuse_with": [],
		"shared_issuer": false,
		"shared_issuer_with": [],
		"identity_unknown_for": [],
	},
}

# Thresholds written out, not read from data.airlock.params: `airlock policy
# test` runs these tests next to a user's params/revocation.json, which must
# not change their outcome. Tests of other thresholds override these.
rev_params := {
	"allow_declared_none": true,
	"require_production_identity": true,
	"allow_shared_issuer": false,
	"shared_issuer_min_approvers": 2,
	"allow_unknown_qa_identity": false,
}

rev_denies(inp, control) := {r.message |
	some r in airlock.deny with input as inp with data.airlock.params.revocation as rev_params
	r.control == control
}

rev_denies_with(inp, control, params) := {r.message |
	some r in airlock.deny with input as inp with data.airlock.params.revocation as object.union(rev_params, params)
	r.control == control
}

rev_warns(inp) := {r.message | some r in airlock.warn with input as inp with data.airlock.params.revocation as rev_params; r.control == "C3"}

rev_requirements(inp, params) := {r.message |
	some r in airlock.requirement with input as inp with data.airlock.params.revocation as object.union(rev_params, params)
	r.control == "C3"
}

rev_patch(ops) := json.patch(rev_good, ops)

test_all_revoked_allowed if {
	count(rev_denies(rev_good, "C2")) == 0
	count(rev_denies(rev_good, "C3")) == 0
	count(rev_warns(rev_good)) == 0
	d := airlock.decision with input as rev_good with data.airlock.params.revocation as rev_params
	"C2" in d.checked
	"C3" in d.checked
}

test_missing_evidence_denied if {
	inp := json.patch(rev_good, [{"op": "remove", "path": "/revocation"}])
	rev_denies(inp, "C2") == {"no revocation evidence: airlock did not check the QA credentials, so it cannot show they are dead"}
	count(rev_denies(inp, "C3")) == 0
	d := airlock.decision with input as inp
	not "C2" in d.checked
	not airlock.allow with input as inp
}

test_null_evidence_denied if {
	inp := rev_patch([{"op": "replace", "path": "/revocation", "value": null}])
	some m in rev_denies(inp, "C2")
	contains(m, "no revocation evidence")
}

test_active_denied_naming_credential if {
	inp := rev_patch([
		{"op": "replace", "path": "/revocation/credentials/1/status", "value": "active"},
		{"op": "replace", "path": "/revocation/credentials/1/detail", "value": "GET v.example/v1/auth/token/lookup-self: HTTP 200 (the token is live)"},
	])
	some m in rev_denies(inp, "C2")
	contains(m, `"qa-vault" (vault) is still active`)
	contains(m, "HTTP 200 (the token is live)")
	not airlock.allow with input as inp
}

test_unknown_denied_with_detail if {
	inp := rev_patch([
		{"op": "replace", "path": "/revocation/credentials/0/status", "value": "unknown"},
		{"op": "replace", "path": "/revocation/credentials/0/detail", "value": "introspection at auth.qa.example/introspect: HTTP 500 after 3 attempts"},
	])
	some m in rev_denies(inp, "C2")
	contains(m, `"qa-hydra" (oauth2): revocation could not be verified`)
	contains(m, "HTTP 500 after 3 attempts")
	contains(m, "unknown is not revoked")
}

test_unknown_without_detail_denied if {
	inp := rev_patch([
		{"op": "replace", "path": "/revocation/credentials/0/status", "value": "unknown"},
		{"op": "remove", "path": "/revocation/credentials/0/detail"},
	])
	some m in rev_denies(inp, "C2")
	contains(m, "no detail recorded")
}

test_odd_status_denied if {
	every status in ["REVOKED", "", null, true, "expired"] {
		inp := rev_patch([{"op": "replace", "path": "/revocation/credentials/0/status", "value": status}])
		some m in rev_denies(inp, "C2")
		contains(m, `expected "revoked"`)
	}
}

test_missing_status_denied if {
	inp := rev_patch([{"op": "remove", "path": "/revocation/credentials/0/status"}])
	some m in rev_denies(inp, "C2")
	contains(m, `"qa-hydra" has status null`)
}

test_nameless_credential_named_by_index if {
	inp := rev_patch([
		{"op": "remove", "path": "/revocation/credentials/1/name"},
		{"op": "replace", "path": "/revocation/credentials/1/status", "value": "active"},
	])
	some m in rev_denies(inp, "C2")
	contains(m, `"#1"`)
}

test_non_object_result_denied if {
	inp := rev_patch([{"op": "add", "path": "/revocation/credentials/-", "value": "revoked"}])
	some m in rev_denies(inp, "C2")
	contains(m, "result #2 is not an object")
}

test_empty_list_denied if {
	inp := rev_patch([{"op": "replace", "path": "/revocation/credentials", "value": []}])
	some m in rev_denies(inp, "C2")
	contains(m, "no QA credentials were listed")
}

test_declared_none_allowed if {
	inp := rev_patch([
		{"op": "replace", "path": "/revocation/declared", "value": "none"},
		{"op": "replace", "path": "/revocation/credentials", "value": []},
	])
	count(rev_denies(inp, "C2")) == 0
}

test_declared_none_denied_when_params_forbid if {
	inp := rev_patch([
		{"op": "replace", "path": "/revocation/declared", "value": "none"},
		{"op": "replace", "path": "/revocation/credentials", "value": []},
	])
	some m in rev_denies_with(inp, "C2", {"allow_declared_none": false})
	contains(m, "allow_declared_none is false")
}

test_declared_none_with_results_denied if {
	inp := rev_patch([{"op": "replace", "path": "/revocation/declared", "value": "none"}])
	some m in rev_denies(inp, "C2")
	contains(m, "yet the evidence lists credential results")
}

test_bad_declared_denied if {
	every v in ["", "some", null] {
		inp := rev_patch([{"op": "replace", "path": "/revocation/declared", "value": v}])
		some m in rev_denies(inp, "C2")
		contains(m, `expected "list" or "none"`)
	}
}

test_credentials_not_a_list_denied if {
	inp := rev_patch([{"op": "replace", "path": "/revocation/credentials", "value": {"qa": "revoked"}}])
	some m in rev_denies(inp, "C2")
	contains(m, "no list of credential results")
}

# --- C3 ---

test_credential_identity_reuse_denied if {
	inp := rev_patch([
		{"op": "replace", "path": "/revocation/identity_reuse", "value": true},
		{"op": "replace", "path": "/revocation/identity_reuse_with", "value": ["qa-hydra.client_id=production.client_id"]},
	])
	some m in rev_denies(inp, "C3")
	contains(m, "reuses a QA identity (qa-hydra.client_id=production.client_id)")
}

test_identity_comparison_missing_denied if {
	inp := rev_patch([{"op": "remove", "path": "/revocation/identity_reuse"}])
	some m in rev_denies(inp, "C3")
	contains(m, "identity separation was not evaluated")
	inp2 := rev_patch([{"op": "replace", "path": "/revocation/shared_issuer", "value": "no"}])
	some m2 in rev_denies(inp2, "C3")
	contains(m2, "identity separation was not evaluated")
}

test_missing_production_identity_denied if {
	inp := rev_patch([{"op": "replace", "path": "/revocation/production_identity", "value": null}])
	some m in rev_denies(inp, "C3")
	contains(m, "no production-identity was given")
}

test_missing_production_identity_allowed_by_params if {
	inp := rev_patch([{"op": "replace", "path": "/revocation/production_identity", "value": null}])
	count(rev_denies_with(inp, "C3", {"require_production_identity": false})) == 0
}

shared := rev_patch([
	{"op": "replace", "path": "/revocation/shared_issuer", "value": true},
	{"op": "replace", "path": "/revocation/shared_issuer_with", "value": ["qa-hydra"]},
])

test_shared_issuer_denied_by_default if {
	some m in rev_denies(shared, "C3")
	contains(m, "share the identity issuer (QA credentials: qa-hydra)")
	count(rev_requirements(shared, {})) == 0
}

test_shared_issuer_allowed_needs_two_approvers if {
	some m in rev_denies_with(shared, "C3", {"allow_shared_issuer": true})
	contains(m, "only with 2 distinct approvers, found 0")
	some r in rev_requirements(shared, {"allow_shared_issuer": true})
	contains(r, "2 distinct approvers are required")
}

test_shared_issuer_one_approver_twice_denied if {
	inp := json.patch(shared, [{"op": "add", "path": "/approvals", "value": {"approvers": ["alice", {"login": "alice"}]}}])
	some m in rev_denies_with(inp, "C3", {"allow_shared_issuer": true})
	contains(m, "found 1")
}

test_shared_issuer_two_approvers_allowed if {
	inp := json.patch(shared, [{"op": "add", "path": "/approvals", "value": {"approvers": ["alice", {"login": "bob"}]}}])
	count(rev_denies_with(inp, "C3", {"allow_shared_issuer": true})) == 0
	count(rev_requirements(inp, {"allow_shared_issuer": true})) == 1
}

test_shared_issuer_min_approvers_never_below_two if {
	inp := json.patch(shared, [{"op": "add", "path": "/approvals", "value": {"approvers": ["alice"]}}])
	some m in rev_denies_with(inp, "C3", {"allow_shared_issuer": true, "shared_issuer_min_approvers": 1})
	contains(m, "only with 2 distinct approvers, found 1")
}

test_shared_issuer_three_approvers_by_params if {
	inp := json.patch(shared, [{"op": "add", "path": "/approvals", "value": {"approvers": ["alice", "bob"]}}])
	some m in rev_denies_with(inp, "C3", {"allow_shared_issuer": true, "shared_issuer_min_approvers": 3})
	contains(m, "only with 3 distinct approvers, found 2")
}

test_malformed_approvals_denied if {
	inp := json.patch(shared, [{"op": "add", "path": "/approvals", "value": "alice,bob"}])
	some m in rev_denies_with(inp, "C3", {"allow_shared_issuer": true})
	contains(m, "found 0")
}

test_identity_unknown_denied_by_default if {
	inp := rev_patch([{"op": "replace", "path": "/revocation/identity_unknown_for", "value": ["qa-vault"]}])
	some m in rev_denies(inp, "C3")
	contains(m, "qa-vault")
	contains(m, "declared-subject")
	count(rev_warns(inp)) == 0
	not airlock.allow with input as inp with data.airlock.params.revocation as rev_params
}

test_identity_unknown_relaxed_to_warning if {
	inp := rev_patch([{"op": "replace", "path": "/revocation/identity_unknown_for", "value": ["qa-vault"]}])
	count(rev_denies_with(inp, "C3", {"allow_unknown_qa_identity": true})) == 0
	some m in {r.message |
		some r in airlock.warn with input as inp with data.airlock.params.revocation as object.union(rev_params, {"allow_unknown_qa_identity": true})
		r.control == "C3"
	}
	contains(m, "qa-vault")
}

test_identity_unknown_param_mistyped_denies if {
	inp := rev_patch([{"op": "replace", "path": "/revocation/identity_unknown_for", "value": ["qa-vault"]}])
	some m in rev_denies_with(inp, "C3", {"allow_unknown_qa_identity": "true"})
	contains(m, "allow_unknown_qa_identity must be a boolean")
	some m2 in rev_denies_with(inp, "C3", {"allow_unknown_qa_identity": "true"})
	contains(m2, "did not say whose they are")
}

# A declared identity is compared (here: reuse denies) and does not count
# as unknown.
test_declared_identity_compared_not_unknown if {
	inp := rev_patch([
		{"op": "add", "path": "/revocation/credentials/1/subject", "value": "agent-qa"},
		{"op": "add", "path": "/revocation/credentials/1/identity_source", "value": "declared"},
		{"op": "add", "path": "/revocation/identity_declared_for", "value": ["qa-vault"]},
	])
	count(rev_denies(inp, "C3")) == 0
	reuse := json.patch(inp, [
		{"op": "replace", "path": "/revocation/identity_reuse", "value": true},
		{"op": "replace", "path": "/revocation/identity_reuse_with", "value": ["qa-vault.subject=production.subject"]},
	])
	some m in rev_denies(reuse, "C3")
	contains(m, "qa-vault.subject=production.subject")
}

test_identity_unknown_not_a_list_denied if {
	every v in ["qa-vault", [1], {"a": "b"}] {
		inp := rev_patch([{"op": "replace", "path": "/revocation/identity_unknown_for", "value": v}])
		some m in rev_denies(inp, "C3")
		contains(m, "identity_unknown_for is not a list")
	}
}

test_mistyped_revocation_params_deny if {
	some msg in rev_denies_with(rev_good, "C3", {"require_production_identity": "false"})
	contains(msg, "params.revocation.require_production_identity must be a boolean, got string")
	some msg2 in rev_denies_with(rev_good, "C3", {"shared_issuer_min_approvers": "2"})
	contains(msg2, "shared_issuer_min_approvers must be a number")
	count(rev_denies_with(rev_good, "C3", {})) == 0
}
