package verify

import (
	"encoding/json"
	"fmt"
	"time"
)

// DecisionPredicateType is airlock's promotion decision: the predicate type
// required unless the auditor asks for another one or for --any.
const DecisionPredicateType = "https://github.com/airlock-dev/airlock/attestation/promotion-decision/v1"

// Reason is one finding recorded in a decision, tagged with its control.
type Reason struct {
	Control string `json:"control"`
	Message string `json:"message"`
}

// Outcome is what a PredicateCheck concludes about one predicate.
type Outcome struct {
	Decision string
	Reasons  []Reason
	NotAfter *time.Time
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

// DefaultChecks are the checks used when Config.Checks is nil.
func DefaultChecks() map[string]PredicateCheck {
	return map[string]PredicateCheck{DecisionPredicateType: DecisionCheck{}}
}

// DecisionCheck enforces a promotion decision: the verdict, and the
// validity window at the time of verification.
//
// The field names below are provisional until internal/attest (issue 5)
// publishes the predicate and its schema; when it does, replace
// decisionFields with the real type and keep Check's rules.
type DecisionCheck struct{}

type decisionFields struct {
	Decision *string  `json:"decision"`
	Reasons  []Reason `json:"reasons"`
	Validity struct {
		IssuedAt *time.Time `json:"issuedAt"`
		NotAfter *time.Time `json:"notAfter"`
	} `json:"validity"`
}

// CheckPredicate: a decision passes only if it is "allow", carries a
// notAfter, was issued no later than at, and has not expired at at. A missing
// field is a failure, never a default.
func (DecisionCheck) CheckPredicate(predicate json.RawMessage, at time.Time) Outcome {
	var d decisionFields
	if err := json.Unmarshal(predicate, &d); err != nil {
		return Outcome{Errors: []string{fmt.Sprintf("decision predicate: %v", err)}}
	}
	var o Outcome
	o.Reasons = d.Reasons
	o.NotAfter = d.Validity.NotAfter
	switch {
	case d.Decision == nil:
		o.Errors = append(o.Errors, "decision predicate: no decision")
	case *d.Decision == "allow":
		o.Decision = "allow"
	case *d.Decision == "deny":
		o.Decision = "deny"
		o.Refusal = true
	default:
		o.Errors = append(o.Errors, fmt.Sprintf("decision predicate: decision: expected %q or %q, got %q", "allow", "deny", *d.Decision))
	}
	if o.NotAfter == nil {
		o.Errors = append(o.Errors, "decision predicate: no validity.notAfter: a decision that never expires is not accepted")
	} else if at.After(*o.NotAfter) {
		o.Errors = append(o.Errors, fmt.Sprintf("decision expired: notAfter %s is before %s", o.NotAfter.UTC().Format(time.RFC3339), at.UTC().Format(time.RFC3339)))
	}
	if d.Validity.IssuedAt != nil && d.Validity.IssuedAt.After(at) {
		o.Errors = append(o.Errors, fmt.Sprintf("decision not yet issued: issuedAt %s is after %s", d.Validity.IssuedAt.UTC().Format(time.RFC3339), at.UTC().Format(time.RFC3339)))
	}
	return o
}
