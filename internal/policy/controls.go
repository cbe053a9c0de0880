package policy

// Control is one of the controls airlock enforces (MISSION.md C1–C13), with
// the frameworks it maps to (C13: OWASP Agentic AI Top 10, CSA MAESTRO, NIST AI RMF).
type Control struct {
	ID         string   `json:"id"`
	Title      string   `json:"title"`
	Frameworks []string `json:"frameworks"`
}

var frameworks = []string{"OWASP Agentic AI Top 10 A1", "CSA MAESTRO GOV-3", "NIST AI RMF GOVERN"}

// Controls is the catalogue, in order. Every reason a policy emits must name one of these ids.
var Controls = []Control{
	{ID: "C1", Title: "Issuer trust: the run is who it claims to be", Frameworks: frameworks},
	{ID: "C2", Title: "QA credentials are dead before production activates", Frameworks: frameworks},
	{ID: "C3", Title: "A new production identity, not the QA one", Frameworks: frameworks},
	{ID: "C4", Title: "A named human approved this promotion", Frameworks: frameworks},
	{ID: "C5", Title: "Every privileged action is an explicit policy decision", Frameworks: frameworks},
	{ID: "C6", Title: "Least privilege and short life", Frameworks: frameworks},
	{ID: "C7", Title: "Full re-attestation when the agent changes", Frameworks: frameworks},
	{ID: "C8", Title: "Escalation across the boundary is seen", Frameworks: frameworks},
	{ID: "C9", Title: "QA that touched live systems gets a tighter boundary", Frameworks: frameworks},
	{ID: "C10", Title: "Rollback never revives QA trust", Frameworks: frameworks},
	{ID: "C11", Title: "Multi-agent hand-offs run on production identities", Frameworks: frameworks},
	{ID: "C12", Title: "The boundary event is logged as a signed trust decision", Frameworks: frameworks},
	{ID: "C13", Title: "Controls map to OWASP, MAESTRO and NIST frameworks", Frameworks: frameworks},
}

func knownControl(id string) bool {
	for _, c := range Controls {
		if c.ID == id {
			return true
		}
	}
	return false
}
