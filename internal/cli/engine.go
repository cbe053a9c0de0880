package cli

import (
	"context"
	"errors"

	"github.com/spf13/cobra"

	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/grants"
	"github.com/airlock-dev/airlock/internal/policy"
)

// Engine is OPA, as the commands that evaluate Rego use it
// (internal/engine.OPA). Only airlock-rego links it: package
// initialisation runs for everything a Go binary links, and OPA's costs a
// verifying process more than the verification (docs/BENCHMARKS.md). So
// airlock itself does not link it and starts airlock-rego for the commands
// that need it (dispatch.go), before they do anything.
type Engine interface {
	LoadPolicy(ctx context.Context, sources ...policy.Source) (policy.Engine, error)
	TestPolicy(ctx context.Context, sources ...policy.Source) ([]policy.TestResult, error)
	GrantsSigner(pemKey []byte, keyID string) (grants.Signer, error)
	BuildGrants(ctx context.Context, d grants.Decision, s grants.Signer) ([]byte, error)
	GrantsEvaluator(ctx context.Context, tarball []byte) (grants.Evaluator, error)
}

// linked is the engine this binary links: set once by airlock-rego's main
// (UseEngine) before Main, nil in airlock.
var linked Engine

// UseEngine links e into the command line. Call it before Main.
func UseEngine(e Engine) { linked = e }

// engine is the linked engine, or one that fails every call. The commands
// that call it are annotated (needsEngine) and never start in a binary
// without one; this is the fail-closed net under that rule.
func engine() Engine {
	if linked == nil {
		return noEngine{}
	}
	return linked
}

var errNoEngine = fault.Operationalf("this airlock binary does not link the policy engine (airlock-rego does)")

type noEngine struct{}

func (noEngine) LoadPolicy(context.Context, ...policy.Source) (policy.Engine, error) {
	return nil, errNoEngine
}

func (noEngine) TestPolicy(context.Context, ...policy.Source) ([]policy.TestResult, error) {
	return nil, errNoEngine
}

func (noEngine) GrantsSigner([]byte, string) (grants.Signer, error) { return nil, errNoEngine }

func (noEngine) BuildGrants(context.Context, grants.Decision, grants.Signer) ([]byte, error) {
	return nil, errNoEngine
}

func (noEngine) GrantsEvaluator(context.Context, []byte) (grants.Evaluator, error) {
	return nil, errNoEngine
}

// annotationEngine marks a command that evaluates Rego: "always", or the
// name of the flag that makes it do so (verify --policy).
const annotationEngine = "airlock.engine"

func setNeedsEngine(c *cobra.Command, when string) {
	if c.Annotations == nil {
		c.Annotations = map[string]string{}
	}
	c.Annotations[annotationEngine] = when
}

// needsEngine says whether c, with the flags it was given, evaluates Rego.
// A group's annotation covers its subcommands.
func needsEngine(c *cobra.Command) bool {
	for p := c; p != nil; p = p.Parent() {
		switch when := p.Annotations[annotationEngine]; when {
		case "":
		case "always":
			return true
		default:
			if f := c.Flags().Lookup(when); f != nil && f.Changed {
				return true
			}
		}
	}
	return false
}

// errDispatch is what the root's pre-run returns in a binary without the
// engine for a command that needs it: Main then runs airlock-rego.
var errDispatch = errors.New("dispatch to airlock-rego")
