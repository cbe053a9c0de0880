package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/airlock-dev/airlock/internal/actionio"
	"github.com/airlock-dev/airlock/internal/approvals"
	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/gate"
	"github.com/airlock-dev/airlock/internal/mint"
	"github.com/airlock-dev/airlock/internal/policy"
	"github.com/airlock-dev/airlock/internal/report"
	"github.com/airlock-dev/airlock/internal/revocation"
	"github.com/airlock-dev/airlock/policies"
)

// Input names and defaults; action.yml documents the same.
const (
	defaultAudience = "airlock"
	defaultTimeout  = 2 * time.Minute
)

var defaultAllowedRefs = []string{gate.DefaultBranchRef, "refs/tags/*"}

// gateInputs reads the gate's configuration from action inputs and runner
// variables (parseRun validates it). Only here and in actionio is the
// environment read. mode names the command in what it says outside Actions.
func gateInputs(r *actionio.Runner, getenv func(string) string, mode string) (gate.Config, time.Duration, string, error) {
	cfg := gate.Config{
		Environment:        orDefault(r.Input("environment"), "production"),
		Workflow:           r.Input("workflow"),
		RepositoryID:       r.Input("repository-id"),
		QAManifest:         r.Input("qa-manifest"),
		ProductionManifest: r.Input("production-manifest"),
		Promotion:          orDefault(r.Input("promotion"), "promote"),
		Audience:           orDefault(r.Input("audience"), defaultAudience),
		Issuer:             orDefault(r.Input("oidc-issuer"), gate.DefaultIssuer),
		TokenRequestURL:    getenv("ACTIONS_ID_TOKEN_REQUEST_URL"),
		TokenRequestToken:  getenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN"),
		APIURL:             orDefault(getenv("GITHUB_API_URL"), "https://api.github.com"),
		GitHubToken:        r.Secret("github-token"),
		Hints:              map[string]string{},
	}
	r.Mask(cfg.TokenRequestToken)
	for _, v := range gate.HintVariables() {
		cfg.Hints[v] = getenv(v)
	}
	var err error
	if cfg.AllowSelfHosted, err = boolInput(r, "allow-self-hosted", false); err != nil {
		return cfg, 0, "", err
	}
	cfg.AllowedRefs = listInput(r.Input("allowed-refs"))
	if len(cfg.AllowedRefs) == 0 {
		cfg.AllowedRefs = defaultAllowedRefs
	}
	if cfg.RepositoryID != "" {
		if _, err := strconv.ParseUint(cfg.RepositoryID, 10, 64); err != nil {
			return cfg, 0, "", fault.Configf("input repository-id: %q is not a numeric repository id", cfg.RepositoryID)
		}
	}
	if cfg.QACredentials, err = qaCredentials(r, getenv); err != nil {
		return cfg, 0, "", err
	}
	if v := r.Input("production-identity"); v != "" {
		if cfg.ProductionIdentity, err = revocation.ParseProductionIdentity("production-identity", []byte(v)); err != nil {
			return cfg, 0, "", err
		}
	}
	if cfg.Approvals, err = approvalsInputs(r); err != nil {
		return cfg, 0, "", err
	}
	timeout := defaultTimeout
	if t := r.Input("timeout"); t != "" {
		if timeout, err = time.ParseDuration(t); err != nil || timeout <= 0 || timeout > 30*time.Minute {
			return cfg, 0, "", fault.Configf("input timeout: %q is not a duration between 0 and 30m", t)
		}
	}
	for _, v := range []string{"GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"} {
		if getenv(v) == "" {
			return cfg, 0, "", fault.Usagef("%s is not set: `airlock %s` runs as a GitHub Actions step (see `airlock %s --help` for what it reads, `airlock demo` to try it locally)", v, mode, mode)
		}
	}
	ws, err := workspaceDir(getenv)
	if err != nil {
		return cfg, 0, "", err
	}
	return cfg, timeout, ws, nil
}

// approvalsInputs reads what C4 asks of the approval record.
func approvalsInputs(r *actionio.Runner) (approvals.Request, error) {
	req := approvals.Request{Source: approvals.SourceRun, MinApprovals: approvals.DefaultMinApprovals, MaxAge: approvals.DefaultMaxAge}
	var err error
	if req.Groups, err = approvals.ParseApprovers(r.Input("approvers")); err != nil {
		return req, fault.Configf("input %w", err)
	}
	if v := r.Input("min-approvals"); v != "" {
		if req.MinApprovals, err = strconv.Atoi(v); err != nil {
			return req, fault.Configf("input min-approvals: %q is not a whole number", v)
		}
	}
	if v := r.Input("max-approval-age"); v != "" {
		if req.MaxAge, err = time.ParseDuration(v); err != nil {
			return req, fault.Configf("input max-approval-age: %q is not a duration (e.g. 24h)", v)
		}
	}
	switch v := r.Input("approval-source"); v {
	case "", "run":
	case "pull-request":
		req.Source = approvals.SourcePullRequest
	default:
		return req, fault.Configf("input approval-source: %q: expected run or pull-request", v)
	}
	return req, nil
}

func newGateCmd(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "gate",
		Short: "run the promotion gate (the action; reads INPUT_* and the runner's variables)",
		Long: `Runs the promotion gate as a step of a GitHub Actions deployment job: verifies the job's OIDC
token, reads the run, its approvals and the manifests through the API, probes the QA credentials,
evaluates the Rego policy, signs the decision and writes outputs, summary and documents to the
workspace. It takes no flags: its configuration is the action's inputs, which the runner passes
as INPUT_* environment variables (listed below). Every input is parsed before the first request.
Outside Actions, try ` + "`airlock demo`" + ` (an in-process GitHub) or check a repository with ` + "`airlock doctor`" + `.`,
		Example: `  # in a workflow (the action runs this command):
  - uses: airlock-dev/airlock@<full commit SHA>
    with:
      environment: production
      approvers: acme/release
      qa-credentials: none`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runActionMode(c.Context(), "", e.getenv, e.stdio)
		},
	}
	c.Annotations = map[string]string{annotationInputs: modeGate}
	setExitCodes(c,
		"0  allow (signed, and minted if asked)",
		"1  deny (the reasons are in the outputs, the summary and the log)",
		"2  an input or runner variable is missing or malformed, or the policy does not load",
		"3  airlock could not decide, or decided but could not sign or publish")
	return c
}

// runActionMode parses every input of the run, then runs the gate or the check
// (the action's `mode`, unless the command names one) as one pipeline.
func runActionMode(ctx context.Context, mode string, getenv func(string) string, stdio Stdio) error {
	runner := actionio.New(getenv, stdio.Out)
	if mode != "" {
		runner = actionio.New(func(k string) string {
			if k == "INPUT_MODE" {
				return mode
			}
			return getenv(k)
		}, stdio.Out)
	}
	rc, err := parseRun(ctx, runner, getenv, stdio.Out)
	if err == nil {
		ctx, cancel := context.WithTimeout(ctx, rc.timeout)
		defer cancel()
		if rc.mode == modeCheck {
			err = checkMain(ctx, runner, rc, getenv, stdio)
		} else {
			err = gateMain(ctx, runner, rc, stdio)
		}
	}
	if err != nil && exitCode(err) != ExitDeny {
		what := "airlock could not decide"
		if mode == modeCheck || runner.Input("mode") == modeCheck {
			what = "airlock could not check the promotion"
		}
		runner.Error(what, err.Error())
	}
	return err
}

const (
	modeGate  = "gate"
	modeCheck = "check"
)

// actionMode reads the mode input: the action's one entry point (`gate`)
// serves both the deployment gate and the pull-request check.
func actionMode(r *actionio.Runner) (string, error) {
	switch mode := r.Input("mode"); mode {
	case "", modeGate:
		return modeGate, nil
	case modeCheck:
		return modeCheck, nil
	default:
		return "", fault.Usagef("input mode: %q: expected gate or check", mode)
	}
}

// gateState is the gate's pipeline state: the decision, then what signing
// and publishing made of it.
type gateState struct {
	res     *gate.Result
	cred    *mint.Credential // the minted production credential (a secret)
	revoked *mint.RevocationResult
	signed  *gate.Signed
	att     *gate.Attestation
}

// gateMain runs the gate's pipeline: decide → mint → sign → publish → emit.
func gateMain(ctx context.Context, runner *actionio.Runner, rc *runConfig, stdio Stdio) error {
	hc := httpClient()
	// Kept-alive connections end with the run, not with the process.
	defer hc.CloseIdleConnections()
	deps := gate.Deps{HTTPClient: hc, Now: time.Now, Policy: rc.policy, Mask: runner.Mask}
	adeps := gate.AttestDeps{HTTPClient: hc, Now: time.Now, Mask: runner.Mask}
	ac := rc.attest
	return gate.Execute(ctx, gate.Steps[*gateState]{
		Decide: func(ctx context.Context) (*gateState, error) {
			res, err := gate.Decide(ctx, rc.gate, deps)
			return &gateState{res: res}, err
		},
		Verdict: func(r *gateState) error {
			if r.res.Decision.Allow {
				return nil
			}
			return denied(fmt.Sprintf("promotion denied: %d reason(s)", len(r.res.Decision.Reasons)))
		},
		Mint: mintStep(runner, rc, hc),
		Sign: func(ctx context.Context, r *gateState) (*gateState, error) {
			if ac.Signer == gate.SignerNone {
				return r, nil
			}
			dir, err := newRunDir(rc.ws, "attest-")
			if err != nil {
				return r, err
			}
			ac := ac
			ac.OutDir = dir
			r.signed, err = gate.Sign(ctx, rc.gate, ac, r.res, adeps)
			return r, err
		},
		Publish: func(ctx context.Context, r *gateState) (*gateState, error) {
			if r.signed == nil {
				return r, nil
			}
			var err error
			r.att, err = gate.Publish(ctx, rc.gate, ac, r.res, r.signed, adeps)
			return r, err
		},
		Emit: func(r *gateState, after error) error {
			outs, summary := attestOutputs(runner, rc.ws, ac, r.att, after)
			mouts, msummary, err := mintOutputs(r)
			if err != nil {
				return err
			}
			return emit(runner, r.res, rc.ws, stdio, msummary+summary, append(mouts, outs...)...)
		},
	})
}

// emit writes the decision everywhere a workflow or a person reads it; the
// pipeline turns the decision into the exit code.
func emit(runner *actionio.Runner, res *gate.Result, ws string, stdio Stdio, attestSummary string, extra ...actionio.Output) error {
	dir, err := newRunDir(ws, "gate-")
	if err != nil {
		return err
	}
	evidencePath := filepath.Join(dir, "evidence.json")
	decisionPath := filepath.Join(dir, "decision.json")
	if err := writeJSON(evidencePath, res.Evidence); err != nil {
		return err
	}
	if err := writeJSON(decisionPath, res.Decision); err != nil {
		return err
	}
	reasons, err := json.Marshal(res.Decision.Reasons)
	if err != nil {
		return fault.Operationalf("encode reasons: %w", err)
	}
	if err := runner.SetOutputs(append([]actionio.Output{
		{Name: "decision", Value: res.Decision.Verdict()},
		{Name: "reasons", Value: string(reasons)},
		{Name: "evidence-path", Value: workspaceRel(ws, evidencePath)},
		{Name: "decision-path", Value: workspaceRel(ws, decisionPath)},
		{Name: "policy-digest", Value: res.Decision.PolicyDigest},
	}, extra...)...); err != nil {
		return err
	}
	var summary strings.Builder
	if err := report.Markdown(&summary, res); err != nil {
		return fault.Operationalf("render step summary: %w", err)
	}
	summary.WriteString(attestSummary)
	if err := runner.AppendSummary(summary.String()); err != nil {
		return err
	}
	for _, r := range res.Decision.Reasons {
		runner.Error("airlock "+r.Control, r.Message)
	}
	for _, r := range res.Decision.Warnings {
		runner.Warning("airlock "+r.Control, r.Message)
	}
	if err := report.Terminal(stdio.Err, res); err != nil {
		return fault.Operationalf("render report: %w", err)
	}
	return nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fault.Operationalf("encode %s: %w", filepath.Base(path), err)
	}
	// World-readable: no document airlock writes holds a secret, and a later
	// step runs as the runner's user, not as the container's root.
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fault.Operationalf("write %s: %w", path, err)
	}
	return nil
}

// loadPolicy compiles the embedded defaults plus the user's directory. A
// directory with its own main.rego is a complete policy set and replaces the
// defaults. workspace is GITHUB_WORKSPACE for the action's commands and ""
// for the others (see policy.DirSource: how files are named in the digest).
func loadPolicy(ctx context.Context, dir, workspace string) (policy.Engine, error) {
	srcs, err := policySources(dir, workspace)
	if err != nil {
		return nil, err
	}
	return engine().LoadPolicy(ctx, srcs...)
}

func policySources(dir, workspace string) ([]policy.Source, error) {
	def := policy.Source{Name: "policies", FS: policies.FS}
	if dir == "" {
		return []policy.Source{def}, nil
	}
	user, err := policy.DirSource(dir, workspace)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "main.rego")); err == nil {
		return []policy.Source{user}, nil
	}
	return []policy.Source{def, user}, nil
}

// qaCredentials reads the qa-credentials input: "none", an inline YAML list,
// or the path of a YAML file in the workspace. The YAML names environment
// variables; their secret values are resolved (and masked) here, at the edge.
func qaCredentials(r *actionio.Runner, getenv func(string) string) (*revocation.Declaration, error) {
	v := r.Input("qa-credentials")
	if v == "" {
		return nil, nil
	}
	name, data := "qa-credentials", []byte(v)
	if credentialsFileInput(v) {
		p := v
		b, err := os.ReadFile(inWorkspace(getenv, p))
		if err != nil {
			return nil, fault.Configf("input qa-credentials: %w", err)
		}
		name, data = v, b
	}
	d, err := revocation.ParseCredentials(name, data)
	if err != nil {
		return nil, err
	}
	d, err = d.Resolve(getenv, r.Mask)
	if err != nil {
		return nil, err
	}
	return &d, nil
}

// credentialsFileInput reports whether the qa-credentials input names a
// file rather than holding YAML (or none).
func credentialsFileInput(v string) bool {
	return v != "" && v != "none" && !strings.ContainsAny(v, "\n[{:")
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// listInput splits a multi-line or comma-separated input, dropping blanks.
func listInput(v string) []string {
	var out []string
	for _, line := range strings.Split(v, "\n") {
		for _, item := range strings.Split(line, ",") {
			if item = strings.TrimSpace(item); item != "" {
				out = append(out, item)
			}
		}
	}
	return out
}

// boolInput accepts only the YAML 1.2 core booleans GitHub documents; anything
// else is an error rather than a silent false.
func boolInput(r *actionio.Runner, name string, def bool) (bool, error) {
	switch v := r.Input(name); v {
	case "":
		return def, nil
	case "true", "True", "TRUE":
		return true, nil
	case "false", "False", "FALSE":
		return false, nil
	default:
		return false, fault.Configf("input %s: %q is not true or false", name, v)
	}
}
