package cli

import (
	"context"
	_ "embed"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/githubsim"
)

// The demo's agent: manifests as they ran in QA and as they are to run in
// production. Scenarios derive changed production manifests from them.
var (
	//go:embed demodata/qa.yaml
	demoQA string
	//go:embed demodata/production.yaml
	demoProduction string
)

// demoParams lets the demo agent's scopes through: the default policy allows
// no scope at all, since airlock cannot know an organisation's scope names.
const demoParams = `{"allowed_scopes": {"internal": ["kb:read", "tickets:read", "tickets:write"]}}`

// demoScenario is one gate run of the demo, with the outcome it must have.
type demoScenario struct {
	title  string
	want   int
	claims func(map[string]any)
	inputs map[string]string
	// production edits the production manifest; nil runs without manifests.
	production func(string) string
	// qaTokenAlive leaves the QA deployment token valid at its issuer.
	qaTokenAlive bool
	// setup changes the simulated GitHub before the run (optional).
	setup func(sim *githubsim.Server)
	// showMint prints the minted production credential from the summary.
	showMint bool
}

// demoQAToken is the QA deployment token the demo declares in qa-credentials;
// the in-process GitHub is its issuer.
const demoQAToken = "ghs_demoQAdeployToken000000000000000000"

// demoApprovers is who may approve a promotion in the demo: one release
// manager by name, or any member of the release team.
const demoApprovers = githubsim.DefaultApprover + ", acme/" + githubsim.DefaultTeam

// runDemo plays a GitHub Actions runner against an in-process GitHub: it
// writes the same variables and files a runner would, runs the gate exactly
// as the action does, and shows each decision. It needs no network and no
// setup, and fails if a decision is not the one the scenario expects.
func newDemoCmd(e *env) *cobra.Command {
	var keep bool
	var out string
	c := &cobra.Command{
		Use:   "demo",
		Short: "run the gate against an in-process GitHub: five denies, then an allow",
		Long: `Plays a GitHub Actions runner against an in-process GitHub, issuer and signing services: writes
the variables and files a runner would, runs the gate exactly as the action does, and shows each
decision — five denies (wrong environment and ref, a changed agent, an escalation, a live QA
credential, a self-approval), then an allow that is signed, verified, exported as grants, minted
and revoked. Needs no network and no setup; fails if a decision is not the one expected.`,
		Example: `  airlock demo
  airlock demo --keep=false
  airlock demo --out ./attestation     # then: airlock verify as the demo prints`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runDemo(c.Context(), keep, out, e.stdio)
		},
	}
	c.Flags().BoolVar(&keep, "keep", true, "keep the runner files in the temporary directory (--keep=false removes them)")
	c.Flags().StringVar(&out, "out", "", "write the signed allow decision, its trusted root and its subject to `DIR` (default: attestation/ in the temporary directory)")
	setExitCodes(c,
		"0  every scenario decided as expected",
		"1  a scenario decided otherwise",
		"2  usage",
		"3  the in-process services could not start")
	return c
}

func runDemo(ctx context.Context, keepFiles bool, outDir string, stdio Stdio) error {
	keep, out := &keepFiles, &outDir
	sim, err := githubsim.New()
	if err != nil {
		return fault.Operationalf("demo: start the in-process GitHub: %w", err)
	}
	defer sim.Close()
	const owner, repo = "acme", "support-agent"
	sim.Seed(owner, repo)
	// Runs other than the seeded one, which release-manager approved.
	selfRunID := githubsim.DefaultRunID(owner, repo) + 1
	unapprovedRunID := githubsim.DefaultRunID(owner, repo) + 2

	root, err := os.MkdirTemp("", "airlock-demo-")
	if err != nil {
		return fault.Operationalf("demo: %w", err)
	}
	if !*keep {
		defer os.RemoveAll(root)
	}
	fmt.Fprintf(stdio.Out, "airlock demo: an in-process GitHub at %s plays the runner's world; runner files under %s\n", sim.URL(), root)
	policyDir := filepath.Join(root, "policy")
	if err := os.MkdirAll(filepath.Join(policyDir, "params"), 0o700); err != nil {
		return fault.Operationalf("demo: %w", err)
	}
	if err := os.WriteFile(filepath.Join(policyDir, "params", "agent.json"), []byte(demoParams), 0o600); err != nil {
		return fault.Operationalf("demo: %w", err)
	}
	fmt.Fprintf(stdio.Out, "policy: the embedded defaults plus %s (allowed scopes for the demo agent)\n", filepath.Join(policyDir, "params", "agent.json"))
	signing, err := startDemoSigstore(sim, root) // demo_attest.go
	if err != nil {
		return err
	}
	defer signing.Close()
	issuer, mintInputs, err := startDemoIssuer(sim, owner, repo) // demo_mint.go
	if err != nil {
		return err
	}
	defer issuer.Close()

	scenarios := []demoScenario{
		{
			title: "a job in environment \"staging\" on branch feature/fast-track asks to promote to production",
			want:  ExitDeny,
			claims: func(c map[string]any) {
				c["environment"] = "staging"
				c["ref"] = "refs/heads/feature/fast-track"
				c["sub"] = "repo:acme/support-agent:environment:staging"
			},
		},
		{
			title: "the right job, but production runs a newer model version than the one QA tested, and nobody has re-attested it",
			want:  ExitDeny,
			claims: func(c map[string]any) {
				c["run_id"] = strconv.FormatInt(unapprovedRunID, 10)
			},
			production: func(m string) string { return strings.Replace(m, `version: "2025-05-14"`, `version: "2025-09-29"`, 1) },
		},
		{
			title:      "the right job, but production switches the zendesk integration from stubbed to live",
			want:       ExitDeny,
			claims:     func(map[string]any) {},
			production: func(m string) string { return strings.Replace(m, "mode: stubbed", "mode: live", 1) },
		},
		{
			title:        "the right job and agent, but the QA deployment token still works at its issuer",
			want:         ExitDeny,
			claims:       func(map[string]any) {},
			production:   func(m string) string { return m },
			qaTokenAlive: true,
		},
		{
			title: "the developer who started the run approves it themselves (the environment allows self-review)",
			want:  ExitDeny,
			claims: func(c map[string]any) {
				c["run_id"] = strconv.FormatInt(selfRunID, 10)
			},
			production: func(m string) string { return m },
			setup: func(sim *githubsim.Server) {
				env := githubsim.DefaultProductionEnvironment(owner)
				env.PreventSelfReview = false
				sim.SetEnvironment(owner, repo, env)
				sim.AddRunApproval(owner, repo, selfRunID, githubsim.Approval{
					State: "approved", Comment: "my own change, looks fine to me",
					User:         githubsim.User{Login: githubsim.DefaultActor, ID: githubsim.DefaultActorID},
					Environments: []string{githubsim.DefaultEnvironment},
				})
			},
		},
		{
			title:      "the release manager, a named approver, approves; workflow pinned, default branch, agent unchanged but for its identity, QA token revoked",
			want:       ExitAllow,
			claims:     func(map[string]any) {},
			inputs:     withWorkflow(mintInputs, "acme/support-agent/.github/workflows/promote.yml"),
			production: func(m string) string { return m },
			showMint:   true,
			setup: func(sim *githubsim.Server) {
				sim.SetEnvironment(owner, repo, githubsim.DefaultProductionEnvironment(owner))
			},
		},
	}
	for i, sc := range scenarios {
		if sc.inputs == nil {
			sc.inputs = map[string]string{}
		}
		sc.inputs["policy"] = policyDir
		maps.Copy(sc.inputs, signing.inputs())
		if err := runDemoScenario(ctx, sim, root, i+1, sc, stdio); err != nil {
			return err
		}
	}
	if *out == "" {
		*out = filepath.Join(root, "attestation")
	}
	// What `airlock policy digest` computes from the policy directory, as an
	// auditor would: the printed verify command pins it.
	engine, err := loadPolicy(ctx, policyDir, "")
	if err != nil {
		return err
	}
	if err := signing.export(sim, *out, engine.Digest(), stdio); err != nil {
		return err
	}
	if err := demoGrants(ctx, sim, *out, signing.subject.Name, stdio); err != nil { // demo_grants.go
		return err
	}
	if err := demoRevoke(ctx, sim, signing, root, stdio); err != nil { // demo_revoke.go
		return err
	}
	if err := demoServe(ctx, sim, signing, root, engine.Digest(), len(scenarios)+1, scenarios[len(scenarios)-1], stdio); err != nil { // demo_serve.go
		return err
	}
	fmt.Fprintf(stdio.Out, "\ndemo: all %d decisions were the expected ones (%d denied, then an allow, then that allow revoked), and airlock serve held production until the gate allowed\n", len(scenarios), len(scenarios)-1)
	return nil
}

func runDemoScenario(ctx context.Context, sim *githubsim.Server, root string, n int, sc demoScenario, stdio Stdio) error {
	claims := githubsim.DefaultRunClaims("acme", "support-agent")
	claims["job_workflow_ref"] = "acme/support-agent/.github/workflows/promote.yml@refs/heads/main"
	claims["workflow_ref"] = claims["job_workflow_ref"]
	sc.claims(claims)
	if sc.setup != nil {
		sc.setup(sim)
	}
	sim.SetRunClaims(claims)
	if sc.qaTokenAlive {
		sim.AddToken(demoQAToken, "contents:read")
	} else {
		sim.RemoveToken(demoQAToken)
	}
	if sc.production != nil {
		sha := fmt.Sprint(claims["sha"])
		sim.SetFile("acme", "support-agent", sha, "agent/qa.yaml", []byte(demoQA))
		sim.SetFile("acme", "support-agent", sha, "agent/production.yaml", []byte(sc.production(demoProduction)))
		sc.inputs["qa-manifest"] = "agent/qa.yaml"
		sc.inputs["production-manifest"] = "agent/production.yaml"
	}

	dir := filepath.Join(root, fmt.Sprintf("run-%d", n))
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o700); err != nil {
		return fault.Operationalf("demo: %w", err)
	}
	env := map[string]string{
		"GITHUB_ACTIONS":                 "true",
		"ACTIONS_ID_TOKEN_REQUEST_URL":   sim.TokenRequestURL(),
		"ACTIONS_ID_TOKEN_REQUEST_TOKEN": sim.TokenRequestToken(),
		"GITHUB_API_URL":                 sim.APIURL(),
		"GITHUB_OUTPUT":                  filepath.Join(dir, "github_output"),
		"GITHUB_STEP_SUMMARY":            filepath.Join(dir, "step_summary.md"),
		"RUNNER_TEMP":                    filepath.Join(dir, "tmp"),
		"GITHUB_WORKSPACE":               dir,
		"GITHUB_REPOSITORY":              fmt.Sprint(claims["repository"]),
		"GITHUB_SHA":                     fmt.Sprint(claims["sha"]),
		"GITHUB_REF":                     fmt.Sprint(claims["ref"]),
		"GITHUB_RUN_ID":                  fmt.Sprint(claims["run_id"]),
		"INPUT_ENVIRONMENT":              "production",
		"INPUT_OIDC-ISSUER":              sim.IssuerURL(),
		"INPUT_GITHUB-TOKEN":             sim.JobToken(),
		"QA_DEPLOY_TOKEN":                demoQAToken,
		"INPUT_QA-CREDENTIALS":           "- name: qa-deploy-token\n  kind: github-token\n  token-env: QA_DEPLOY_TOKEN\n  api-url: " + sim.APIURL() + "\n  declared-subject: agent:support-agent:qa\n",
		"INPUT_PRODUCTION-IDENTITY":      "issuer: https://idp.example.com\nsubject: agent:support-agent:prod\nclient-id: support-agent-prod",
		"INPUT_APPROVERS":                demoApprovers,
		"INPUT_SIGNER":                   "none",
		demoMintSecretEnv:                demoMintSecret,
	}
	for k, v := range sc.inputs {
		env["INPUT_"+strings.ToUpper(k)] = v
	}
	log, err := os.Create(filepath.Join(dir, "runner-stdout.log"))
	if err != nil {
		return fault.Operationalf("demo: %w", err)
	}
	defer log.Close()

	fmt.Fprintf(stdio.Out, "\n── run %d: %s\n", n, sc.title)
	var report strings.Builder
	err = runActionMode(ctx, "", func(k string) string { return env[k] }, Stdio{In: strings.NewReader(""), Out: log, Err: &report})
	got := exitCode(err)
	io.WriteString(stdio.Out, indent(report.String()))
	fmt.Fprintf(stdio.Out, "exit code %d · step summary %s · outputs %s\n", got, env["GITHUB_STEP_SUMMARY"], env["GITHUB_OUTPUT"])
	if got != sc.want {
		return fault.Operationalf("demo run %d: exit code %d, expected %d: %v", n, got, sc.want, err)
	}
	if sc.showMint {
		return showMinted(env["GITHUB_STEP_SUMMARY"], stdio)
	}
	return nil
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "  " + l
	}
	return strings.Join(lines, "\n") + "\n"
}
