# C6 least privilege and short life: the production credential's TTL and the
# scopes asked for, against params.agent.max_credential_ttl_seconds and the
# allow-list for the production data's sensitivity.
package airlock

agent_deny contains reason("C6", sprintf("the production credential TTL of %ds exceeds the maximum of %ds (params.agent.max_credential_ttl_seconds)", [t, n])) if {
	t := input.agent.ttl.requested_seconds
	n := agent_threshold("max_credential_ttl_seconds")
	t > n
}

agent_deny contains reason("C6", sprintf("the production credential TTL must be positive, got %vs", [input.agent.ttl.requested_seconds])) if {
	is_number(input.agent.ttl.requested_seconds)
	input.agent.ttl.requested_seconds <= 0
}

agent_sensitivities := {"synthetic", "internal", "confidential", "customer"}

agent_deny contains reason("C6", sprintf("unknown data sensitivity %q: expected one of customer, confidential, internal, synthetic", [input.agent.data_sensitivity])) if {
	is_string(input.agent.data_sensitivity)
	not input.agent.data_sensitivity in agent_sensitivities
}

# Scopes allowed for the production data's sensitivity. A pattern ending in
# "*" matches by prefix ("tickets:*"); anything else matches exactly. No list
# means no scopes: least privilege starts from nothing.
agent_allowed_scopes := object.get(object.get(agent_params, "allowed_scopes", {}), input.agent.data_sensitivity, [])

agent_scope_allowed(s) if {
	some p in agent_allowed_scopes
	not endswith(p, "*")
	s == p
}

agent_scope_allowed(s) if {
	some p in agent_allowed_scopes
	endswith(p, "*")
	startswith(s, trim_suffix(p, "*"))
}

agent_excess_scopes := sort([s | some s in input.agent.scopes.requested; not agent_scope_allowed(s)])

agent_allowed_text := concat(", ", agent_allowed_scopes) if {
	count(agent_allowed_scopes) > 0
} else := "none"

agent_deny contains reason("C6", sprintf("scopes %s are more than policy allows for %s data (allowed: %s); drop them or add them to params.agent.allowed_scopes.%s", [concat(", ", agent_excess_scopes), input.agent.data_sensitivity, agent_allowed_text, input.agent.data_sensitivity])) if {
	count(agent_excess_scopes) > 0
}
