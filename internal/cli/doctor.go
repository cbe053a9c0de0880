package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/airlock-dev/airlock/internal/doctor"
	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/ghapi"
)

const doctorLong = `Checks, before the first promotion, what the gate would deny because of how the repository is set
up, and prints a checklist. Each item is "pass", "will deny" (with the reason the gate would give,
worded as the gate words it, and the setting to change), "cannot tell" (what could not be read:
for a 403 the permission the token lacks) or "warn" (allowed, but weaker than it should be).

It reads, through the API, the target environment's protection settings (required reviewers,
prevent self-review, administrator bypass, deployment branches) and its custom protection rules;
from the promotion workflow (--workflow, else the first file in .github/workflows/ that runs the
airlock action), the job's environment, permissions: id-token: write, whether the action is pinned
by a full commit SHA, and the approvers, qa-credentials and production-identity inputs; and the
policy directory (--policy, else the workflow's policy input): that it loads as strictly as the
gate loads it, and that params.agent.allowed_scopes (empty by default) allows the production
manifest's scopes.

The token is read from the environment variable --token-env names (default GITHUB_TOKEN); it is
never printed. Reading the environment needs actions: read (fine-grained) or repo (classic).`

const doctorExample = `  GITHUB_TOKEN=$(gh auth token) airlock doctor --repo acme/agent --environment production
  airlock doctor --repo acme/agent --environment production \
    --workflow .github/workflows/promote.yml --policy policy/ --output json`

// doctorFlags are the flags of `airlock doctor`.
type doctorFlags struct {
	repo, environment, policyDir, workflow, repoDir, tokenEnv, apiURL, format string
	timeout                                                                   time.Duration
}

func newDoctorCmd(e *env) *cobra.Command {
	f := &doctorFlags{}
	c := &cobra.Command{
		Use:     "doctor --repo OWNER/REPO [--environment NAME] [--policy DIR] [--workflow FILE]",
		Short:   "list what the gate would deny before the first promotion: environment, workflow, policy",
		Long:    doctorLong,
		Example: doctorExample,
		Args:    noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runDoctor(c.Context(), f, e.getenv, e.stdio)
		},
	}
	c.DisableFlagsInUseLine = true
	fs := c.Flags()
	fs.StringVar(&f.repo, "repo", "", "the repository `OWNER/REPO` (required)")
	fs.StringVar(&f.environment, "environment", "production", "the environment `NAME` promoted to (the action's environment input)")
	fs.StringVar(&f.workflow, "workflow", "", "the promotion workflow `FILE` (default: the first .github/workflows/*.yml under --repo-dir that runs airlock)")
	fs.StringVar(&f.policyDir, "policy", "", "the policy `DIR` (default: the workflow's policy input, under --repo-dir; none: the defaults)")
	fs.StringVar(&f.repoDir, "repo-dir", ".", "a checkout of the repository, `DIR`: where the workflow's paths are read")
	fs.StringVar(&f.tokenEnv, "token-env", "GITHUB_TOKEN", "the environment variable `NAME` holding the token")
	fs.StringVar(&f.apiURL, "github-api-url", "", "REST API `URL` (default $GITHUB_API_URL, else api.github.com)")
	fs.StringVarP(&f.format, "format", "o", "table", "output `table|json` (--output is the same flag)")
	fs.DurationVar(&f.timeout, "timeout", defaultTimeout, "deadline `DURATION` for the whole run (at most 30m)")
	aliasFlag(fs, "output", "format")
	setExitCodes(c,
		"0  nothing would deny (warnings allowed)",
		"1  something would deny",
		"2  usage: a flag missing or malformed, no token",
		"3  nothing would deny, but something could not be told (a permission, GitHub, a file)")
	return c
}

func runDoctor(ctx context.Context, f *doctorFlags, getenv func(string) string, stdio Stdio) error {
	owner, repo, err := parseRepo(f.repo)
	switch {
	case f.repo == "":
		return fault.Usagef("doctor: --repo OWNER/REPO is required")
	case err != nil:
		return fault.Usagef("doctor: --repo: expected OWNER/REPO, got %q", f.repo)
	case strings.TrimSpace(f.environment) == "":
		return fault.Usagef("doctor: --environment: empty")
	case f.format != "table" && f.format != "json":
		return fault.Usagef("doctor: --format: expected table or json, got %q", f.format)
	case f.timeout <= 0 || f.timeout > maxVerifyTimeout:
		return fault.Usagef("doctor: --timeout: %s is not a duration between 0 and %s", f.timeout, maxVerifyTimeout)
	case f.tokenEnv == "":
		return fault.Usagef("doctor: --token-env: empty")
	}
	token := getenv(f.tokenEnv)
	if token == "" {
		return fault.Usagef("doctor: %s is empty: doctor reads the environment's settings with a token (e.g. GITHUB_TOKEN=$(gh auth token); another variable: --token-env NAME)", f.tokenEnv)
	}
	actionsMask(getenv, stdio)(token)
	if st, err := os.Stat(f.repoDir); err != nil || !st.IsDir() {
		return fault.Usagef("doctor: --repo-dir %q: not a directory", f.repoDir)
	}
	cfg := doctor.Config{Owner: owner, Repo: repo, Environment: f.environment, ReadFile: repoFileReader(f.repoDir)}

	// The workflow, given or found.
	var with map[string]string
	if f.workflow != "" {
		data, err := os.ReadFile(f.workflow)
		if err != nil {
			return fault.Usagef("doctor: --workflow: %w", err)
		}
		cfg.Workflow, cfg.WorkflowName = data, f.workflow
		with, _ = doctor.AirlockInputs(data)
	} else if name, data := findPromotionWorkflow(f.repoDir); data != nil {
		cfg.Workflow, cfg.WorkflowName = data, name
		with, _ = doctor.AirlockInputs(data)
	}

	// The policy, loaded as the gate loads it.
	policyDir := f.policyDir
	if p := with["policy"]; policyDir == "" && p != "" {
		// As the gate resolves the input against the workspace.
		policyDir = p
		if !filepath.IsAbs(p) {
			policyDir = filepath.Join(f.repoDir, filepath.FromSlash(p))
		}
	}
	engine, err := loadPolicy(ctx, policyDir, f.repoDir)
	switch {
	case err == nil:
		cfg.Policy = engine
	case fault.KindOf(err) == fault.KindConfig || fault.KindOf(err) == fault.KindUsage:
		cfg.PolicyErr = err
	default:
		return err
	}

	apiURL := orDefault(f.apiURL, orDefault(getenv("GITHUB_API_URL"), defaultGitHubAPIURL))
	hc := httpClient()
	defer hc.CloseIdleConnections()
	gh, err := ghapi.New(apiURL, token, hc)
	if err != nil {
		return fault.Usagef("doctor: --github-api-url: %w", err)
	}
	cfg.GitHub = gh
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	rep, err := doctor.Run(ctx, cfg)
	if err != nil {
		return fault.Usage(err)
	}
	if f.format == "json" {
		out, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return fault.Operationalf("doctor: encode report: %w", err)
		}
		fmt.Fprintf(stdio.Out, "%s\n", out)
	} else {
		writeDoctorTable(stdio.Out, rep)
	}
	switch n, u := rep.Count(doctor.Deny), rep.Count(doctor.Unknown); {
	case n > 0:
		return denied(fmt.Sprintf("doctor: %d item(s) would deny the promotion to %q", n, f.environment))
	case u > 0:
		return fault.Operationalf("doctor: nothing would deny, but %d item(s) cannot tell", u)
	}
	return nil
}

// repoFileReader reads a file of the checkout by its repository path; a
// path that leaves the checkout is refused, as the gate refuses it.
func repoFileReader(root string) func(string) ([]byte, error) {
	return func(p string) ([]byte, error) {
		clean := path.Clean(filepath.ToSlash(p))
		if path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
			return nil, fmt.Errorf("%q is not a path in the repository", p)
		}
		return os.ReadFile(filepath.Join(root, filepath.FromSlash(clean)))
	}
}

// findPromotionWorkflow is the first workflow under root that runs the
// airlock action in mode gate.
func findPromotionWorkflow(root string) (string, []byte) {
	var files []string
	for _, ext := range []string{"*.yml", "*.yaml"} {
		m, _ := filepath.Glob(filepath.Join(root, ".github", "workflows", ext))
		files = append(files, m...)
	}
	slices.Sort(files)
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			continue
		}
		if _, ok := doctor.AirlockInputs(data); ok {
			return name, data
		}
	}
	return "", nil
}

var doctorMarks = map[doctor.Status]string{
	doctor.Pass: "pass", doctor.Deny: "WILL DENY", doctor.Unknown: "CANNOT TELL", doctor.Warn: "warn",
}

// writeDoctorTable prints the checklist by area; what GitHub and the files
// said is shown escaped.
func writeDoctorTable(w io.Writer, rep *doctor.Report) {
	fmt.Fprintf(w, "airlock doctor: %s, environment %q\n", safe(rep.Repository), safe(rep.Environment))
	area := ""
	for _, it := range rep.Items {
		if it.Area != area {
			area = it.Area
			fmt.Fprintf(w, "\n%s\n", area)
		}
		msg := safe(it.Message)
		if it.Control != "" {
			msg = "[" + it.Control + "] " + msg
		}
		fmt.Fprintf(w, "  %-12s %-24s %s\n", doctorMarks[it.Status], it.Check, msg)
		if it.Fix != "" && it.Status != doctor.Pass {
			fmt.Fprintf(w, "  %-12s %-24s fix: %s\n", "", "", safe(it.Fix))
		}
	}
	fmt.Fprintf(w, "\n%d pass · %d will deny · %d cannot tell · %d warn\n",
		rep.Count(doctor.Pass), rep.Count(doctor.Deny), rep.Count(doctor.Unknown), rep.Count(doctor.Warn))
}
