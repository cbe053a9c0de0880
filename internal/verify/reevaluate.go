package verify

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/policy"
)

// Reevaluator decides on evidence: a policy.Engine, loaded from the
// auditor's --policy directory.
type Reevaluator interface {
	Evaluate(ctx context.Context, input any) (policy.Decision, error)
}

var _ Reevaluator = policy.Engine(nil)

// Reevaluation is what the auditor's policy says today about the evidence a
// decision recorded. It is only as good as that evidence: facts are not
// collected again.
type Reevaluation struct {
	Allow        bool     `json:"allow"`
	Reasons      []Reason `json:"reasons"`
	PolicyDigest string   `json:"policyDigest,omitempty"`
}

// reevaluate feeds the evidence exactly as signed (raw JSON, not a
// round-trip through our types, which could drop what it does not know) to
// the policy. Evidence that is missing or cannot be decided on is a deny,
// never an allow. An evaluation that could not run (a cancelled or timed-out
// context, input the engine cannot encode) is not the policy's answer: it
// is returned as an error, so the run ends in exit 3 (or 2), not in a deny
// that reads as "the policy refused".
func (v *Verifier) reevaluate(ctx context.Context, predicate json.RawMessage) (*Reevaluation, error) {
	deny := func(msg string) *Reevaluation {
		return &Reevaluation{Reasons: []Reason{{Control: "C5", Message: msg}}}
	}
	var p struct {
		Evidence json.RawMessage `json:"evidence"`
	}
	if err := json.Unmarshal(predicate, &p); err != nil {
		return deny(fmt.Sprintf("decision predicate: %v", err)), nil
	}
	if len(p.Evidence) == 0 || string(p.Evidence) == "null" {
		return deny("the decision records no evidence to re-evaluate"), nil
	}
	d, err := v.policy.Evaluate(ctx, p.Evidence)
	if err != nil {
		if fault.KindOf(err) == fault.KindConfig || fault.KindOf(err) == fault.KindUsage {
			return nil, fmt.Errorf("re-evaluate under --policy: %w", err)
		}
		return nil, fault.Operationalf("re-evaluate under --policy: %w", err)
	}
	r := &Reevaluation{Allow: d.Allow, Reasons: d.Reasons, PolicyDigest: d.PolicyDigest}
	if r.Reasons == nil {
		r.Reasons = []Reason{}
	}
	if !r.Allow && len(r.Reasons) == 0 {
		r.Reasons = []Reason{{Control: "C5", Message: "denied without a reason"}}
	}
	return r, nil
}
