package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/airlock-dev/airlock/internal/actionio"
	"github.com/airlock-dev/airlock/internal/checkrun"
	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/gate"
	"github.com/airlock-dev/airlock/internal/ghapi"
	"github.com/airlock-dev/airlock/internal/report"
	"github.com/airlock-dev/airlock/internal/revocation"
)

// maxEventPayload caps the event payload read for hints.
const maxEventPayload = 8 << 20

// checkConfig reads `airlock check`'s configuration: the gate's inputs, and
// manifest-paths. A qa-credentials file is not read from the workspace but
// at the pull request's head through the API (gate.Check), so that findings
// point at its lines in the commit the check run annotates; its secrets
// still come from the environment, here.
func checkConfig(runner *actionio.Runner, getenv func(string) string, stdout io.Writer) (gate.CheckConfig, time.Duration, string, error) {
	var cc gate.CheckConfig
	creds := runner.Input("qa-credentials")
	// The gate's inputs without qa-credentials when it names a file, which
	// the gate would read from the workspace.
	view := runner
	if credentialsFileInput(creds) {
		view = actionio.New(func(k string) string {
			if k == "INPUT_QA-CREDENTIALS" {
				return ""
			}
			return getenv(k)
		}, stdout)
	}
	cfg, timeout, outDir, err := gateInputs(view, getenv, modeCheck)
	cc.Config = cfg
	if err != nil {
		return cc, 0, "", err
	}
	cc.Approvals = checkApprovals(cc.Approvals)
	if credentialsFileInput(creds) {
		p := path.Clean(filepath.ToSlash(creds))
		if path.IsAbs(p) || strings.HasPrefix(p, "../") || p == ".." {
			return cc, 0, "", fault.Configf("input qa-credentials: %q: airlock check reads the file at the pull request's head, so it must be a path in the repository", creds)
		}
		cc.QACredentialsPath = p
		cc.ResolveCredentials = func(d revocation.Declaration) (revocation.Declaration, error) {
			return d.Resolve(getenv, runner.Mask)
		}
	}
	cc.ManifestPaths = listInput(runner.Input("manifest-paths"))
	cc.Event = eventHint(getenv("GITHUB_EVENT_PATH"))
	return cc, timeout, outDir, cc.Validate()
}

// eventHint reads the pull request's number and head from the event
// payload. It is a hint, compared with what was verified; an unreadable
// payload gives no hint.
func eventHint(p string) gate.PullRequestHint {
	if p == "" {
		return gate.PullRequestHint{}
	}
	f, err := os.Open(p)
	if err != nil {
		return gate.PullRequestHint{}
	}
	defer f.Close()
	var ev struct {
		PullRequest struct {
			Number int `json:"number"`
			Head   struct {
				SHA string `json:"sha"`
			} `json:"head"`
		} `json:"pull_request"`
	}
	if err := json.NewDecoder(io.LimitReader(f, maxEventPayload)).Decode(&ev); err != nil {
		return gate.PullRequestHint{}
	}
	return gate.PullRequestHint{Number: ev.PullRequest.Number, HeadSHA: ev.PullRequest.Head.SHA}
}

func newCheckCmd(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "check",
		Short: "the required status check on a promotion pull request (the action's mode: check)",
		Long: `Runs as a step of a workflow on pull_request and pull_request_review events: evaluates the pull
request as it would be at merge, signs nothing, and publishes one check run "airlock / promotion"
on its head commit (without checks: write, the commit status "airlock/promotion"). A pull request
that touches none of manifest-paths gets an explicit success "not a promotion". Like ` + "`gate`" + ` it takes
no flags: its configuration is the action's inputs, passed as INPUT_* environment variables.`,
		Example: `  # in a workflow on pull_request and pull_request_review (see docs/examples/promotion-check.yml):
  - uses: airlock-dev/airlock@<full commit SHA>
    with:
      mode: check
      manifest-paths: agent/`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runActionMode(c.Context(), modeCheck, e.getenv, e.stdio)
		},
	}
	c.Annotations = map[string]string{annotationInputs: modeCheck}
	setExitCodes(c,
		"0  success or not a promotion, and published",
		"1  failure or action_required (approval missing); a token that does not verify publishes nothing",
		"2  an input or runner variable is missing or malformed, or the policy does not load",
		"3  the result could not be published, or airlock could not decide")
	return c
}

// checkState is the check's pipeline state.
type checkState struct {
	res  *gate.CheckResult
	body *checkrun.Body
	pub  *checkrun.Published
}

// checkMain runs the check's pipeline: decide → publish (the check run) →
// emit. Nothing is minted or signed.
func checkMain(ctx context.Context, runner *actionio.Runner, rc *runConfig, getenv func(string) string, stdio Stdio) error {
	started := time.Now()
	cfg := rc.check
	hc := httpClient()
	defer hc.CloseIdleConnections()
	server := strings.TrimRight(orDefault(getenv("GITHUB_SERVER_URL"), "https://github.com"), "/")
	return gate.Execute(ctx, gate.Steps[*checkState]{
		Decide: func(ctx context.Context) (*checkState, error) {
			res, err := gate.DecideCheck(ctx, cfg, gate.Deps{HTTPClient: hc, Now: time.Now, Policy: rc.policy, Mask: runner.Mask})
			if err != nil {
				return nil, err
			}
			paths := cfg.ManifestPaths
			if len(paths) == 0 {
				paths = []string{cfg.ProductionManifest}
			}
			body, err := checkrun.Build(res, paths)
			if err != nil {
				return nil, fault.Operational(err)
			}
			return &checkState{res: res, body: body}, nil
		},
		Verdict: func(r *checkState) error {
			if r.body.Conclusion != ghapi.ConclusionSuccess {
				return denied(fmt.Sprintf("promotion check %s: %s", r.body.Conclusion, r.body.Title))
			}
			return nil
		},
		Publish: func(ctx context.Context, r *checkState) (*checkState, error) {
			// Not published is never a pass, whatever the decision was.
			gh, err := ghapi.New(cfg.APIURL, cfg.GitHubToken, hc)
			if err != nil {
				return r, err
			}
			owner, repo, _ := strings.Cut(r.res.Repository, "/")
			r.pub, err = checkrun.Publish(ctx, gh, checkrun.Target{
				Owner: owner, Repo: repo, HeadSHA: r.res.PullRequest.HeadSHA,
				DetailsURL: fmt.Sprintf("%s/%s/actions/runs/%s", server, r.res.Repository, r.res.Claims.RunID),
				ExternalID: r.res.Claims.RunID + "/" + r.res.Claims.RunAttempt,
				StartedAt:  started, Now: time.Now,
			}, r.body)
			return r, err
		},
		Emit: func(r *checkState, _ error) error {
			return emitCheck(runner, r.res, r.body, r.pub, rc.ws, stdio)
		},
	})
}

// emitCheck writes what the workflow and people read: outputs, the step
// summary (the check run's summary) and the terminal report.
func emitCheck(runner *actionio.Runner, res *gate.CheckResult, body *checkrun.Body, pub *checkrun.Published, outDir string, stdio Stdio) error {
	outs := []actionio.Output{
		{Name: "conclusion", Value: body.Conclusion},
		{Name: "promotion", Value: fmt.Sprint(res.Promotion)},
		{Name: "pull-request", Value: fmt.Sprint(res.PullRequest.Number)},
		{Name: "head-sha", Value: res.PullRequest.HeadSHA},
	}
	where := ""
	if pub != nil {
		if pub.CheckRunID > 0 {
			outs = append(outs, actionio.Output{Name: "check-run-id", Value: fmt.Sprint(pub.CheckRunID)}, actionio.Output{Name: "check-run-url", Value: pub.URL})
			verb := "Created"
			if pub.Updated {
				verb = "Updated"
			}
			where = fmt.Sprintf("\n%s check run `%s` on `%s`.\n", verb, checkrun.Name, res.PullRequest.HeadSHA)
		} else {
			outs = append(outs, actionio.Output{Name: "commit-status", Value: pub.StatusState})
			where = fmt.Sprintf("\nPublished commit status `%s` (%s) on `%s`: %s.\n", checkrun.StatusContext, pub.StatusState, res.PullRequest.HeadSHA, pub.Fallback)
			runner.Warning("airlock check", pub.Fallback)
		}
	}
	if res.Promotion {
		dir, err := newRunDir(outDir, "check-")
		if err != nil {
			return err
		}
		evidencePath, decisionPath := filepath.Join(dir, "evidence.json"), filepath.Join(dir, "decision.json")
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
		outs = append(outs,
			actionio.Output{Name: "decision", Value: res.Decision.Verdict()},
			actionio.Output{Name: "reasons", Value: string(reasons)},
			actionio.Output{Name: "evidence-path", Value: workspaceRel(outDir, evidencePath)},
			actionio.Output{Name: "decision-path", Value: workspaceRel(outDir, decisionPath)},
			actionio.Output{Name: "policy-digest", Value: res.Decision.PolicyDigest},
		)
	}
	if err := runner.SetOutputs(outs...); err != nil {
		return err
	}
	if err := runner.AppendSummary(body.Summary + where); err != nil {
		return err
	}
	if !res.Promotion {
		fmt.Fprintf(stdio.Err, "not a promotion: pull request #%d changes no promotion file\n", res.PullRequest.Number)
		return nil
	}
	for _, r := range res.Decision.Reasons {
		runner.Error("airlock "+r.Control, r.Message)
	}
	for _, r := range res.Decision.Warnings {
		runner.Warning("airlock "+r.Control, r.Message)
	}
	fmt.Fprintf(stdio.Err, "check %s: %s\n", body.Conclusion, body.Title)
	if err := report.Terminal(stdio.Err, &res.Result); err != nil {
		return fault.Operationalf("render report: %w", err)
	}
	return nil
}
