# airlock grants: per-call enforcement of a verified promotion decision.
#
# `airlock grants export` writes this module into an OPA bundle next to the
# decision it verified (data.airlock.grants.decision). A runtime policy point
# (an MCP gateway, a sidecar, OPA-Envoy) asks it about every tool call:
#
#   POST /v1/data/airlock/grants/allow     {"input": {"tool": "kb-search", "access": "read", "scope": "kb:read"}}
#   POST /v1/data/airlock/grants/response  the same input; {"allow": ..., "reasons": [...]}
#
# allow is true only if the tool is granted with at least the access asked
# for (read < write < execute), the scope is granted, and the decision has not
# expired (time.now_ns() before notAfter). Anything else, a missing or
# mistyped input field included, is a deny, and reasons says why.
#
# Why the helpers below: in Rego an undefined value passed to a function
# makes the whole expression undefined, `not` included, so `not
# is_string(input.x)` would stay silent about a missing x. Input fields are
# read with object.get (null when absent), and negations test rules.
package airlock.grants

# Access levels in rising order: a grant allows its level and those below.
levels := {"read": 1, "write": 2, "execute": 3}

default allow := false

# allow: every positive condition holds. Each reason below is the failure
# of one of them, so an allow never has a reason (the tests check this for
# every case); allow does not evaluate the reasons, which keeps a per-call
# question to the few lookups it needs.
allow if {
	access_granted
	scope_granted
	resource_ok
	unexpired
}

response := {"allow": allow, "reasons": reasons}

exported := data.airlock.grants.decision

default loaded := false

loaded if is_object(exported)

default has_input := false

has_input if is_object(input)

default call := {}

call := input if is_object(input)

tool := object.get(call, "tool", null)

access := object.get(call, "access", null)

scope := object.get(call, "scope", null)

# granted_tool is the grant of the tool asked for (names are unique: the
# export refuses grants that repeat one).
granted_tool := t if {
	some t in exported.grants.tools
	nonempty_string(tool)
	t.name == tool
}

default granted_scopes := []

granted_scopes := s if {
	s := exported.grants.scopes
	is_array(s)
}

default not_after_ns := 0

not_after_ns := time.parse_rfc3339_ns(exported.notAfter)

access_granted if levels[access] <= levels[granted_tool.access]

scope_granted if {
	nonempty_string(scope)
	scope in granted_scopes
}

unexpired if time.now_ns() < not_after_ns

default resource_ok := false

resource_ok if not "resource" in object.keys(call)

resource_ok if is_string(call.resource)

nonempty_string(x) if {
	is_string(x)
	x != ""
}

reasons contains "no airlock decision is loaded (data.airlock.grants.decision)" if not loaded

reasons contains "input: expected an object with tool, access and scope" if not has_input

reasons contains "input.tool: expected a non-empty string" if {
	has_input
	not nonempty_string(tool)
}

reasons contains "input.access: expected \"read\", \"write\" or \"execute\"" if {
	has_input
	not levels[access]
}

reasons contains "input.scope: expected a non-empty string" if {
	has_input
	not nonempty_string(scope)
}

reasons contains "input.resource: expected a string when given" if {
	"resource" in object.keys(call)
	not is_string(call.resource)
}

reasons contains sprintf("tool %q is not granted", [tool]) if {
	nonempty_string(tool)
	not granted_tool
}

reasons contains sprintf("tool %q is granted %s access, not %s", [tool, granted_tool.access, access]) if {
	levels[access] > levels[granted_tool.access]
}

reasons contains sprintf("tool %q has an unknown granted access %v", [tool, granted_tool.access]) if {
	granted_tool
	not levels[granted_tool.access]
}

reasons contains sprintf("scope %q is not granted", [scope]) if {
	nonempty_string(scope)
	not scope in granted_scopes
}

reasons contains sprintf("the airlock decision expired at %v", [exported.notAfter]) if {
	loaded
	not unexpired
}
