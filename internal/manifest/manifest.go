// Package manifest reads the agent manifests of QA and production and records
// how they differ.
//
// Trust boundary: a manifest is input written by the people who promote the
// agent, read from the repository at the verified commit. It is parsed
// strictly (unknown fields, duplicate keys, aliases, wrong types and values
// outside an enum are errors naming the input, the field path and the line),
// because a field airlock silently ignores is a field nobody reviewed.
// Diff records facts about the two manifests (changes, escalations, identity
// reuse); it never decides. Deciding is the policy's job (policies/agent*.rego).
package manifest

import (
	"time"

	"github.com/airlock-dev/airlock/internal/fault"
)

// Access is what an agent may do with a tool.
type Access string

// Tool access levels. Read is the only one that cannot change anything.
const (
	AccessRead    Access = "read"
	AccessWrite   Access = "write"
	AccessExecute Access = "execute"
)

// Sensitivity classifies the data an agent works on, from least to most sensitive.
type Sensitivity string

// Data sensitivities in rising order.
const (
	SensitivitySynthetic    Sensitivity = "synthetic"
	SensitivityInternal     Sensitivity = "internal"
	SensitivityConfidential Sensitivity = "confidential"
	SensitivityCustomer     Sensitivity = "customer"
)

// sensitivityRank orders sensitivities; a rise from QA to production is an escalation.
var sensitivityRank = map[Sensitivity]int{
	SensitivitySynthetic:    0,
	SensitivityInternal:     1,
	SensitivityConfidential: 2,
	SensitivityCustomer:     3,
}

// Mode says whether an integration talks to a real system.
type Mode string

// Integration modes.
const (
	ModeStubbed Mode = "stubbed"
	ModeLive    Mode = "live"
)

// Promotion kinds, as given by the workflow's `promotion` input.
const (
	Promote  = "promote"
	Rollback = "rollback"
)

// Manifest is one agent manifest (schema/agent-manifest.schema.json).
type Manifest struct {
	Name          string
	Model         Model
	ToolRegistry  ToolRegistry
	DataDomain    DataDomain
	Integrations  []Integration
	Tenant        string
	Owner         string
	Identity      Identity
	Scopes        []string
	CredentialTTL time.Duration
	// DownstreamAgents may be absent from the file: an agent that hands off to nobody.
	DownstreamAgents []DownstreamAgent

	input string
	lines map[string]int
}

// Model identifies the model the agent runs on.
type Model struct {
	Provider string `json:"provider"`
	Name     string `json:"name"`
	Version  string `json:"version"`
}

// ToolRegistry is where the agent's tools come from, pinned by digest.
type ToolRegistry struct {
	URI    string `json:"uri"`
	Digest string `json:"digest"`
	Tools  []Tool `json:"tools"`
}

// Tool is one tool the agent may call and what it may do with it.
type Tool struct {
	Name   string `json:"name"`
	Access Access `json:"access"`
}

// DataDomain is the data the agent works on.
type DataDomain struct {
	Name        string      `json:"name"`
	Sensitivity Sensitivity `json:"sensitivity"`
}

// Integration is an external system the agent talks to.
type Integration struct {
	Name string `json:"name"`
	Mode Mode   `json:"mode"`
}

// Identity is a workload identity. Issuer and Subject are required; ClientID
// and SPIFFEID are empty when the identity has none.
type Identity struct {
	Issuer   string `json:"issuer"`
	Subject  string `json:"subject"`
	ClientID string `json:"client_id"`
	SPIFFEID string `json:"spiffe_id"`
}

// DownstreamAgent is an agent this one hands work to.
type DownstreamAgent struct {
	Name     string   `json:"name"`
	Identity Identity `json:"identity"`
}

// Input is the name the manifest was parsed under (e.g. "production-manifest").
func (m *Manifest) Input() string { return m.input }

// Line is the 1-based line of the field at path in the source, 0 when the
// path is unknown. Paths are written as in errors and evidence:
// "model.version", "tool_registry.tools[2].access", "integrations[0]".
func (m *Manifest) Line(path string) int { return m.lines[path] }

// ParsePromotion checks the workflow's `promotion` input; empty means Promote.
func ParsePromotion(s string) (string, error) {
	switch s {
	case "", Promote:
		return Promote, nil
	case Rollback:
		return Rollback, nil
	}
	return "", fault.Usagef("promotion: expected %q or %q, got %q", Promote, Rollback, s)
}
