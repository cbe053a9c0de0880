# C7 re-attestation, C8 escalation, C9 QA that touched live systems: what
# changed or grew between QA and production, and how many approvers
# (input.approvals) that takes.
package airlock

agent_changed if {
	agent_ok
	count(input.agent.changes) > 0
}

agent_changed if {
	agent_ok
	input.agent.reattestation_required == true
}

agent_changed_fields := concat(", ", [c.field | some c in input.agent.changes]) if {
	count(input.agent.changes) > 0
} else := "reattestation_required is set"

# Every change is named, whether or not the promotion is allowed.
agent_warn contains reason("C7", sprintf("%s changed between QA and production (%q → %q): this promotion is a full re-attestation, not a copy of the QA approval", [c.field, c.qa, c.production])) if {
	some c in input.agent.changes
}

agent_requirement contains reason("C7", sprintf("%d approver(s) must re-attest the agent because it changed: %s", [n, agent_changed_fields])) if {
	agent_changed
	n := agent_threshold("approvals_on_change")
}

agent_deny contains reason("C7", sprintf("the agent changed between QA and production (%s) and needs re-attestation by %d approver(s); %d approved", [agent_changed_fields, n, agent_approvals])) if {
	agent_changed
	n := agent_threshold("approvals_on_change")
	agent_approvals < n
}

agent_escalation_text(e) := sprintf("data sensitivity of %q rises from %s to %s", [e.detail, e.from, e.to]) if {
	e.kind == "data_sensitivity"
} else := sprintf("integration %q goes live (QA: %s)", [e.detail, e.from]) if {
	e.kind == "integration_live"
} else := sprintf("tool %q goes from %s to %s access", [e.detail, e.from, e.to]) if {
	e.kind == "tool_access"
} else := sprintf("tool %q is added with %s access", [e.detail, e.to]) if {
	e.kind == "tool_added"
} else := sprintf("%v escalation of %v: %v → %v", [
	object.get(e, "kind", "unknown"), object.get(e, "detail", "?"),
	object.get(e, "from", "?"), object.get(e, "to", "?"),
])

agent_requirement contains reason("C8", sprintf("%d approvers are required because the agent gains privileges in production: %s", [n, concat("; ", [agent_escalation_text(e) | some e in input.agent.escalations])])) if {
	count(input.agent.escalations) > 0
	n := agent_threshold("approvals_on_escalation")
}

agent_deny contains reason("C8", sprintf("escalation across the boundary: %s; this needs %d approvers, %d approved", [agent_escalation_text(e), n, agent_approvals])) if {
	some e in input.agent.escalations
	n := agent_threshold("approvals_on_escalation")
	agent_approvals < n
}

agent_qa_live_names := concat(", ", object.get(input.agent, "qa_live_integrations", [])) if {
	count(object.get(input.agent, "qa_live_integrations", [])) > 0
} else := "integrations not named"

agent_requirement contains reason("C9", sprintf("%d approvers are required because QA already used live systems (%s): the production boundary is tighter", [n, agent_qa_live_names])) if {
	input.agent.qa_used_live == true
	n := agent_threshold("approvals_when_qa_live")
}

agent_deny contains reason("C9", sprintf("QA already used live systems (%s), which raises the approvals needed to %d; %d approved", [agent_qa_live_names, n, agent_approvals])) if {
	input.agent.qa_used_live == true
	n := agent_threshold("approvals_when_qa_live")
	agent_approvals < n
}
