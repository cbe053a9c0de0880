package manifest

import (
	"fmt"
	"slices"
	"strings"
)

// Report is the `agent` section of the evidence: facts about QA versus
// production, for policies to judge. Every list is non-nil so that it is
// encoded as [] rather than null (a null would make `count` fail in Rego).
type Report struct {
	// Name is the production agent's name.
	Name string `json:"name"`
	// Promotion is what the workflow asked for: "promote" or "rollback".
	// It is recorded as given; policy refuses anything else.
	Promotion string `json:"promotion"`
	// Changes lists every re-attestation trigger: model, tool registry, data
	// domain, tenant and owner fields whose values differ.
	Changes               []Change `json:"changes"`
	ReattestationRequired bool     `json:"reattestation_required"`
	// Escalations are privileges production has that QA did not.
	Escalations []Escalation `json:"escalations"`
	// QAUsedLive is true when any QA integration was live.
	QAUsedLive         bool       `json:"qa_used_live"`
	QALiveIntegrations []string   `json:"qa_live_integrations"`
	Identity           Identities `json:"identity"`
	// IdentityReuse is true when the production identity has a subject,
	// client id or SPIFFE ID equal to that of any QA identity (the QA agent's
	// or a QA downstream agent's); IdentityReuseFields names which.
	IdentityReuse       bool     `json:"identity_reuse"`
	IdentityReuseFields []string `json:"identity_reuse_fields"`
	// SharedIssuer is true when the production identity's issuer is the
	// issuer of any QA identity.
	SharedIssuer bool `json:"shared_issuer"`
	// DownstreamOnQA lists production downstream agents whose identity
	// equals a QA identity.
	DownstreamOnQA  []DownstreamOnQA `json:"downstream_on_qa"`
	TTL             TTL              `json:"ttl"`
	Scopes          Scopes           `json:"scopes"`
	Tools           []Tool           `json:"tools"` // production toolset, sorted by name
	DataSensitivity Sensitivity      `json:"data_sensitivity"`
}

// Identities are the agent's own identities on both sides of the boundary.
type Identities struct {
	QA         Identity `json:"qa"`
	Production Identity `json:"production"`
}

// Change is one field whose value differs between QA and production.
// Field is a manifest path usable with Manifest.Line.
type Change struct {
	Field      string `json:"field"`
	QA         string `json:"qa"`
	Production string `json:"production"`
}

// Escalation kinds.
const (
	EscalationDataSensitivity = "data_sensitivity"
	EscalationIntegrationLive = "integration_live"
	EscalationToolAccess      = "tool_access"
	EscalationToolAdded       = "tool_added"
)

// Absent is the From of an escalation whose subject did not exist in QA.
const Absent = "absent"

// Escalation is one privilege gained across the boundary. Field is the
// production manifest path it comes from; Detail names the integration or
// tool (or the data domain).
type Escalation struct {
	Kind   string `json:"kind"`
	Field  string `json:"field"`
	Detail string `json:"detail"`
	From   string `json:"from"`
	To     string `json:"to"`
}

// DownstreamOnQA is a production downstream agent that still runs on a QA
// identity: Fields are the identity fields that match, QAAgents the QA
// agents (the QA agent itself or its downstream agents) they match.
type DownstreamOnQA struct {
	Name     string   `json:"name"`
	Fields   []string `json:"fields"`
	QAAgents []string `json:"qa_agents"`
}

// TTL is the production credential lifetime asked for, rounded up to whole seconds.
type TTL struct {
	RequestedSeconds int64 `json:"requested_seconds"`
}

// Scopes are the production scopes asked for, sorted.
type Scopes struct {
	Requested []string `json:"requested"`
}

// Diff compares the QA and production manifests. Both must come from Parse.
// promotion is recorded as given (see Promote, Rollback).
func Diff(qa, prod *Manifest, promotion string) *Report {
	r := &Report{
		Name:                prod.Name,
		Promotion:           promotion,
		Changes:             changes(qa, prod),
		Escalations:         escalations(qa, prod),
		QALiveIntegrations:  []string{},
		IdentityReuseFields: []string{},
		DownstreamOnQA:      []DownstreamOnQA{},
		TTL:                 TTL{RequestedSeconds: seconds(prod.CredentialTTL)},
		Scopes:              Scopes{Requested: sortedCopy(prod.Scopes)},
		Tools:               sortedTools(prod.ToolRegistry.Tools),
		DataSensitivity:     prod.DataDomain.Sensitivity,
	}
	r.ReattestationRequired = len(r.Changes) > 0
	for _, in := range qa.Integrations {
		if in.Mode == ModeLive {
			r.QAUsedLive = true
			r.QALiveIntegrations = append(r.QALiveIntegrations, in.Name)
		}
	}
	r.Identity = Identities{QA: qa.Identity, Production: prod.Identity}

	qaIDs := qaIdentities(qa)
	r.IdentityReuseFields, _ = matches(prod.Identity, qaIDs)
	r.IdentityReuse = len(r.IdentityReuseFields) > 0
	for _, q := range qaIDs {
		if sameIssuer(prod.Identity.Issuer, q.id.Issuer) {
			r.SharedIssuer = true
		}
	}
	for _, d := range prod.DownstreamAgents {
		if fields, agents := matches(d.Identity, qaIDs); len(fields) > 0 {
			r.DownstreamOnQA = append(r.DownstreamOnQA, DownstreamOnQA{Name: d.Name, Fields: fields, QAAgents: agents})
		}
	}
	return r
}

func changes(qa, prod *Manifest) []Change {
	out := []Change{}
	add := func(field, a, b string) {
		if a != b {
			out = append(out, Change{Field: field, QA: a, Production: b})
		}
	}
	add("model.provider", qa.Model.Provider, prod.Model.Provider)
	add("model.name", qa.Model.Name, prod.Model.Name)
	add("model.version", qa.Model.Version, prod.Model.Version)
	add("tool_registry.uri", qa.ToolRegistry.URI, prod.ToolRegistry.URI)
	add("tool_registry.digest", qa.ToolRegistry.Digest, prod.ToolRegistry.Digest)
	add("tool_registry.tools", toolSet(qa.ToolRegistry.Tools), toolSet(prod.ToolRegistry.Tools))
	add("data_domain.name", qa.DataDomain.Name, prod.DataDomain.Name)
	add("data_domain.sensitivity", string(qa.DataDomain.Sensitivity), string(prod.DataDomain.Sensitivity))
	add("tenant", qa.Tenant, prod.Tenant)
	add("owner", qa.Owner, prod.Owner)
	return out
}

// toolSet renders a toolset canonically ("a:read, b:write") so that order in
// the file does not count as a change but a different tool or access does.
func toolSet(tools []Tool) string {
	parts := make([]string, 0, len(tools))
	for _, t := range sortedTools(tools) {
		parts = append(parts, t.Name+":"+string(t.Access))
	}
	return strings.Join(parts, ", ")
}

func escalations(qa, prod *Manifest) []Escalation {
	out := []Escalation{}
	from, to := qa.DataDomain.Sensitivity, prod.DataDomain.Sensitivity
	if sensitivityRank[to] > sensitivityRank[from] {
		out = append(out, Escalation{Kind: EscalationDataSensitivity, Field: "data_domain.sensitivity", Detail: prod.DataDomain.Name, From: string(from), To: string(to)})
	}
	qaModes := map[string]Mode{}
	for _, in := range qa.Integrations {
		qaModes[in.Name] = in.Mode
	}
	for i, in := range prod.Integrations {
		if in.Mode != ModeLive {
			continue
		}
		before, ok := qaModes[in.Name]
		switch {
		case !ok:
			out = append(out, Escalation{Kind: EscalationIntegrationLive, Field: index("integrations", i), Detail: in.Name, From: Absent, To: string(ModeLive)})
		case before != ModeLive:
			out = append(out, Escalation{Kind: EscalationIntegrationLive, Field: index("integrations", i) + ".mode", Detail: in.Name, From: string(before), To: string(ModeLive)})
		}
	}
	qaAccess := map[string]Access{}
	for _, t := range qa.ToolRegistry.Tools {
		qaAccess[t.Name] = t.Access
	}
	for i, t := range prod.ToolRegistry.Tools {
		before, ok := qaAccess[t.Name]
		switch {
		case !ok:
			out = append(out, Escalation{Kind: EscalationToolAdded, Field: index("tool_registry.tools", i), Detail: t.Name, From: Absent, To: string(t.Access)})
		// write and execute are different powers, neither contains the
		// other: any move to one of them from anything else is a gain.
		case t.Access != before && t.Access != AccessRead:
			out = append(out, Escalation{Kind: EscalationToolAccess, Field: index("tool_registry.tools", i) + ".access", Detail: t.Name, From: string(before), To: string(t.Access)})
		}
	}
	return out
}

type namedIdentity struct {
	agent string
	id    Identity
}

// qaIdentities are every identity seen in QA: the agent's own and those of
// its downstream agents, since any of them could be carried into production.
func qaIdentities(qa *Manifest) []namedIdentity {
	out := []namedIdentity{{agent: qa.Name, id: qa.Identity}}
	for _, d := range qa.DownstreamAgents {
		out = append(out, namedIdentity{agent: d.Name, id: d.Identity})
	}
	return out
}

// matches returns the identity fields of id equal to the same non-empty
// field of any QA identity, and which QA agents those belong to. Any one
// field is enough: a shared client id or SPIFFE ID means a shared credential.
func matches(id Identity, qa []namedIdentity) (fields, agents []string) {
	fields, agents = []string{}, []string{}
	for _, q := range qa {
		hit := false
		for _, f := range []struct{ name, a, b string }{
			{"subject", id.Subject, q.id.Subject},
			{"client_id", id.ClientID, q.id.ClientID},
			{"spiffe_id", id.SPIFFEID, q.id.SPIFFEID},
		} {
			if f.a != "" && f.a == f.b {
				hit = true
				if !slices.Contains(fields, f.name) {
					fields = append(fields, f.name)
				}
			}
		}
		if hit && !slices.Contains(agents, q.agent) {
			agents = append(agents, q.agent)
		}
	}
	slices.Sort(fields)
	return fields, agents
}

// sameIssuer ignores a trailing slash, which OIDC issuers are written with
// and without; anything else that differs is a different issuer.
func sameIssuer(a, b string) bool {
	return a != "" && strings.TrimSuffix(a, "/") == strings.TrimSuffix(b, "/")
}

func sortedCopy(s []string) []string {
	out := append([]string{}, s...)
	slices.Sort(out)
	return out
}

func sortedTools(tools []Tool) []Tool {
	out := append([]Tool{}, tools...)
	slices.SortFunc(out, func(a, b Tool) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// String summarises an escalation for people: `integration "payments": stubbed → live`.
func (e Escalation) String() string {
	switch e.Kind {
	case EscalationDataSensitivity:
		return fmt.Sprintf("data sensitivity of %q: %s → %s", e.Detail, e.From, e.To)
	case EscalationIntegrationLive:
		return fmt.Sprintf("integration %q: %s → %s", e.Detail, e.From, e.To)
	default:
		return fmt.Sprintf("tool %q: %s → %s", e.Detail, e.From, e.To)
	}
}
