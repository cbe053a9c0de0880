package verify

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/airlock-dev/airlock/internal/attest"
	"github.com/airlock-dev/airlock/internal/policy"
)

// DecisionPredicateType is airlock's promotion decision (internal/attest):
// the predicate type required unless the auditor asks for another one or for
// --any.
const DecisionPredicateType = attest.PredicateType

// Reason is one finding recorded in a decision, tagged with its control.
type Reason = policy.Reason

// Outcome is what a PredicateCheck concludes about one predicate.
type Outcome struct {
	Decision string
	Reasons  []Reason
	NotAfter *time.Time
	// Policy is the policy set the decision records it was made under.
	Policy *PolicyRef
	// Environment and IssuedAt are the decision's (supersession compares
	// allows for the same subject and environment by issue time).
	Environment string
	IssuedAt    *time.Time
	// Refusal marks an authentic record that says no (a deny decision).
	// It fails verification unless the auditor asked to list refusals, and
	// it never counts as an attestation for an artifact.
	Refusal bool
	// Errors say why the predicate does not pass; empty means it passes.
	Errors []string
}

// A PredicateCheck judges the predicate of a statement whose signature,
// signer and subjects have already been verified. at is the time the
// predicate must hold (now, or the auditor's --at).
//
// Checks are chosen by predicate type; a type without a check passes on
// the strength of its signature alone.
type PredicateCheck interface {
	CheckPredicate(predicate json.RawMessage, at time.Time) Outcome
}

var _ PredicateCheck = DecisionCheck{}

// PolicyRef names a policy set: the digest the gate computed over its files
// (`airlock policy digest` prints it for a directory) and their sources.
type PolicyRef = attest.PolicyRef

// DecisionCheck enforces a promotion decision as internal/attest writes it:
// the verdict, the validity window at the time of verification (C6), and,
// when PolicyDigests is set, that a known policy made it.
type DecisionCheck struct {
	// PolicyDigests, when not empty, are the policy sets an auditor accepts
	// ("sha256:HEX"): a decision recording any other was made under a policy
	// nobody reviewed.
	PolicyDigests []string
}

// CheckPredicate: a decision passes only if it is "allow", has a validity
// window, was issued no later than at, has not expired at at (notAfter
// itself is still valid) and, if asked, names an accepted policy digest. A
// missing field is a failure, never a default.
func (c DecisionCheck) CheckPredicate(predicate json.RawMessage, at time.Time) Outcome {
	var d decisionFields
	if err := json.Unmarshal(predicate, &d); err != nil {
		return Outcome{Errors: []string{fmt.Sprintf("decision predicate: %v", err)}}
	}
	var o Outcome
	o.Reasons = d.Reasons
	o.Environment = d.Issuer.Environment
	if !d.Validity.IssuedAt.IsZero() {
		ia := d.Validity.IssuedAt
		o.IssuedAt = &ia
	}
	if d.Policy.Digest != "" {
		ref := d.Policy
		o.Policy = &ref
	}
	if len(c.PolicyDigests) > 0 {
		switch {
		case d.Policy.Digest == "":
			o.Errors = append(o.Errors, "decision predicate: no policy.digest: the policy that decided is unknown")
		case !slices.Contains(c.PolicyDigests, d.Policy.Digest):
			o.Errors = append(o.Errors, fmt.Sprintf("decision made under policy %s, not one of the accepted --policy-digest values", d.Policy.Digest))
		}
	}
	switch d.Decision {
	case "allow":
		o.Decision = "allow"
	case "deny":
		o.Decision = "deny"
		o.Refusal = true
	case "":
		o.Errors = append(o.Errors, "decision predicate: no decision")
	default:
		o.Errors = append(o.Errors, fmt.Sprintf("decision predicate: decision: expected %q or %q, got %q", "allow", "deny", d.Decision))
	}
	v := d.Validity
	switch {
	case v.NotAfter.IsZero():
		o.Errors = append(o.Errors, "decision predicate: no validity.notAfter: a decision that never expires is not accepted")
	case v.IssuedAt.IsZero():
		o.Errors = append(o.Errors, "decision predicate: no validity.issuedAt")
	case v.NotAfter.Before(v.IssuedAt):
		o.Errors = append(o.Errors, fmt.Sprintf("decision predicate: validity: notAfter %s is before issuedAt %s", stamp(v.NotAfter), stamp(v.IssuedAt)))
	}
	if !v.NotAfter.IsZero() {
		na := v.NotAfter
		o.NotAfter = &na
		if at.After(na) {
			o.Errors = append(o.Errors, expired(v, at))
		}
	}
	if !v.IssuedAt.IsZero() && v.IssuedAt.After(at) {
		o.Errors = append(o.Errors, fmt.Sprintf("decision not yet issued: issuedAt %s is after %s", stamp(v.IssuedAt), stamp(at)))
	}
	return o
}

// decisionFields are the fields of attest.Predicate the check reads, with
// the same names and types. Decoding only these keeps a one-bundle verify
// from building encoding/json's reflection caches for the whole evidence
// type tree (≈ 0.5 ms of a fresh process); the fields it does read are
// checked exactly as before.
type decisionFields struct {
	Decision string          `json:"decision"`
	Reasons  []policy.Reason `json:"reasons"`
	Issuer   struct {
		Environment string `json:"environment"`
	} `json:"issuer"`
	Policy   attest.PolicyRef `json:"policy"`
	Validity attest.Validity  `json:"validity"`
}

// expired says when the decision was valid as well as that it no longer is:
// an auditor usually verifies long after the promotion, and the question is
// whether it was valid when it was deployed (--at), not whether it is now.
// The prefix "decision expired: notAfter" is matched by internal/audit.
func expired(v attest.Validity, at time.Time) string {
	msg := fmt.Sprintf("decision expired: notAfter %s is before %s", stamp(v.NotAfter), stamp(at))
	if v.IssuedAt.IsZero() || v.NotAfter.Before(v.IssuedAt) {
		return msg + "; to check a past deployment, verify with --at <deployment time> (RFC 3339)"
	}
	return fmt.Sprintf("%s; it was valid from %s to %s: to check a deployment made then, verify with --at <deployment time> (RFC 3339)", msg, stamp(v.IssuedAt), stamp(v.NotAfter))
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
