// Package attest turns a gate decision into a signed, verifiable record: an
// in-toto Statement v1 whose predicate is the evidence and the decision,
// wrapped in DSSE and a Sigstore bundle v0.3, signed keyless (Fulcio, with a
// Rekor entry or an RFC 3161 timestamp) or with a key, verified again before
// anyone may publish it.
//
// Trust boundary: the OIDC token handed to the keyless signer and the private
// key of the key signer are secrets; they go only to the signing service that
// needs them (the token to Fulcio) and never into a bundle field, an error or
// a log. Everything this package writes is public. Signing services are
// untrusted: what they return is used only after the finished bundle has
// verified against the trusted root, and an answer that does not verify is an
// operational failure, never a bundle.
package attest

import (
	"fmt"
	"github.com/airlock-dev/airlock/internal/mint"
	"slices"
	"time"

	"github.com/airlock-dev/airlock/internal/evidence"
	"github.com/airlock-dev/airlock/internal/identity"
	"github.com/airlock-dev/airlock/internal/policy"
)

// PredicateType names and versions the predicate. Change it on any
// incompatible change, together with schema/decision-predicate.schema.json.
const PredicateType = "https://github.com/airlock-dev/airlock/attestation/promotion-decision/v1"

// Predicate is the signed record of one trust decision at the QA → production
// boundary (C12). It holds the decision and a summary an auditor reads first,
// and, unchanged, the evidence the policy decided on.
type Predicate struct {
	Decision     string                 `json:"decision"` // "allow" | "deny"
	Reasons      []policy.Reason        `json:"reasons"`
	Warnings     []policy.Reason        `json:"warnings"`
	Requirements []policy.Reason        `json:"requirements"`
	Controls     []policy.ControlResult `json:"controls"`
	// Frameworks are the frameworks the controls map to (C13).
	Frameworks []string          `json:"frameworks"`
	Grants     map[string]any    `json:"grants"`
	Issuer     Issuer            `json:"issuer"`
	Run        Run               `json:"run"`
	Policy     PolicyRef         `json:"policy"`
	Airlock    Tool              `json:"airlock"`
	Validity   Validity          `json:"validity"`
	Evidence   evidence.Evidence `json:"evidence"`
	// Credential is the production credential minted after the allow
	// (its identity, scopes, expiry and a sha256 of the token, never the
	// token), or why minting turned the allow into a deny; absent when
	// the workflow did not ask airlock to mint.
	Credential *mint.Record `json:"credential,omitempty"`
}

// Issuer is who vouched for the run: the OIDC issuer and the verified claims
// that identify the repository by immutable ids.
type Issuer struct {
	Issuer            string `json:"iss"`
	Audience          string `json:"audience"`
	Verified          bool   `json:"verified"`
	Subject           string `json:"sub,omitempty"`
	Repository        string `json:"repository,omitempty"`
	RepositoryID      string `json:"repository_id,omitempty"`
	RepositoryOwner   string `json:"repository_owner,omitempty"`
	RepositoryOwnerID string `json:"repository_owner_id,omitempty"`
	JobWorkflowRef    string `json:"job_workflow_ref,omitempty"`
	Environment       string `json:"environment,omitempty"`
	RunnerEnvironment string `json:"runner_environment,omitempty"`
}

// Run points at the workflow run that asked for the decision.
type Run struct {
	Repository  string `json:"repository,omitempty"`
	RunID       string `json:"run_id,omitempty"`
	RunAttempt  string `json:"run_attempt,omitempty"`
	CheckRunID  string `json:"check_run_id,omitempty"`
	WorkflowRef string `json:"workflow_ref,omitempty"`
	SHA         string `json:"sha,omitempty"`
	Ref         string `json:"ref,omitempty"`
	EventName   string `json:"event_name,omitempty"`
	Actor       string `json:"actor,omitempty"`
	ActorID     string `json:"actor_id,omitempty"`
}

// PolicyRef identifies the exact policy set that decided.
type PolicyRef struct {
	Digest  string   `json:"digest"`
	Sources []string `json:"sources"`
}

// Tool is the airlock build that decided.
type Tool struct {
	Version string `json:"version"`
}

// Validity is when the decision may be relied on: a verifier refuses it
// after NotAfter (C6).
type Validity struct {
	IssuedAt time.Time `json:"issuedAt"`
	NotAfter time.Time `json:"notAfter"`
}

// NewValidity returns [issuedAt, issuedAt+ttl], in UTC to the second.
func NewValidity(issuedAt time.Time, ttl time.Duration) (Validity, error) {
	if ttl <= 0 {
		return Validity{}, fmt.Errorf("decision ttl: expected > 0, got %s", ttl)
	}
	at := issuedAt.UTC().Truncate(time.Second)
	return Validity{IssuedAt: at, NotAfter: at.Add(ttl)}, nil
}

// NewPredicate builds the predicate from what the gate found and decided.
// claims is nil when the run's token did not verify (then the decision is a
// deny and the record says so).
func NewPredicate(ev evidence.Evidence, dec policy.Decision, claims *identity.Claims, version string, v Validity) Predicate {
	p := Predicate{
		Decision:     dec.Verdict(),
		Reasons:      nonNil(dec.Reasons),
		Warnings:     nonNil(dec.Warnings),
		Requirements: nonNil(dec.Requirements),
		Controls:     dec.Controls,
		Grants:       dec.Grants,
		Issuer: Issuer{
			Issuer: ev.Identity.Issuer, Audience: ev.Identity.Audience, Verified: ev.Identity.Verified && claims != nil,
		},
		Policy:   PolicyRef{Digest: dec.PolicyDigest, Sources: nonNil(dec.PolicySources)},
		Airlock:  Tool{Version: version},
		Validity: v,
		Evidence: ev,
	}
	if p.Controls == nil {
		p.Controls = []policy.ControlResult{}
	}
	if p.Grants == nil {
		p.Grants = map[string]any{}
	}
	if claims != nil {
		p.Issuer.Issuer = claims.Issuer
		p.Issuer.Subject = claims.Subject
		p.Issuer.Repository = claims.Repository
		p.Issuer.RepositoryID = claims.RepositoryID
		p.Issuer.RepositoryOwner = claims.RepositoryOwner
		p.Issuer.RepositoryOwnerID = claims.RepositoryOwnerID
		p.Issuer.JobWorkflowRef = claims.JobWorkflowRef
		p.Issuer.Environment = claims.Environment
		p.Issuer.RunnerEnvironment = claims.RunnerEnvironment
		p.Run = Run{
			Repository: claims.Repository, RunID: claims.RunID, RunAttempt: claims.RunAttempt,
			CheckRunID: claims.CheckRunID, WorkflowRef: claims.WorkflowRef, SHA: claims.SHA, Ref: claims.Ref,
			EventName: claims.EventName, Actor: claims.Actor, ActorID: claims.ActorID,
		}
	}
	p.Frameworks = frameworksOf(p.Controls)
	return p
}

func frameworksOf(cs []policy.ControlResult) []string {
	out := []string{}
	for _, c := range cs {
		for _, f := range c.Frameworks {
			if !slices.Contains(out, f) {
				out = append(out, f)
			}
		}
	}
	return out
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
