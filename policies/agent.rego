# The agent boundary (issue 7): rules over input.agent, the facts
# internal/manifest records about the QA and production agent manifests.
# This file holds what the agent rules share: whether the evidence is there
# and well formed, the thresholds in params/agent.json, the approver count,
# and the grants a runtime policy point enforces. The controls themselves are
# in agent_change.rego (C7 C8 C9), agent_identity.rego (C3 C10 C11) and
# agent_privilege.rego (C6).
#
# A gate run without manifests has no input.agent and these rules stay
# silent, unless the request says manifests were given
# (input.request.manifests_required): then missing evidence is a deny.
package airlock

# agent_given: the gate put something under "agent" (null counts as nothing).
agent_given if {
	x := input.agent
	x != null
}

# agent_ok: the evidence is an object. A missing or mistyped key inside it
# is a deny of its own (below), so rules may read keys directly without
# failing open.
agent_ok if {
	agent_given
	is_object(input.agent)
}

# The agent rules add to agent_deny, agent_warn and agent_requirement; these
# three rules pass them on only when there is agent evidence. A gate run
# without manifests then pays for one failed condition instead of one per
# rule (Rego evaluates every body of a set it is asked for).
deny contains r if {
	agent_ok
	some r in agent_deny
}

warn contains r if {
	agent_ok
	some r in agent_warn
}

requirement contains r if {
	agent_ok
	some r in agent_requirement
}

deny contains reason("C7", "the request says agent manifests were given, but there is no agent evidence: the QA and production manifests were not compared, so the agent cannot be re-attested") if {
	input.request.manifests_required == true
	not agent_given
}

deny contains reason("C7", sprintf("agent evidence is malformed: expected an object, got %s", [type_name(input.agent)])) if {
	agent_given
	not is_object(input.agent)
}

# Each evidence key, the control that relies on it and its JSON type.
agent_evidence_keys := {
	"changes": ["C7", "array"],
	"reattestation_required": ["C7", "boolean"],
	"escalations": ["C8", "array"],
	"qa_used_live": ["C9", "boolean"],
	"identity": ["C3", "object"],
	"identity_reuse": ["C3", "boolean"],
	"identity_reuse_fields": ["C3", "array"],
	"shared_issuer": ["C3", "boolean"],
	"promotion": ["C10", "string"],
	"downstream_on_qa": ["C11", "array"],
	"ttl": ["C6", "object"],
	"scopes": ["C6", "object"],
	"tools": ["C6", "array"],
	"data_sensitivity": ["C6", "string"],
}

# The well-formed case in one rule: it is what every run evaluates, and Rego
# pays per expression; the per-key diagnosis below runs only when it fails.
agent_well_formed if {
	is_array(input.agent.changes)
	is_boolean(input.agent.reattestation_required)
	is_array(input.agent.escalations)
	is_boolean(input.agent.qa_used_live)
	is_object(input.agent.identity)
	is_boolean(input.agent.identity_reuse)
	is_array(input.agent.identity_reuse_fields)
	is_boolean(input.agent.shared_issuer)
	is_string(input.agent.promotion)
	is_array(input.agent.downstream_on_qa)
	is_number(input.agent.ttl.requested_seconds)
	is_array(input.agent.scopes.requested)
	is_array(input.agent.tools)
	is_string(input.agent.data_sensitivity)
}

agent_deny contains reason(spec[0], sprintf("agent evidence is malformed: %s must be %s, got %s", [key, agent_article(spec[1]), type_name(object.get(input.agent, key, null))])) if {
	not agent_well_formed
	some key, spec in agent_evidence_keys
	type_name(object.get(input.agent, key, null)) != spec[1]
}

agent_deny contains reason("C6", sprintf("agent evidence is malformed: ttl.requested_seconds must be a number, got %s", [type_name(object.get(input.agent.ttl, "requested_seconds", null))])) if {
	not agent_well_formed
	is_object(input.agent.ttl)
	not is_number(object.get(input.agent.ttl, "requested_seconds", null))
}

agent_deny contains reason("C6", sprintf("agent evidence is malformed: scopes.requested must be an array, got %s", [type_name(object.get(input.agent.scopes, "requested", null))])) if {
	not agent_well_formed
	is_object(input.agent.scopes)
	not is_array(object.get(input.agent.scopes, "requested", null))
}

agent_article(t) := concat(" ", ["an", t]) if t in {"array", "object"}

else := concat(" ", ["a", t])

# Thresholds, from params/agent.json (users override single keys). A
# threshold that is missing or not a non-negative number is a deny under the
# control it belongs to: a typo in a user's params file must not switch a
# control off.
default agent_params := {}

agent_params := data.airlock.params.agent

agent_threshold_keys := {
	"approvals_on_change": "C7",
	"approvals_on_escalation": "C8",
	"approvals_when_qa_live": "C9",
	"max_credential_ttl_seconds": "C6",
}

agent_threshold(key) := n if {
	n := agent_params[key]
	is_number(n)
	n >= 0
}

agent_thresholds_valid if {
	agent_threshold("approvals_on_change")
	agent_threshold("approvals_on_escalation")
	agent_threshold("approvals_when_qa_live")
	agent_threshold("max_credential_ttl_seconds")
}

agent_deny contains reason(control, sprintf("policy parameter params.agent.%s must be a non-negative number, got %s", [key, type_name(object.get(agent_params, key, null))])) if {
	not agent_thresholds_valid
	some key, control in agent_threshold_keys
	not agent_threshold(key)
}

# Approvers come from the approvals evidence (C4): distinct logins, case
# folded (GitHub logins are case-insensitive). An entry may be a login or an
# object with "login"; an object with a "state" counts only when approved.
# No approvals evidence counts as zero approvers.
agent_approver_logins contains lower(login) if {
	some a in object.get(object.get(input, "approvals", {}), "approvers", [])
	login := agent_login(a)
}

agent_login(a) := a if {
	is_string(a)
	a != ""
}

agent_login(a) := a.login if {
	is_object(a)
	is_string(a.login)
	a.login != ""
	lower(object.get(a, "state", "approved")) == "approved"
}

agent_approvals := count(agent_approver_logins)

checked contains c if {
	agent_ok
	some c in {"C3", "C6", "C7", "C8", "C9", "C10", "C11"}
}

# The approved toolset and scopes, for a runtime policy point to enforce per
# call. They mean "approved" only in a decision whose allow is true.
grants := {"tools": input.agent.tools, "scopes": input.agent.scopes.requested} if {
	agent_ok
}
