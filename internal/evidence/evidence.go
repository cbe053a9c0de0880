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
	// PullRequest is set only by `airlock check`: then the evidence
	// describes a pull request as it would be at merge, not a deployment,
	// and policy judges the branch it merges into instead of the run's ref.
	PullRequest *PullRequest `json:"pull_request,omitempty"`
}

// PullRequest is the promotion pull request `airlock check` evaluates. The
// number comes from the verified ref (refs/pull/N/merge); head and base are
// the parents of the verified merge commit, so they are the commits this
// run tested even if the pull request has moved on since.
type PullRequest struct {
	Number  int    `json:"number"`
	HeadSHA string `json:"head_sha"`
	BaseSHA string `json:"base_sha"`
	// BaseRef is the branch the pull request merges into, "refs/heads/…".
	BaseRef string `json:"base_ref"`
	// PromotionFiles are the changed files that match manifest-paths (old
	// and new names of a renamed file).
	PromotionFiles []string `json:"promotion_files"`
	// ProductionManifestAtBase says what the base commit holds at the
	// production manifest's path: "present", "absent" (this pull request
	// adds it), "invalid", or "" when no manifests are configured.
	ProductionManifestAtBase string `json:"production_manifest_at_base"`
	// ProductionChanges and ProductionEscalations are how this pull request
	// changes the production manifest (base → head); empty unless the base
	// holds a valid one.
	ProductionChanges     []manifest.Change     `json:"production_changes"`
	ProductionEscalations []manifest.Escalation `json:"production_escalations"`
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
