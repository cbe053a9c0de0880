# airlock's decision. Every policy module in package airlock (default or the
# user's) adds reasons to the sets below; this file turns them into the one
# document the gate reads. Reasons are objects {"control": "C1".."C13", "message": "..."}.
#
# Fail closed: allow is true only when the run's identity was verified and no
# module produced a deny. The gate checks both again in Go.
package airlock

default allow := false

allow if {
	input.identity.verified == true
	count(data.airlock.deny) == 0
}

default grants := {}

# C5: this document is the explicit policy decision. C13: every control in it
# carries its framework mapping (internal/policy/controls.go).
checked contains "C5"

checked contains "C13"

decision := {
	"allow": allow,
	"deny": [r | some r in data.airlock.deny],
	"warn": [r | some r in data.airlock.warn],
	"requirements": [r | some r in data.airlock.requirement],
	"checked": [c | some c in data.airlock.checked],
	"grants": grants,
}

# reason builds a reason object; policies use it so that every reason names a control.
reason(control, message) := {"control": control, "message": message}
