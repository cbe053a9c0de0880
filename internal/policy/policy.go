// Package policy is what a policy decides and what it is read from: the
// Decision with its reasons and controls, the Source of modules, and the
// Engine interface that evaluates evidence. It does not link OPA: the engine
// itself is internal/policy/opa, which only the commands that evaluate Rego
// reach (airlock-rego; see README, "Install").
package policy

import (
	"context"
	"io/fs"
)

// Query is the one document the gate reads.
const Query = "data.airlock.decision"

// Source is a directory of policy modules: *.rego files (tests excluded) and
// params/*.json thresholds. Name prefixes file names in errors and digests.
type Source struct {
	Name string
	FS   fs.FS
}

// Engine is a compiled policy set, safe for concurrent use
// (internal/policy/opa.Load makes one).
//
// Trust boundary: only policy decides. At evaluation time anything other
// than a well-formed decision document with allow=true and no deny reasons
// is a deny: undefined results, runtime errors and malformed output become
// deny reasons under control C5, never an error that a caller might mistake
// for "no objection".
type Engine interface {
	// Evaluate decides on input. The error is for a cancelled context or a
	// broken engine, never for a policy that refused.
	Evaluate(ctx context.Context, input any) (Decision, error)
	// Digest is the sha256 of the policy files as loaded (see DirSource).
	Digest() string
	// Param is one value of the merged params files (topic = file name).
	Param(topic, key string) (any, bool)
	// Sources names the loaded sources, in order.
	Sources() []string
}

// TestResult is the outcome of one Rego test rule.
type TestResult struct {
	Name    string `json:"name"` // package.rule
	File    string `json:"file"`
	Pass    bool   `json:"pass"`
	Message string `json:"message,omitempty"`
}
