# C2 — QA credentials are dead before production activates.
# C3 — a new production identity, not the QA one.
#
# Facts come from input.revocation (internal/revocation.Report): one result
# per listed QA credential, probed at its issuer, and the comparison of the
# production identity with what the issuers said about the QA identities.
# Only "revoked" is good: "active" and "unknown" (network error, timeout,
# odd answer) both deny. Thresholds: data.airlock.params.revocation.
package airlock

revocation_defaults := {
	"allow_declared_none": true,
	"require_production_identity": true,
	"allow_shared_issuer": false,
	"shared_issuer_min_approvers": 2,
	"allow_unknown_qa_identity": false,
}

revocation_params := object.union(revocation_defaults, p) if {
	p := data.airlock.params.revocation
	is_object(p)
} else := revocation_defaults

rv := input.revocation if is_object(input.revocation)

# A mistyped switch ("true", "yes") must not switch a control off.
revocation_param_types := {
	"allow_declared_none": ["C2", "boolean"],
	"require_production_identity": ["C3", "boolean"],
	"allow_shared_issuer": ["C3", "boolean"],
	"shared_issuer_min_approvers": ["C3", "number"],
	"allow_unknown_qa_identity": ["C3", "boolean"],
}

deny contains reason(control, sprintf("policy parameter params.revocation.%s must be a %s, got %s", [k, want, type_name(revocation_params[k])])) if {
	some k, [control, want] in revocation_param_types
	type_name(revocation_params[k]) != want
}

checked contains "C2" if rv

checked contains "C3" if rv

# --- C2: evidence present and well-formed --------------------------------

deny contains reason("C2", "no revocation evidence: airlock did not check the QA credentials, so it cannot show they are dead") if {
	not rv
}

deny contains reason("C2", sprintf("revocation evidence says declared=%v; expected \"list\" or \"none\"", [object.get(rv, "declared", null)])) if {
	rv
	not object.get(rv, "declared", null) in {"list", "none"}
}

deny contains reason("C2", "revocation evidence has no list of credential results") if {
	rv
	not is_array(object.get(rv, "credentials", null))
}

deny contains reason("C2", "no QA credentials were listed: list every credential QA used in qa-credentials, or set `qa-credentials: none` if QA had none") if {
	rv.declared == "list"
	count(rv.credentials) == 0
}

deny contains reason("C2", "qa-credentials is `none`, but policy requires QA credentials to be listed and checked (params.revocation.allow_declared_none is false)") if {
	rv.declared == "none"
	not revocation_params.allow_declared_none == true
}

deny contains reason("C2", "qa-credentials is `none`, yet the evidence lists credential results") if {
	rv.declared == "none"
	count(object.get(rv, "credentials", [])) > 0
}

# --- C2: every credential revoked ----------------------------------------

revocation_name(c, i) := sprintf("%v", [c.name]) if {
	is_string(c.name)
	c.name != ""
} else := sprintf("#%d", [i])

revocation_detail(c) := c.detail if {
	is_string(c.detail)
	c.detail != ""
} else := "no detail recorded"

deny contains reason("C2", sprintf("QA credential %q (%v) is still active: %s; revoke it before promotion", [revocation_name(c, i), object.get(c, "kind", "?"), revocation_detail(c)])) if {
	some i, c in rv.credentials
	is_object(c)
	c.status == "active"
}

deny contains reason("C2", sprintf("QA credential %q (%v): revocation could not be verified: %s; unknown is not revoked", [revocation_name(c, i), object.get(c, "kind", "?"), revocation_detail(c)])) if {
	some i, c in rv.credentials
	is_object(c)
	c.status == "unknown"
}

deny contains reason("C2", sprintf("QA credential %q has status %v; expected \"revoked\"", [revocation_name(c, i), object.get(c, "status", null)])) if {
	some i, c in rv.credentials
	is_object(c)
	not object.get(c, "status", null) in {"revoked", "active", "unknown"}
}

deny contains reason("C2", sprintf("revocation result #%d is not an object", [i])) if {
	some i, c in rv.credentials
	not is_object(c)
}

# --- C3: a new production identity ----------------------------------------

# Missing revocation evidence is denied once, under C2 above; C3 also draws on
# the agent manifests (agent_identity.rego), so it is not denied twice here.

deny contains reason("C3", "identity separation was not evaluated: the revocation evidence has no boolean identity_reuse/shared_issuer") if {
	rv
	not revocation_booleans
}

revocation_booleans if {
	is_boolean(rv.identity_reuse)
	is_boolean(rv.shared_issuer)
}

deny contains reason("C3", "no production-identity was given: airlock cannot show that production runs on a new identity rather than the QA one") if {
	rv
	not is_object(rv.production_identity)
	revocation_params.require_production_identity == true
}

deny contains reason("C3", sprintf("the production identity reuses a QA identity (%s): production must run on a new identity", [concat(", ", revocation_strings(rv, "identity_reuse_with"))])) if {
	rv.identity_reuse == true
}

deny contains reason("C3", sprintf("QA and production share the identity issuer (QA credentials: %s): a shared issuer erases the boundary; use a separate issuer, or allow it with approvers in params/revocation.json", [concat(", ", revocation_strings(rv, "shared_issuer_with"))])) if {
	rv.shared_issuer == true
	not revocation_params.allow_shared_issuer == true
}

# Allowed shared issuer: at least N (never fewer than 2) distinct approvers
# must show in input.approvals.approvers (logins, or objects with a login).
requirement contains reason("C3", sprintf("%d distinct approvers are required because QA and production share an identity issuer", [revocation_min_approvers])) if {
	rv.shared_issuer == true
	revocation_params.allow_shared_issuer == true
}

deny contains reason("C3", sprintf("QA and production share the identity issuer; policy allows that only with %d distinct approvers, found %d", [revocation_min_approvers, count(revocation_approvers)])) if {
	rv.shared_issuer == true
	revocation_params.allow_shared_issuer == true
	count(revocation_approvers) < revocation_min_approvers
}

# A QA credential nobody said the identity of cannot be compared with the
# production identity: production may be running on it. Denied unless its
# entry declares the identity (declared-subject / declared-client-id,
# recorded as declared, not verified), or params relax it to a warning.
revocation_unknown_identity_message := sprintf("the issuers of QA credential(s) %s did not say whose they are, so they were not compared with the production identity (revoke: true learns it before revoking where the issuer can tell; else declare it with declared-subject or declared-client-id in the entry)", [concat(", ", revocation_strings(rv, "identity_unknown_for"))])

deny contains reason("C3", revocation_unknown_identity_message) if {
	count(revocation_strings(rv, "identity_unknown_for")) > 0
	not revocation_params.allow_unknown_qa_identity == true
}

warn contains reason("C3", revocation_unknown_identity_message) if {
	count(revocation_strings(rv, "identity_unknown_for")) > 0
	revocation_params.allow_unknown_qa_identity == true
}

# identity_unknown_for that is not a list of names cannot be read: denied,
# not skipped.
deny contains reason("C3", "revocation evidence: identity_unknown_for is not a list of credential names") if {
	rv
	l := object.get(rv, "identity_unknown_for", [])
	not revocation_names_list(l)
}

revocation_names_list(l) if {
	is_array(l)
	every s in l { is_string(s) }
}

revocation_min_approvers := n if {
	n := revocation_params.shared_issuer_min_approvers
	is_number(n)
	n >= 2
} else := 2

revocation_approver_list := l if {
	is_object(input.approvals)
	l := input.approvals.approvers
	is_array(l)
} else := []

revocation_approvers contains a if {
	some a in revocation_approver_list
	is_string(a)
	a != ""
}

revocation_approvers contains a.login if {
	some a in revocation_approver_list
	is_object(a)
	is_string(a.login)
	a.login != ""
}

revocation_strings(obj, key) := [s | some s in l; is_string(s)] if {
	l := obj[key]
	is_array(l)
} else := []
