// Package evidence defines the document airlock decides on: the Rego input
// and, unchanged, the body of the signed decision attestation.
//
// Trust boundary: everything in Identity.Claims comes from a verified token;
// Request is what the workflow asked airlock to enforce; each collector adds
// a section of facts. Nothing here is a secret: collectors record names,
// hosts, statuses and claims, never tokens or response bodies.
package evidence

import (
	"time"

	"github.com/airlock-dev/airlock/internal/approvals"
	"github.com/airlock-dev/airlock/internal/manifest"
	"github.com/airlock-dev/airlock/internal/revocation"
)

// SchemaURI versions the document. Change it on any incompatible change and
// update schema/evidence.schema.json with it.
const SchemaURI = "https://github.com/airlock-dev/airlock/schema/evidence/v1"

// Evidence is everything the policy sees.
type Evidence struct {
	Schema      string    `json:"schema"`
	CollectedAt time.Time `json:"collected_at"`
	Request     Request   `json:"request"`
	Identity    Identity  `json:"identity"`
	// Approvals (C4) is nil when the identity was not verified: without the
	// verified run there is nothing to ask about.
	Approvals *approvals.Report `json:"approvals,omitempty"`
	// Agent is the QA → production manifest diff (C3, C6–C11); nil when the
	// workflow gave no manifests.
	Agent *manifest.Report `json:"agent,omitempty"`
	// Revocation is what each QA credential's issuer said (C2) and how the
	// production identity compares with the QA ones (C3); nil when the
	// workflow did not declare its QA credentials, which policy denies.
	Revocation *revocation.Report `json:"revocation,omitempty"`
}

// Request is what the workflow asked airlock to enforce (action inputs).
type Request struct {
	Environment     string   `json:"environment"`
	AllowedRefs     []string `json:"allowed_refs"`
	AllowSelfHosted bool     `json:"allow_self_hosted"`
	Workflow        string   `json:"workflow"`
	RepositoryID    string   `json:"repository_id"`
	// ManifestsRequired is true when the workflow named agent manifests:
	// then missing agent evidence is a deny, not a silence.
	ManifestsRequired bool `json:"manifests_required"`
	// Promotion is "promote" or "rollback" (a rollback is a new decision).
	Promotion string `json:"promotion"`
}

// Identity is the result of verifying the job's OIDC token (C1).
type Identity struct {
	Verified bool   `json:"verified"`
	Issuer   string `json:"issuer"`
	Audience string `json:"audience"`
	// Error says why the token was not accepted; empty when Verified.
	Error string `json:"error,omitempty"`
	// Claims is nil unless Verified.
	Claims         any            `json:"claims,omitempty"`
	HintMismatches []HintMismatch `json:"hint_mismatches"`
}

// HintMismatch records a GITHUB_* variable that disagrees with the verified
// token. Variables are hints; a disagreement means something rewrote the
// runner's environment, and policy denies.
type HintMismatch struct {
	Variable string `json:"variable"`
	Hint     string `json:"hint"`
	Claim    string `json:"claim"`
	Verified string `json:"verified"`
}
