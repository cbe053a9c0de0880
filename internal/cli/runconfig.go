package cli

import (
	"context"
	"io"
	"time"

	"github.com/airlock-dev/airlock/internal/actionio"
	"github.com/airlock-dev/airlock/internal/approvals"
	"github.com/airlock-dev/airlock/internal/gate"
	"github.com/airlock-dev/airlock/internal/mint"
	"github.com/airlock-dev/airlock/internal/policy"
)

// runConfig is every input of one action run, gate or check, parsed and
// validated before the first request: an error here is exit 2 (or a usage
// error) naming the input, with nothing probed, revoked, signed or written.
// After parseRun nothing reads an input again; the steps of the run close
// over this value and do not change it.
type runConfig struct {
	mode    string // modeGate or modeCheck
	gate    gate.Config
	check   gate.CheckConfig // mode check: the gate's inputs and the check's own
	attest  gate.AttestConfig
	mint    *mint.Config // nil: the workflow does not ask airlock to mint
	policy  policy.Engine
	timeout time.Duration
	ws      string // the workspace, where the run's documents go
}

// parseRun reads and validates every input of the run. Reading files named
// by inputs (the policy directory, a trusted root, a qa-credentials file)
// is part of parsing; creating the output folders is not (the steps do it).
func parseRun(ctx context.Context, runner *actionio.Runner, getenv func(string) string, stdout io.Writer) (*runConfig, error) {
	mode, err := actionMode(runner)
	if err != nil {
		return nil, err
	}
	rc := &runConfig{mode: mode}
	if mode == modeCheck {
		rc.check, rc.timeout, rc.ws, err = checkConfig(runner, getenv, stdout)
		if err != nil {
			return nil, err
		}
		rc.gate = rc.check.Config
	} else {
		rc.gate, rc.timeout, rc.ws, err = gateInputs(runner, getenv, modeGate)
		if err != nil {
			return nil, err
		}
		if err := rc.gate.Validate(); err != nil {
			return nil, err
		}
	}
	if rc.policy, err = loadPolicy(ctx, inWorkspace(getenv, runner.Input("policy")), getenv("GITHUB_WORKSPACE")); err != nil {
		return nil, err
	}
	// The check signs nothing, but a signing input it is given is still
	// parsed: a mistyped value is refused in both modes.
	if rc.attest, err = attestConfig(runner, getenv, rc.policy, mode == modeGate); err != nil {
		return nil, err
	}
	// The check mints nothing; mint inputs it is given are still checked.
	if rc.mint, err = mintConfig(runner, getenv, rc.gate); err != nil {
		return nil, err
	}
	return rc, nil
}

// checkApprovals is the approval record the check reads: the pull
// request's reviews, whatever approval-source says (it is the gate's).
func checkApprovals(req approvals.Request) approvals.Request {
	req.Source = approvals.SourcePullRequest
	return req
}
