package opa

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/grants"
)

// Evaluator answers calls from an exported bundle in process, with the same
// module OPA runs: for `airlock demo` and the in-process benchmark. It is
// safe for concurrent use.
type Evaluator struct {
	q rego.PreparedEvalQuery
}

// NewEvaluator reads an exported bundle (without signature verification:
// the caller built it or verified it) and compiles its module once.
func NewEvaluator(ctx context.Context, tarball []byte) (*Evaluator, error) {
	b, err := bundle.NewReader(bytes.NewReader(tarball)).WithSkipBundleVerification(true).Read()
	if err != nil {
		return nil, fault.Configf("grants: read bundle: %w", err)
	}
	q, err := prepare(ctx, &b, "data."+grants.Package+".response")
	if err != nil {
		return nil, fault.Configf("grants: compile bundle: %w", err)
	}
	return &Evaluator{q: q}, nil
}

// Ask evaluates one call at time now. input is usually a grants.Call; any value
// (a map with missing fields, nil) may be given, as a runtime might send.
// Anything other than a well-formed answer is an error, never an allow.
func (e *Evaluator) Ask(ctx context.Context, input any, now time.Time) (grants.Answer, error) {
	opts := []rego.EvalOption{rego.EvalTime(now)}
	if input != nil {
		opts = append(opts, rego.EvalInput(input))
	}
	rs, err := e.q.Eval(ctx, opts...)
	if err != nil {
		return grants.Answer{}, fault.Configf("grants: evaluate: %w", err)
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return grants.Answer{}, grants.ErrNoAnswer
	}
	doc, ok := rs[0].Expressions[0].Value.(map[string]any)
	if !ok {
		return grants.Answer{}, grants.ErrNoAnswer
	}
	allow, ok := doc["allow"].(bool)
	if !ok {
		return grants.Answer{}, fmt.Errorf("%w: allow is %T", grants.ErrNoAnswer, doc["allow"])
	}
	raw, ok := doc["reasons"].([]any)
	if !ok {
		return grants.Answer{}, fmt.Errorf("%w: reasons is %T", grants.ErrNoAnswer, doc["reasons"])
	}
	a := grants.Answer{Allow: allow, Reasons: []string{}}
	for _, r := range raw {
		s, ok := r.(string)
		if !ok {
			return grants.Answer{}, fmt.Errorf("%w: a reason is %T", grants.ErrNoAnswer, r)
		}
		a.Reasons = append(a.Reasons, s)
	}
	if a.Allow && len(a.Reasons) > 0 {
		return grants.Answer{}, fmt.Errorf("%w: allow with reasons %q", grants.ErrNoAnswer, a.Reasons)
	}
	return a, nil
}
