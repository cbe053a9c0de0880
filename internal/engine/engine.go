// Package engine is OPA as airlock's command line uses it: the policy
// engine (internal/policy/opa) and the grants bundle (internal/grants/opa).
// cmd/airlock-rego links it into the command line (cli.UseEngine); cmd/airlock
// does not, so that its start-up does not pay OPA's initialisation. See
// README, "Install".
package engine

import (
	"context"
	"fmt"

	"github.com/airlock-dev/airlock/internal/grants"
	grantsopa "github.com/airlock-dev/airlock/internal/grants/opa"
	"github.com/airlock-dev/airlock/internal/policy"
	policyopa "github.com/airlock-dev/airlock/internal/policy/opa"
)

// OPA is the engine; the zero value is ready.
type OPA struct{}

// LoadPolicy compiles the sources (internal/policy/opa.Load).
func (OPA) LoadPolicy(ctx context.Context, sources ...policy.Source) (policy.Engine, error) {
	e, err := policyopa.Load(ctx, sources...)
	if err != nil {
		return nil, err // not a typed nil in an interface
	}
	return e, nil
}

// TestPolicy runs the sources' Rego tests (internal/policy/opa.RunTests).
func (OPA) TestPolicy(ctx context.Context, sources ...policy.Source) ([]policy.TestResult, error) {
	return policyopa.RunTests(ctx, sources...)
}

// GrantsSigner reads a PEM private key for signing grants bundles.
func (OPA) GrantsSigner(pemKey []byte, keyID string) (grants.Signer, error) {
	s, err := grantsopa.NewSigner(pemKey, keyID)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// BuildGrants writes the grants bundle for d, signed by s unless s is nil.
// s must come from GrantsSigner.
func (OPA) BuildGrants(ctx context.Context, d grants.Decision, s grants.Signer) ([]byte, error) {
	var signer *grantsopa.Signer
	if s != nil {
		var ok bool
		if signer, ok = s.(*grantsopa.Signer); !ok {
			return nil, fmt.Errorf("grants: a signer of type %T, not from GrantsSigner", s)
		}
	}
	return grantsopa.Build(ctx, d, signer)
}

// GrantsEvaluator compiles an exported bundle's module for in-process calls.
func (OPA) GrantsEvaluator(ctx context.Context, tarball []byte) (grants.Evaluator, error) {
	e, err := grantsopa.NewEvaluator(ctx, tarball)
	if err != nil {
		return nil, err
	}
	return e, nil
}
