// Package grants turns a verified allow decision into an OPA bundle that a
// runtime policy point (an MCP gateway, a sidecar, OPA-Envoy) asks about
// every tool call: the tools and scopes the decision approved, its notAfter,
// and a Rego v1 module (grants.rego) that allows a call only within them.
//
// Trust boundary: the input is a decision internal/verify has already
// verified (signature, signer, subject, allow, unexpired); this package
// still refuses grants it does not understand rather than export a bundle
// that might allow more than the decision did. The signing key given for
// OPA's bundle signatures is a secret: it goes to OPA's signer only, never
// into an error, the bundle or an output.
//
// This package is the grants and their parsing; the bundle is built, signed
// and evaluated by internal/grants/opa, which links OPA.
package grants

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/airlock-dev/airlock/internal/attest"
	"github.com/airlock-dev/airlock/internal/fault"
)

// Package is the Rego package of the exported module; Root is the bundle
// root airlock owns (data.airlock.grants). Users keep their own runtime
// rules in other packages and bundles.
const (
	Package = "airlock.grants"
	Root    = "airlock/grants"
)

// Module is the Rego v1 module every exported bundle carries.
//
//go:embed grants.rego
var Module string

// ModulePath is where the module sits in the bundle.
const ModulePath = "/" + Root + "/grants.rego"

// Access is what a grant lets an agent do with a tool, in rising order:
// read < write < execute (the agent manifest's tool_registry.tools[].access).
type Access string

const (
	AccessRead    Access = "read"
	AccessWrite   Access = "write"
	AccessExecute Access = "execute"
)

// Level orders access; 0 is unknown.
func (a Access) Level() int {
	switch a {
	case AccessRead:
		return 1
	case AccessWrite:
		return 2
	case AccessExecute:
		return 3
	}
	return 0
}

// Tool is one approved tool and the most it may do.
type Tool struct {
	Name   string `json:"name"`
	Access Access `json:"access"`
}

// Grants are what the decision approved (policies/agent.rego: the
// production manifest's tools and requested scopes).
type Grants struct {
	Tools  []Tool   `json:"tools"`
	Scopes []string `json:"scopes"`
}

// Subject is an in-toto subject of the decision.
type Subject struct {
	Name   string            `json:"name,omitempty"`
	Digest map[string]string `json:"digest"`
}

// Decision is data.airlock.grants.decision in the bundle (data.json).
type Decision struct {
	Grants         Grants    `json:"grants"`
	NotAfter       time.Time `json:"notAfter"`
	Subject        []Subject `json:"subject"`
	Environment    string    `json:"environment"`
	PolicyDigest   string    `json:"policy_digest"`
	DecisionDigest string    `json:"decision_digest"`
}

// FromPredicate reads the exported decision from a verified decision
// predicate. It refuses a deny, a decision without notAfter, and grants that
// are missing or malformed: those are failed exports (exit 1), not bundles
// that would deny everything or, worse, allow what nobody approved.
func FromPredicate(predicate json.RawMessage, subjects []Subject, decisionDigest string) (Decision, error) {
	var p attest.Predicate
	if err := json.Unmarshal(predicate, &p); err != nil {
		return Decision{}, fmt.Errorf("decision predicate: %w", err)
	}
	if p.Decision != "allow" {
		return Decision{}, &RefusedError{fmt.Sprintf("decision is %q: only an allow has grants", p.Decision)}
	}
	if p.Validity.NotAfter.IsZero() {
		return Decision{}, &RefusedError{"decision has no validity.notAfter"}
	}
	g, err := parseGrants(p.Grants)
	if err != nil {
		return Decision{}, &RefusedError{err.Error()}
	}
	return Decision{
		Grants: g, NotAfter: p.Validity.NotAfter.UTC(), Subject: subjects,
		Environment: p.Issuer.Environment, PolicyDigest: p.Policy.Digest, DecisionDigest: decisionDigest,
	}, nil
}

// RefusedError: the decision verified, but it cannot be exported (exit 1).
type RefusedError struct{ Msg string }

func (e *RefusedError) Error() string { return e.Msg }

// parseGrants is strict: the Rego trusts the shape it gets.
func parseGrants(raw map[string]any) (Grants, error) {
	if len(raw) == 0 {
		return Grants{}, fmt.Errorf("decision grants nothing (was the gate run without agent manifests?): no tools or scopes to enforce")
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return Grants{}, fmt.Errorf("grants: %w", err)
	}
	var g struct {
		Tools  *[]map[string]any `json:"tools"`
		Scopes *[]any            `json:"scopes"`
	}
	if err := json.Unmarshal(b, &g); err != nil {
		return Grants{}, fmt.Errorf("grants: expected {\"tools\": [{\"name\", \"access\"}], \"scopes\": [string]}: %w", err)
	}
	for k := range raw {
		if k != "tools" && k != "scopes" {
			return Grants{}, fmt.Errorf("grants.%s: not understood by this airlock (only tools and scopes)", k)
		}
	}
	if g.Tools == nil || g.Scopes == nil {
		return Grants{}, fmt.Errorf("grants: expected both tools and scopes")
	}
	out := Grants{Tools: []Tool{}, Scopes: []string{}}
	seen := map[string]bool{}
	for i, t := range *g.Tools {
		name, _ := t["name"].(string)
		access, _ := t["access"].(string)
		if name == "" || Access(access).Level() == 0 || len(t) != 2 {
			return Grants{}, fmt.Errorf("grants.tools[%d]: expected {\"name\": non-empty, \"access\": read|write|execute}, got %v", i, t)
		}
		if seen[name] {
			return Grants{}, fmt.Errorf("grants.tools[%d]: tool %q granted twice", i, name)
		}
		seen[name] = true
		out.Tools = append(out.Tools, Tool{Name: name, Access: Access(access)})
	}
	for i, s := range *g.Scopes {
		str, ok := s.(string)
		if !ok || str == "" {
			return Grants{}, fmt.Errorf("grants.scopes[%d]: expected a non-empty string, got %v", i, s)
		}
		if slices.Contains(out.Scopes, str) {
			return Grants{}, fmt.Errorf("grants.scopes[%d]: scope %q granted twice", i, str)
		}
		out.Scopes = append(out.Scopes, str)
	}
	return out, nil
}

// Call is one question a runtime asks: may the agent use Tool with Access
// under Scope (on Resource, which airlock's rules do not restrict)?
type Call struct {
	Tool     string `json:"tool"`
	Access   string `json:"access"`
	Scope    string `json:"scope"`
	Resource string `json:"resource,omitempty"`
}

// Answer is the module's response document.
type Answer struct {
	Allow   bool     `json:"allow"`
	Reasons []string `json:"reasons"`
}

// ErrNoAnswer is the error for a module result that is not a well-formed answer.
var ErrNoAnswer = fault.Configf("grants: the module gave no answer")

// Signer signs an exported bundle in OPA's format (internal/grants/opa).
type Signer interface {
	// Alg is the JWS algorithm, for `opa run --signing-alg`.
	Alg() string
	// KeyID is the key id, for `opa run --verification-key-id`.
	KeyID() string
}

// Evaluator answers calls from an exported bundle in process
// (internal/grants/opa.NewEvaluator).
type Evaluator interface {
	Ask(ctx context.Context, input any, now time.Time) (Answer, error)
}
