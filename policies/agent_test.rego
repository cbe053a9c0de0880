package airlock_test

import data.airlock

# The evidence internal/manifest writes for a clean promotion
# (testdata/manifests/same/agent.json, trimmed).
agent_clean := {
	"name": "support-agent",
	"promotion": "promote",
	"changes": [],
	"reattestation_required": false,
	"escalations": [],
	"qa_used_live": false,
	"qa_live_integrations": [],
	"identity": {
		"qa": {"issuer": "https://idp.qa.example.com", "subject": "agent:support-agent:qa", "client_id": "support-agent-qa", "spiffe_id": "spiffe://qa.example.com/agents/support-agent"},
		"production": {"issuer": "https://idp.example.com", "subject": "agent:support-agent:prod", "client_id": "support-agent-prod", "spiffe_id": "spiffe://example.com/agents/support-agent"},
	},
	"identity_reuse": false,
	"identity_reuse_fields": [],
	"shared_issuer": false,
	"downstream_on_qa": [],
	"ttl": {"requested_seconds": 3600},
	"scopes": {"requested": ["kb:read", "tickets:read", "tickets:write"]},
	"tools": [{"name": "kb-search", "access": "read"}, {"name": "ticket-update", "access": "write"}],
	"data_sensitivity": "internal",
}

agent_input := {
	"identity": {"verified": true, "claims": {"environment": "production", "ref": "refs/heads/main", "runner_environment": "github-hosted"}},
	"request": {"environment": "production", "allowed_refs": ["refs/heads/main"], "manifests_required": true},
	"approvals": {"approvers": []},
	"agent": agent_clean,
	# Revocation evidence that passes C2/C3 under any params, so only agent rules decide.
	"revocation": {
		"declared": "list",
		"credentials": [{"name": "qa-token", "kind": "oauth2", "status": "revoked", "detail": "active=false"}],
		"production_identity": {"client_id": "support-agent-prod"},
		"identity_reuse": false, "identity_reuse_with": [],
		"shared_issuer": false, "shared_issuer_with": [],
		"identity_unknown_for": [],
	},
}

# Thresholds for these tests, written out rather than read from
# data.airlock.params: `airlock policy test` runs these tests next to a
# user's directory, whose params/agent.json must not change their outcome.
# The shipped allow-lists are empty (least privilege starts from nothing);
# these tests allow a few scopes so that the other rules can be seen alone.
agent_params := {
	"approvals_on_change": 1,
	"approvals_on_escalation": 2,
	"approvals_when_qa_live": 2,
	"allow_shared_issuer": false,
	"max_credential_ttl_seconds": 3600,
	"allowed_scopes": {
		"synthetic": ["*"],
		"internal": ["kb:read", "tickets:*"],
		"confidential": ["kb:read", "tickets:read"],
		"customer": ["tickets:read"],
	},
	"former_qa_identities": [],
}

# with_agent merges patch into the agent evidence (objects merge key by key,
# anything else is replaced).
with_agent(patch) := object.union(agent_input, {"agent": object.union(agent_clean, patch)})

with_approvers(inp, approvers) := object.union(inp, {"approvals": {"approvers": approvers}})

agent_reasons(set, control) := {r.message | some r in set; r.control == control}

denies(inp, control) := msgs if {
	msgs := agent_reasons(airlock.deny, control) with input as inp with data.airlock.params.agent as agent_params
}

warns(inp, control) := msgs if {
	msgs := agent_reasons(airlock.warn, control) with input as inp with data.airlock.params.agent as agent_params
}

requirements(inp, control) := msgs if {
	msgs := agent_reasons(airlock.requirement, control) with input as inp with data.airlock.params.agent as agent_params
}

agent_controls := {"C3", "C6", "C7", "C8", "C9", "C10", "C11"}

no_agent_denies(inp) if {
	every c in agent_controls {
		count(denies(inp, c)) == 0
	}
}

has(msgs, substrings) if {
	some m in msgs
	every s in substrings {
		contains(m, s)
	}
}

# --- evidence present, absent, malformed -------------------------------

test_clean_agent_passes_every_agent_control if {
	no_agent_denies(agent_input)
	checked := airlock.checked with input as agent_input with data.airlock.params.agent as agent_params
	every c in agent_controls {
		c in checked
	}
	# The whole default policy allows once C4 has its evidence too.
	airlock.allow with input as object.union(agent_input, {"approvals": c4_good.approvals}) with data.airlock.params.agent as agent_params
}

test_no_manifests_no_agent_rules if {
	inp := json.patch(agent_input, [{"op": "remove", "path": "/agent"}, {"op": "replace", "path": "/request/manifests_required", "value": false}])
	no_agent_denies(inp)
	checked := airlock.checked with input as inp with data.airlock.params.agent as agent_params
	not "C7" in checked
	airlock.grants == {} with input as inp
}

test_manifests_required_but_no_agent_evidence_denied if {
	inp := json.remove(agent_input, ["/agent"])
	has(denies(inp, "C7"), ["manifests were given", "no agent evidence"])
}

test_null_agent_counts_as_absent if {
	inp := json.patch(agent_input, [{"op": "replace", "path": "/agent", "value": null}])
	has(denies(inp, "C7"), ["no agent evidence"])
	quiet := json.patch(inp, [{"op": "replace", "path": "/request/manifests_required", "value": false}])
	no_agent_denies(quiet)
}

test_agent_not_an_object_denied if {
	inp := json.patch(agent_input, [{"op": "replace", "path": "/agent", "value": "support-agent"}])
	has(denies(inp, "C7"), ["expected an object, got string"])
}

test_every_missing_evidence_key_denied_under_its_control if {
	every key, spec in airlock.agent_evidence_keys {
		inp := json.remove(agent_input, [concat("/", ["", "agent", key])])
		has(denies(inp, spec[0]), [key, "malformed"])
	}
}

test_mistyped_evidence_key_denied if {
	inp := with_agent({"identity_reuse": "no"})
	has(denies(inp, "C3"), ["identity_reuse must be a boolean, got string"])
}

test_nested_evidence_keys_denied if {
	inp := json.patch(agent_input, [
		{"op": "replace", "path": "/agent/ttl", "value": {}},
		{"op": "replace", "path": "/agent/scopes", "value": {"requested": "kb:read"}},
	])
	has(denies(inp, "C6"), ["ttl.requested_seconds must be a number, got null"])
	has(denies(inp, "C6"), ["scopes.requested must be an array, got string"])
}

test_bad_threshold_denied_under_its_control if {
	inp := agent_input
	msgs := {r.message | some r in airlock.deny; r.control == "C8"} with input as inp
		with data.airlock.params.agent as object.union(agent_params, {"approvals_on_escalation": "two"})
	has(msgs, ["params.agent.approvals_on_escalation must be a non-negative number, got string"])
}

test_negative_threshold_denied if {
	msgs := {r.message | some r in airlock.deny; r.control == "C7"} with input as agent_input
		with data.airlock.params.agent as object.union(agent_params, {"approvals_on_change": -1})
	has(msgs, ["approvals_on_change must be a non-negative number, got number"])
}

test_missing_threshold_denied if {
	msgs := {r.message | some r in airlock.deny; r.control == "C6"} with input as agent_input
		with data.airlock.params.agent as object.remove(agent_params, {"max_credential_ttl_seconds"})
	has(msgs, ["max_credential_ttl_seconds must be a non-negative number, got null"])
}

# --- C7 re-attestation ------------------------------------------------------

agent_changed := with_agent({
	"changes": [{"field": "model.version", "qa": "2025-05-14", "production": "2025-09-29"}, {"field": "owner", "qa": "jane.doe@example.com", "production": "sam.lee@example.com"}],
	"reattestation_required": true,
})

test_change_without_approver_denied if {
	has(denies(agent_changed, "C7"), ["model.version, owner", "re-attestation by 1 approver(s); 0 approved"])
}

test_change_named_even_when_approved if {
	inp := with_approvers(agent_changed, ["alice"])
	count(denies(inp, "C7")) == 0
	has(warns(inp, "C7"), ["model.version changed", `"2025-05-14" → "2025-09-29"`, "full re-attestation"])
	has(warns(inp, "C7"), ["owner changed"])
	has(requirements(inp, "C7"), ["1 approver(s) must re-attest", "model.version, owner"])
}

test_no_change_no_requirement if {
	count(requirements(agent_input, "C7")) == 0
	count(warns(agent_input, "C7")) == 0
}

test_reattestation_flag_alone_denied if {
	inp := with_agent({"reattestation_required": true})
	has(denies(inp, "C7"), ["reattestation_required is set"])
}

test_change_threshold_is_a_parameter if {
	inp := with_approvers(agent_changed, ["alice"])
	msgs := {r.message | some r in airlock.deny; r.control == "C7"} with input as inp
		with data.airlock.params.agent as object.union(agent_params, {"approvals_on_change": 2})
	has(msgs, ["needs re-attestation by 2 approver(s); 1 approved"])
}

# --- C8 escalation ---------------------------------------------------------

agent_escalated := with_agent({"escalations": [
	{"kind": "integration_live", "field": "integrations[1]", "detail": "stripe", "from": "absent", "to": "live"},
	{"kind": "tool_access", "field": "tool_registry.tools[1].access", "detail": "ticket-lookup", "from": "read", "to": "write"},
]})

test_escalation_with_one_approver_denied if {
	inp := with_approvers(agent_escalated, ["alice"])
	msgs := denies(inp, "C8")
	has(msgs, [`integration "stripe" goes live (QA: absent)`, "needs 2 approvers, 1 approved"])
	has(msgs, [`tool "ticket-lookup" goes from read to write access`])
	count(msgs) == 2
}

test_escalation_with_two_approvers_allowed if {
	inp := with_approvers(agent_escalated, ["alice", {"login": "bob", "state": "approved"}])
	count(denies(inp, "C8")) == 0
	has(requirements(inp, "C8"), ["2 approvers are required", `integration "stripe" goes live`])
}

test_every_escalation_kind_is_named if {
	inp := with_agent({"escalations": [
		{"kind": "data_sensitivity", "detail": "support-tickets", "from": "synthetic", "to": "customer"},
		{"kind": "tool_added", "detail": "refund-issue", "from": "absent", "to": "execute"},
		{"kind": "model_swap", "detail": "x", "from": "a", "to": "b"},
	]})
	msgs := denies(inp, "C8")
	has(msgs, [`data sensitivity of "support-tickets" rises from synthetic to customer`])
	has(msgs, [`tool "refund-issue" is added with execute access`])
	has(msgs, ["model_swap escalation of x: a → b"])
}

test_approvers_counted_once_and_only_when_approved if {
	# the same person twice (logins are case-insensitive) and a rejection are one approver
	inp := with_approvers(agent_escalated, ["alice", "Alice", {"login": "bob", "state": "rejected"}, {"name": "no-login"}, ""])
	has(denies(inp, "C8"), ["1 approved"])
}

test_no_approvals_evidence_is_zero_approvers if {
	inp := json.remove(agent_escalated, ["/approvals"])
	has(denies(inp, "C8"), ["0 approved"])
}

# --- C9 QA used live systems -------------------------------------------------

agent_qa_live := with_agent({"qa_used_live": true, "qa_live_integrations": ["zendesk"]})

test_qa_live_raises_approvals if {
	inp := with_approvers(agent_qa_live, ["alice"])
	has(denies(inp, "C9"), ["QA already used live systems (zendesk)", "raises the approvals needed to 2; 1 approved"])
	has(requirements(inp, "C9"), ["2 approvers are required"])
}

test_qa_live_met if {
	count(denies(with_approvers(agent_qa_live, ["alice", "bob"]), "C9")) == 0
}

test_qa_not_live_no_requirement if {
	count(requirements(agent_input, "C9")) == 0
	count(denies(agent_input, "C9")) == 0
}

test_qa_live_threshold_is_a_parameter if {
	inp := with_approvers(agent_qa_live, ["alice", "bob"])
	msgs := {r.message | some r in airlock.deny; r.control == "C9"} with input as inp
		with data.airlock.params.agent as object.union(agent_params, {"approvals_when_qa_live": 3})
	has(msgs, ["needed to 3; 2 approved"])
}

# --- C3 identity -------------------------------------------------------------

test_agent_identity_reuse_denied if {
	prod := object.union(agent_clean.identity.production, {"client_id": "support-agent-qa"})
	inp := with_agent({"identity_reuse": true, "identity_reuse_fields": ["client_id"], "identity": {"qa": agent_clean.identity.qa, "production": prod}})
	has(denies(inp, "C3"), [`client_id "support-agent-qa"`, "reuses a QA identity"])
}

test_new_identity_passes_c3 if {
	count(denies(agent_input, "C3")) == 0
}

test_shared_issuer_denied if {
	inp := with_agent({"shared_issuer": true})
	has(denies(inp, "C3"), [`share the issuer "https://idp.example.com"`, "params.agent.allow_shared_issuer"])
}

test_shared_issuer_allowed_by_parameter_warns if {
	inp := with_agent({"shared_issuer": true})
	msgs := {r.message | some r in airlock.deny; r.control == "C3"} with input as inp
		with data.airlock.params.agent as object.union(agent_params, {"allow_shared_issuer": true})
	count(msgs) == 0
	w := {r.message | some r in airlock.warn; r.control == "C3"} with input as inp
		with data.airlock.params.agent as object.union(agent_params, {"allow_shared_issuer": true})
	has(w, ["accepted because params.agent.allow_shared_issuer is true"])
}

test_shared_issuer_parameter_must_be_true_not_truthy if {
	inp := with_agent({"shared_issuer": true})
	msgs := {r.message | some r in airlock.deny; r.control == "C3"} with input as inp
		with data.airlock.params.agent as object.union(agent_params, {"allow_shared_issuer": "yes"})
	count(msgs) == 1
}

# --- C10 rollback ------------------------------------------------------------

agent_rollback_reuse := with_agent({"promotion": "rollback", "identity_reuse": true, "identity_reuse_fields": ["subject"], "identity": {
	"qa": agent_clean.identity.qa,
	"production": object.union(agent_clean.identity.production, {"subject": "agent:support-agent:qa"}),
}})

test_rollback_to_qa_identity_denied if {
	has(denies(agent_rollback_reuse, "C10"), ["a rollback is a new decision", `subject "agent:support-agent:qa"`, "ever used in QA"])
}

test_clean_rollback_is_a_new_decision if {
	inp := with_agent({"promotion": "rollback"})
	count(denies(inp, "C10")) == 0
	has(warns(inp, "C10"), ["new decision under today's policy"])
}

test_unknown_promotion_denied if {
	has(denies(with_agent({"promotion": "redeploy"}), "C10"), [`got "redeploy"`])
}

test_former_qa_identity_denied if {
	p := object.union(agent_params, {"former_qa_identities": [{"client_id": "support-agent-prod"}]})
	msgs := {r.message | some r in airlock.deny; r.control == "C10"} with input as with_agent({"promotion": "rollback"})
		with data.airlock.params.agent as p
	has(msgs, [`client_id "support-agent-prod" was used in QA before`, "(a rollback is a new decision"])
	promote := {r.message | some r in airlock.deny; r.control == "C10"} with input as agent_input
		with data.airlock.params.agent as p
	has(promote, ["was used in QA before"])
	not has(promote, ["rollback"])
}

test_former_qa_identities_empty_fields_never_match if {
	# neither side has a spiffe_id: two absent values are not a match
	inp := json.remove(agent_input, ["/agent/identity/production/spiffe_id"])
	p := object.union(agent_params, {"former_qa_identities": [{"subject": "", "client_id": "other"}]})
	msgs := {r.message | some r in airlock.deny; r.control == "C10"} with input as inp with data.airlock.params.agent as p
	count(msgs) == 0
}

test_former_qa_identities_must_be_array if {
	p := object.union(agent_params, {"former_qa_identities": {"client_id": "x"}})
	msgs := {r.message | some r in airlock.deny; r.control == "C10"} with input as agent_input with data.airlock.params.agent as p
	has(msgs, ["must be an array"])
}

# --- C11 downstream agents ---------------------------------------------------

test_downstream_on_qa_denied if {
	inp := with_agent({"downstream_on_qa": [{"name": "billing-agent", "fields": ["client_id"], "qa_agents": ["billing-agent"]}]})
	has(denies(inp, "C11"), [`downstream agent "billing-agent" still runs on a QA identity`, "client_id"])
}

test_downstream_on_qa_missing_keys_still_denied if {
	inp := with_agent({"downstream_on_qa": [{"name": "billing-agent"}]})
	has(denies(inp, "C11"), [`downstream agent "billing-agent" still runs on a QA identity`])
}

test_downstream_on_production_identities_pass if {
	count(denies(agent_input, "C11")) == 0
}

# --- C6 TTL and scopes -------------------------------------------------------

test_ttl_over_maximum_denied if {
	has(denies(with_agent({"ttl": {"requested_seconds": 86400}}), "C6"), ["86400s exceeds the maximum of 3600s"])
}

test_ttl_at_maximum_passes if {
	count(denies(with_agent({"ttl": {"requested_seconds": 3600}}), "C6")) == 0
}

test_ttl_not_positive_denied if {
	has(denies(with_agent({"ttl": {"requested_seconds": 0}}), "C6"), ["must be positive"])
}

test_excess_scopes_named if {
	inp := with_agent({"scopes": {"requested": ["users:write", "kb:read", "admin", "tickets:write"]}})
	has(denies(inp, "C6"), ["scopes admin, users:write are more than policy allows for internal data", "allowed: kb:read, tickets:*"])
}

test_scope_lists_follow_sensitivity if {
	inp := with_agent({"data_sensitivity": "customer"})
	has(denies(inp, "C6"), ["kb:read, tickets:write", "customer data", "params.agent.allowed_scopes.customer"])
}

test_empty_allow_list_allows_no_scopes if {
	p := object.union(agent_params, {"allowed_scopes": {"internal": []}})
	msgs := {r.message | some r in airlock.deny; r.control == "C6"} with input as agent_input with data.airlock.params.agent as p
	has(msgs, ["kb:read, tickets:read, tickets:write are more than policy allows", "allowed: none"])
	none := with_agent({"scopes": {"requested": []}})
	clean := {r | some r in airlock.deny; r.control == "C6"} with input as none with data.airlock.params.agent as p
	count(clean) == 0
}

test_missing_allow_list_allows_no_scopes if {
	p := object.remove(agent_params, {"allowed_scopes"})
	msgs := {r.message | some r in airlock.deny; r.control == "C6"} with input as agent_input with data.airlock.params.agent as p
	has(msgs, ["allowed: none"])
}

test_prefix_pattern_is_not_substring if {
	inp := with_agent({"scopes": {"requested": ["ticketsX:read", "xkb:read", "kb:read:all", "kb:read"]}})
	has(denies(inp, "C6"), ["scopes kb:read:all, ticketsX:read, xkb:read are more"])
}

test_unknown_sensitivity_denied if {
	has(denies(with_agent({"data_sensitivity": "public"}), "C6"), [`unknown data sensitivity "public"`])
}

# --- grants (C5: the decision lists what a runtime policy point enforces) ----

test_grants_list_tools_and_scopes if {
	g := airlock.decision.grants with input as agent_input with data.airlock.params.agent as agent_params
	g == {"tools": agent_clean.tools, "scopes": agent_clean.scopes.requested}
}

test_no_agent_no_grants if {
	inp := json.remove(agent_input, ["/agent"])
	airlock.decision.grants == {} with input as inp
}
