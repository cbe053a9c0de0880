package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/airlock-dev/airlock/internal/audit"
	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/ghapi"
	"github.com/airlock-dev/airlock/internal/verify"
)

const auditLong = `For every repository: is every release (each asset) and every deployment to --environment (the
deployed commit) covered by a verified, unrevoked allow decision for that environment, made by the
pinned gate workflow, that was valid when the release was published or the deployment made?
Reads GitHub with GITHUB_TOKEN (contents, deployments and attestations: read; metadata for --org).

A decision revoked since counts as revoked even for a deployment made before the revocation; a
revocation by anyone but the decision's signer (or --revoker-*) is ignored and noted. With
--state DIR a second run asks conditionally: unchanged lists are 304s, which cost no rate limit,
and release bundles are kept by digest. A rate limit that does not reset within --max-wait stops
the run with exit 3; the same command with the same --state resumes.`

const auditExample = `  # every repository of acme since January, as a page for the auditors
  airlock audit --org acme --since 2026-01-01 \
    --signer-workflow '{repo}/.github/workflows/promote.yml' \
    --state ~/.cache/airlock-audit/acme --format html --out acme-audit.html

  # two repositories, one reusable gate workflow, a reviewed policy
  airlock audit --repo acme/agent --repo acme/billing \
    --signer-workflow acme/.github/.github/workflows/airlock.yml@refs/heads/main \
    --policy-digest sha256:… --output json`

func newAuditCmd(e *env) *cobra.Command {
	f := &auditFlags{}
	c := &cobra.Command{
		Use:     "audit (--org ORG | --repo OWNER/REPO ...) --signer-workflow WORKFLOW [flags]",
		Short:   "is every release and deployment covered by a verified allow that was valid at the time?",
		Long:    auditLong,
		Example: auditExample,
		Args:    noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runAudit(c.Context(), f, e.getenv, e.stdio)
		},
	}
	c.DisableFlagsInUseLine = true
	fs := c.Flags()
	fs.StringVar(&f.org, "org", "", "every repository of `ORG` (archived ones with --include-archived)")
	fs.StringArrayVar(&f.repos, "repo", nil, "this repository `OWNER/REPO` (repeatable)")
	fs.BoolVar(&f.includeArchived, "include-archived", false, "with --org: audit archived repositories too")
	fs.StringVar(&f.since, "since", "", "only releases and deployments from `DATE` (YYYY-MM-DD or RFC 3339)")
	fs.StringVar(&f.environment, "environment", "production", "the deployments' environment and the decisions' `NAME`")
	fs.StringVar(&f.signerWorkflow, "signer-workflow", "", "the gate's `WORKFLOW` OWNER/REPO/.github/workflows/FILE[@REF] (required); {repo} stands for each audited OWNER/REPO")
	fs.StringVar(&f.issuer, "certificate-oidc-issuer", "", "the signer's issuer `URL` (default GitHub Actions')")
	fs.StringVar(&f.sourceRef, "source-ref", "", "decisions made from this `REF` only (refs/heads/main)")
	fs.StringArrayVar(&f.policyDigests, "policy-digest", nil, "decisions made under this reviewed policy `sha256:HEX` only (repeatable)")
	fs.StringArrayVar(&f.revocations, "revocations", nil, "revocation bundles `PATH` besides those GitHub holds (repeatable)")
	fs.StringVar(&f.revokerSAN, "revoker-identity", "", "who may revoke, by certificate `SAN` (default: the decision's own signer)")
	fs.StringVar(&f.revokerWorkflow, "revoker-workflow", "", "who may revoke, by signing `WORKFLOW`")
	fs.StringVar(&f.revokerIssuer, "revoker-oidc-issuer", "", "the revoker's issuer `URL`")
	fs.StringVar(&f.trustedRoot, "trusted-root", "", "trusted root JSON or JSONL `FILE` (default: public-good and GitHub roots via TUF)")
	fs.StringVar(&f.tuf.URL, "tuf-url", "", "trusted root from this TUF repository `URL` instead (with --tuf-root)")
	fs.StringVar(&f.tuf.RootPath, "tuf-root", "", "root.json `FILE` that anchors trust in --tuf-url")
	fs.StringVar(&f.tuf.CacheDir, "tuf-cache", "", "TUF cache `DIR` (default: user cache dir/airlock/tuf)")
	fs.StringVar(&f.apiURL, "github-api-url", "", "REST API `URL` (default $GITHUB_API_URL, else api.github.com)")
	fs.StringVar(&f.stateDir, "state", "", "keep GitHub's answers (ETags) and bundles in `DIR`: the next run's unchanged lists are 304s, and a stopped run resumes")
	fs.DurationVar(&f.maxWait, "max-wait", time.Minute, "wait at most `DURATION` for a rate limit to reset; longer stops with exit 3")
	fs.IntVar(&f.concurrency, "concurrency", 4, "repositories audited at once, `N` from 1 to 32")
	fs.StringVarP(&f.format, "format", "o", "table", "output `table|json|html` (--output is the same flag)")
	aliasFlag(fs, "output", "format")
	fs.StringVar(&f.outPath, "out", "", "write the output to `FILE` instead of standard output")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Minute, "deadline `DURATION` over the whole run (at most 24h)")
	fs.BoolVar(&f.quiet, "quiet", false, "no progress on standard error")
	setExitCodes(c,
		"0  every release and deployment covered",
		"1  anything uncovered, revoked, failed, or expired at the time",
		"2  usage or unreadable trust material (every flag is checked before the first request)",
		"3  operational: GitHub, the rate limit, or --timeout")
	return c
}

type auditFlags struct {
	org, since, environment, signerWorkflow, issuer, sourceRef string
	trustedRoot, apiURL, stateDir, format, outPath             string
	revokerSAN, revokerIssuer, revokerWorkflow                 string
	repos, policyDigests, revocations                          []string
	includeArchived, quiet                                     bool
	concurrency                                                int
	maxWait, timeout                                           time.Duration
	tuf                                                        tufTrust
}

func runAudit(ctx context.Context, f *auditFlags, getenv func(string) string, stdio Stdio) error {
	cfg, err := f.config(getenv)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()

	// Everything above touched nothing; from here on GitHub is asked.
	if f.trustedRoot != "" {
		if cfg.TrustedRoots, err = readFileOrStdin(f.trustedRoot, stdio, verify.MaxTrustedRootBytes); err != nil {
			return fmt.Errorf("audit: --trusted-root: %w", err)
		}
	} else if cfg.TrustedRoots, err = f.tuf.trustedRoots(ctx, stdio); err != nil {
		return err
	}
	var state *audit.State
	// --max-wait 0: never wait (ghapi needs a bound above zero).
	opts := []ghapi.Option{ghapi.WithMaxRetryWait(max(f.maxWait, time.Nanosecond))}
	if f.stateDir != "" {
		if state, err = audit.OpenState(f.stateDir); err != nil {
			return err
		}
		opts = append(opts, ghapi.WithCache(state))
		cfg.Blobs = state
	}
	counter := &countingTransport{base: httpClient().Transport}
	hc := httpClient()
	hc.Transport = counter
	apiURL := orDefault(f.apiURL, orDefault(getenv("GITHUB_API_URL"), defaultGitHubAPIURL))
	var gh *ghapi.Client
	if token := getenv("GITHUB_TOKEN"); token != "" {
		gh, err = ghapi.New(apiURL, token, hc, opts...)
	} else {
		gh, err = ghapi.NewAnonymous(apiURL, hc, opts...)
	}
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if f.org != "" {
		repos, err := gh.OrgRepos(ctx, f.org)
		if err != nil {
			return fmt.Errorf("audit: --org %s: %w", f.org, err)
		}
		for _, r := range repos {
			if !r.Archived || f.includeArchived {
				cfg.Repos = append(cfg.Repos, r)
			}
		}
		if len(cfg.Repos) == 0 {
			return fault.Usagef("audit: --org %s has no repository to audit", f.org)
		}
	}
	if !f.quiet {
		cfg.Progress = func(done, total int, repo string, records int) {
			fmt.Fprintf(stdio.Err, "audit: [%d/%d] %s: %d release(s) and deployment(s)\n", done, total, safe(repo), records)
		}
	}
	started := time.Now()
	rep, runErr := audit.Run(ctx, gh, cfg)
	stats := fmt.Sprintf("%d API request(s), %d answered 304 (no rate limit)", counter.n.Load(), state304(state))
	if state != nil {
		if err := state.Save(); err != nil && runErr == nil {
			runErr = err
		}
	}
	if runErr != nil {
		if rep != nil && f.format != "html" {
			fmt.Fprintf(stdio.Err, "audit: %d record(s) before it stopped: %d covered\n", rep.Summary.Total, rep.Summary.Covered)
		}
		hint := ""
		if strings.Contains(runErr.Error(), "rate limited") {
			hint = "; the rate limit ran out: run again with the same --state once it resets (what was read is not asked again)"
			if f.stateDir == "" {
				hint = "; the rate limit ran out: run again with --state DIR once it resets, so that what is read is not paid for again"
			}
		}
		return fault.Operationalf("audit: %w (%s)%s", runErr, stats, hint)
	}
	if !f.quiet {
		fmt.Fprintf(stdio.Err, "audit: %d repositories in %s: %s\n", len(cfg.Repos), time.Since(started).Round(time.Millisecond), stats)
	}
	if err := f.write(rep, stdio); err != nil {
		return err
	}
	if bad := rep.Summary.Total - rep.Summary.Covered; bad > 0 {
		return denied(fmt.Sprintf("audit: %d of %d release(s) and deployment(s) not covered (%d uncovered, %d revoked, %d expired at the time, %d failed)",
			bad, rep.Summary.Total, rep.Summary.Uncovered, rep.Summary.Revoked, rep.Summary.Expired, rep.Summary.Failed))
	}
	return nil
}

func state304(s *audit.State) int64 {
	if s == nil {
		return 0
	}
	return s.NotModifiedCount()
}

// config checks every flag before anything is read or asked.
func (f *auditFlags) config(getenv func(string) string) (audit.Config, error) {
	cfg := audit.Config{Environment: f.environment, SignerWorkflow: f.signerWorkflow, Issuer: f.issuer,
		SourceRef: f.sourceRef, PolicyDigests: f.policyDigests, Revocations: f.revocations, Concurrency: f.concurrency}
	switch {
	case f.org == "" && len(f.repos) == 0:
		return cfg, fault.Usagef("audit: nothing to audit: give --org ORG or --repo OWNER/REPO")
	case f.org != "" && len(f.repos) > 0:
		return cfg, fault.Usagef("audit: give --org or --repo, not both")
	case f.signerWorkflow == "":
		return cfg, fault.Usagef("audit: --signer-workflow: pin the gate's workflow (OWNER/REPO/.github/workflows/FILE, {repo} for each repository's own)")
	case f.environment == "":
		return cfg, fault.Usagef("audit: --environment: expected a name")
	case f.format != "table" && f.format != "json" && f.format != "html":
		return cfg, fault.Usagef("audit: --format: expected table, json or html, got %q", f.format)
	case f.concurrency < 1 || f.concurrency > 32:
		return cfg, fault.Usagef("audit: --concurrency: expected 1 to 32, got %d", f.concurrency)
	case f.timeout <= 0 || f.timeout > 24*time.Hour:
		return cfg, fault.Usagef("audit: --timeout: %s is not a duration between 0 and 24h", f.timeout)
	case f.maxWait < 0:
		return cfg, fault.Usagef("audit: --max-wait: %s is negative", f.maxWait)
	case f.trustedRoot != "" && f.tuf.URL+f.tuf.RootPath != "":
		return cfg, fault.Usagef("audit: give --trusted-root or --tuf-url/--tuf-root, not both")
	case f.revokerIssuer != "" && f.revokerSAN == "" && f.revokerWorkflow == "":
		return cfg, fault.Usagef("audit: --revoker-oidc-issuer needs --revoker-identity or --revoker-workflow")
	}
	if err := f.tuf.validate(); err != nil {
		return cfg, err
	}
	for _, r := range f.repos {
		owner, name, err := parseRepo(r)
		if err != nil {
			return cfg, fmt.Errorf("audit: --repo: %w", err)
		}
		cfg.Repos = append(cfg.Repos, ghapi.Repo{Owner: owner, Name: name})
	}
	if f.since != "" {
		t, err := time.Parse(time.RFC3339, f.since)
		if err != nil {
			if t, err = time.Parse(time.DateOnly, f.since); err != nil {
				return cfg, fault.Usagef("audit: --since: %q is neither YYYY-MM-DD nor an RFC 3339 time", f.since)
			}
		}
		cfg.Since = t
	}
	if f.revokerSAN != "" || f.revokerWorkflow != "" {
		cfg.Revoker = verify.Identity{SAN: f.revokerSAN, SignerWorkflow: f.revokerWorkflow,
			Issuer: orDefault(f.revokerIssuer, orDefault(f.issuer, verify.GitHubActionsIssuer))}
	}
	// The identity and digests are checked here too, so that a typo is
	// exit 2 before the first request.
	probe := cfg
	probe.Repos = []ghapi.Repo{{Owner: "owner", Name: "repo"}}
	if len(cfg.Repos) > 0 {
		probe.Repos = cfg.Repos[:1]
	}
	if err := audit.CheckIdentity(probe); err != nil {
		return cfg, err
	}
	return cfg, nil
}

func (f *auditFlags) write(rep *audit.Report, stdio Stdio) error {
	w, closeOut := stdio.Out, func() error { return nil }
	if f.outPath != "" {
		file, err := os.OpenFile(f.outPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return fault.Usagef("audit: --out: %v", err)
		}
		w, closeOut = file, file.Close
	}
	var err error
	switch f.format {
	case "json":
		var b []byte
		if b, err = json.MarshalIndent(rep, "", "  "); err == nil {
			_, err = fmt.Fprintf(w, "%s\n", b)
		}
	case "html":
		err = audit.WriteHTML(w, rep, time.Now())
	default:
		writeAuditTable(w, rep)
	}
	if cerr := closeOut(); err == nil {
		err = cerr
	}
	if err != nil {
		return fault.Operationalf("audit: write the report: %w", err)
	}
	return nil
}

func writeAuditTable(w io.Writer, rep *audit.Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tREPOSITORY\tKIND\tREF\tAT\tWHY / DECISION")
	// What is not covered first: that is what an auditor reads.
	for _, pass := range []bool{false, true} {
		for _, r := range rep.Records {
			if (r.Status == audit.Covered) != pass {
				continue
			}
			why := strings.Join(r.Decisions, ", ")
			if !pass && len(r.Reasons) > 0 {
				why = r.Reasons[0]
				if len(r.Reasons) > 1 {
					why += fmt.Sprintf(" (+%d more)", len(r.Reasons)-1)
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Status, safe(r.Repo), r.Kind, safe(r.Ref), r.Time.UTC().Format(time.RFC3339), safe(clip(why, 160)))
		}
	}
	tw.Flush()
	s := rep.Summary
	fmt.Fprintf(w, "\n%d release(s) and deployment(s) in %d repositories: %d covered, %d uncovered, %d revoked, %d expired at the time, %d failed\n",
		s.Total, len(rep.Repositories), s.Covered, s.Uncovered, s.Revoked, s.Expired, s.Failed)
}

// countingTransport counts the requests an audit makes.
type countingTransport struct {
	base http.RoundTripper
	n    atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	base := c.base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(r)
}
