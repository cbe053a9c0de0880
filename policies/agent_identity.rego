# C3 a production identity of its own, C10 rollback never revives QA trust,
# C11 downstream agents run on production identities.
package airlock

agent_identity_fields := ["subject", "client_id", "spiffe_id"]

agent_prod_identity := object.get(object.get(input.agent, "identity", {}), "production", {})

agent_reused_text := concat(", ", [sprintf("%s %q", [f, object.get(agent_prod_identity, f, "")]) | some f in input.agent.identity_reuse_fields])

agent_deny contains reason("C3", sprintf("the production identity reuses a QA identity (%s): production needs a new identity, nothing is inherited from QA", [agent_reused_text])) if {
	input.agent.identity_reuse == true
}

agent_deny contains reason("C3", sprintf("production and QA identities share the issuer %q, so the boundary between them rests on that one issuer; use a separate production issuer, or set params.agent.allow_shared_issuer to accept this", [object.get(agent_prod_identity, "issuer", "")])) if {
	input.agent.shared_issuer == true
	not agent_params.allow_shared_issuer == true
}

agent_warn contains reason("C3", sprintf("production and QA identities share the issuer %q; accepted because params.agent.allow_shared_issuer is true", [object.get(agent_prod_identity, "issuer", "")])) if {
	input.agent.shared_issuer == true
	agent_params.allow_shared_issuer == true
}

agent_rollback if {
	agent_ok
	input.agent.promotion == "rollback"
}

agent_deny contains reason("C10", sprintf("promotion must be \"promote\" or \"rollback\", got %q", [input.agent.promotion])) if {
	is_string(input.agent.promotion)
	not input.agent.promotion in {"promote", "rollback"}
}

agent_warn contains reason("C10", "this rollback is a new decision under today's policy: no earlier decision or approval is reused") if {
	agent_rollback
}

agent_deny contains reason("C10", sprintf("a rollback is a new decision, not a return to an earlier approval: the rollback target's identity was a QA identity (%s), and an identity ever used in QA is refused in production", [agent_reused_text])) if {
	agent_rollback
	input.agent.identity_reuse == true
}

# params.agent.former_qa_identities lists identities QA used in the past
# ({subject, client_id, spiffe_id}); one of them in production is refused,
# whether promoted or rolled back to.
agent_former_qa := object.get(agent_params, "former_qa_identities", [])

agent_deny contains reason("C10", "policy parameter params.agent.former_qa_identities must be an array of identities") if {
	not is_array(agent_former_qa)
}

agent_rollback_note := " (a rollback is a new decision under today's policy)" if {
	agent_rollback
} else := ""

agent_deny contains reason("C10", sprintf("the production identity's %s %q was used in QA before (params.agent.former_qa_identities); an identity ever used in QA is refused in production%s", [f, v, agent_rollback_note])) if {
	is_array(agent_former_qa)
	some former in agent_former_qa
	is_object(former)
	some f in agent_identity_fields
	v := object.get(agent_prod_identity, f, "")
	v != ""
	v == object.get(former, f, "")
}

# Every key is read with a default: a missing one must not leave the
# message, and with it the deny, undefined.
agent_deny contains reason("C11", sprintf("downstream agent %q still runs on a QA identity (%s equal to QA agent %s): hand-offs from a production agent need production identities", [object.get(d, "name", "?"), concat(", ", object.get(d, "fields", [])), concat(", ", object.get(d, "qa_agents", []))])) if {
	some d in input.agent.downstream_on_qa
}
