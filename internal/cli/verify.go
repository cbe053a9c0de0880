package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"runtime/debug"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/verify"
)

const verifyLong = `Verifies Sigstore bundles (airlock decisions by default) against trusted roots, a signer identity
and the artifacts they must be about, and prints a report. Bundles come from files (--bundle),
a release (--release: its *.sigstore.json assets; with no ARTIFACT or --digest every other asset
but trusted_root.json must be covered, by the sha256 GitHub reports, else downloaded and hashed),
or GitHub's attestation store (--repo and --digest or ARTIFACT, without --bundle or --release).
--release and the store read GitHub (GITHUB_TOKEN is optional: public repositories need none;
drafts and private ones need it); the default trust reads TUF. --offline touches no network.

A decision whose notAfter has passed fails ("decision expired"); an auditor checking a past
deployment verifies it --at the deployment's time. A revoked decision fails with who revoked it,
when and why.`

const verifyExample = `  # a decision bundle for a file, signed by the promotion workflow of acme/agent
  airlock verify app.tgz --bundle app.tgz.sigstore.json \
    --repo acme/agent --signer-workflow acme/agent/.github/workflows/promote.yml

  # was every asset of the release cleared by a verified decision?
  airlock verify --release acme/agent@v1.4.0 --repo acme/agent

  # a past deployment, under the policy it was decided with
  airlock verify --bundle decision.sigstore.json --digest gitCommit:3f2a… \
    --at 2026-12-01T10:00:00Z --policy-digest sha256:… --output json`

var verifyExitCodes = []string{
	"0  all verified",
	"1  any failure, deny, expired, revoked, or no attestation found",
	"2  usage or unreadable trust material",
	"3  operational: GitHub, TUF or blob storage failed, or --timeout passed",
}

func newVerifyCmd(e *env) *cobra.Command {
	var f *verifyFlags
	c := &cobra.Command{
		Use:     "verify [flags] [ARTIFACT ...]",
		Short:   "verify Sigstore bundles (airlock decisions) and the artifacts they are about",
		Long:    verifyLong,
		Example: verifyExample,
		Args:    cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			return runVerify(c.Context(), f, args, e.getenv, e.stdio)
		},
	}
	c.DisableFlagsInUseLine = true
	f = bindVerifyFlags(c.Flags(), true)
	setExitCodes(c, verifyExitCodes...)
	return c
}

// runVerify is the auditor's command. Every path that printed a failure
// returns an error: exit 0 means everything asked for was verified.
func runVerify(ctx context.Context, f *verifyFlags, artifactPaths []string, getenv func(string) string, stdio Stdio) error {
	defer collectLate(getenv)()
	switch {
	case f.format != "table" && f.format != "json":
		return fault.Usagef("verify: --format: expected table or json, got %q", f.format)
	case f.jobs < 0:
		return fault.Usagef("verify: --jobs: expected a positive number, got %d", f.jobs)
	}
	res, err := f.run(ctx, artifactPaths, getenv, stdio)
	if err != nil {
		return err
	}
	if f.format == "json" {
		out, err := json.MarshalIndent(res.rep, "", "  ")
		if err != nil {
			return fault.Operationalf("verify: encode report: %w", err)
		}
		fmt.Fprintf(stdio.Out, "%s\n", out)
	} else {
		writeTable(stdio.Out, res.rep)
	}
	return res.outcome()
}

// verifyMemoryLimit is the heap a verify run grows to before the garbage
// collector runs (collectLate).
const verifyMemoryLimit = 256 << 20

// collectLate defers garbage collection until the heap nears
// verifyMemoryLimit, and returns the function that restores the settings.
// A verify of one bundle is a short process whose heap (≈ 3 MiB after
// package initialisation) just crosses the runtime's first 4 MiB goal: one
// collection, ≈ 1–2 ms of a 12 ms run, frees memory the exit frees anyway.
// Large batches still collect, at the limit. GOGC or GOMEMLIMIT, when set,
// win.
func collectLate(getenv func(string) string) func() {
	if getenv("GOGC") != "" || getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	pct := debug.SetGCPercent(-1)
	limit := debug.SetMemoryLimit(verifyMemoryLimit)
	return func() {
		debug.SetMemoryLimit(limit)
		debug.SetGCPercent(pct)
	}
}

// verifyFlags are verify's flags. `airlock grants export` binds the same
// ones, so that what it exports is verified exactly as verify would.
type verifyFlags struct {
	bundles, digests, policyDigests, assetGlobs []string
	revocations                                 []string
	revokerSAN, revokerIssuer, revokerWorkflow  string
	latest                                      bool

	trustedRoot, keyPath, predicateType, at, policyDir, release, apiURL, format string
	offline, anyContent, includeDeny, requirePass, rootFromRelease              bool
	jobs                                                                        int
	timeout                                                                     time.Duration
	tuf                                                                         tufTrust
	id                                                                          verify.Identity
}

// bindVerifyFlags binds verify's flags to fs. report adds those that choose
// what is listed rather than what must verify (--format, --any,
// --predicate-type, --include-deny): commands that act on one verified
// allow decision leave them out, so that giving one is a usage error.
func bindVerifyFlags(fs *pflag.FlagSet, report bool) *verifyFlags {
	f := &verifyFlags{format: "table"}
	// What is verified.
	fs.StringArrayVar(&f.bundles, "bundle", nil, "bundle file, JSONL file or directory `PATH` (repeatable)")
	fs.StringVar(&f.release, "release", "", "verify the release's *.sigstore.json assets: `OWNER/REPO@TAG`")
	fs.StringArrayVar(&f.assetGlobs, "assets", nil, "with --release: only the assets matching `GLOB` must be covered (repeatable; the gate's subjects globs)")
	fs.StringArrayVar(&f.digests, "digest", nil, "artifact by digest `ALG:HEX`: sha256, sha384, sha512, gitCommit (repeatable)")
	fs.StringVar(&f.apiURL, "github-api-url", "", "REST API `URL` (default $GITHUB_API_URL, else api.github.com)")
	// Trust.
	fs.StringVar(&f.trustedRoot, "trusted-root", "", "trusted root JSON `FILE`, or JSONL of several roots (default: public-good and GitHub roots via TUF, cached)")
	fs.BoolVar(&f.rootFromRelease, "trusted-root-from-release", false, "trust the release's trusted_root.json asset (trusting what the release itself ships)")
	fs.StringVar(&f.tuf.URL, "tuf-url", "", "trusted root from this TUF repository `URL` (with --tuf-root)")
	fs.StringVar(&f.tuf.RootPath, "tuf-root", "", "the root.json `FILE` that anchors trust in --tuf-url")
	fs.StringVar(&f.tuf.CacheDir, "tuf-cache", "", "TUF cache `DIR` (default: user cache dir/airlock/tuf)")
	fs.StringVar(&f.keyPath, "key", "", "PEM public key `FILE`, for key-signed bundles")
	fs.BoolVar(&f.offline, "offline", false, "use only what is given or cached; never the network")
	// Who signed.
	fs.StringVar(&f.id.SAN, "certificate-identity", "", "exact signer `SAN`")
	fs.StringVar(&f.id.SANRegexp, "certificate-identity-regexp", "", "signer SAN `REGEXP` (anchored)")
	fs.StringVar(&f.id.Issuer, "certificate-oidc-issuer", "", "exact signer's OIDC issuer `URL`")
	fs.StringVar(&f.id.IssuerRegexp, "certificate-oidc-issuer-regexp", "", "signer's OIDC issuer `REGEXP` (anchored)")
	fs.StringVar(&f.id.Repo, "repo", "", "signed in this repository `OWNER/REPO` (Source Repository URI)")
	fs.StringVar(&f.id.SignerWorkflow, "signer-workflow", "", "signed by this workflow: `OWNER/REPO/.github/workflows/FILE[@REF]`")
	fs.StringVar(&f.id.SourceRef, "source-ref", "", "built from this `REF` (refs/heads/main, refs/tags/v1)")
	fs.BoolVar(&f.id.DenySelfHostedRunners, "deny-self-hosted-runners", false, "require a GitHub-hosted runner")
	// What the decision must say.
	if report {
		fs.StringVar(&f.predicateType, "predicate-type", "", "required predicate type `URI` (default: airlock's decision)")
		fs.BoolVar(&f.anyContent, "any", false, "accept any signed content, message signatures included")
		fs.BoolVar(&f.includeDeny, "include-deny", false, "list refusals (deny decisions) instead of failing on them")
	}
	fs.StringVar(&f.at, "at", "", "check decision validity at this `RFC3339` time instead of now (a past deployment's time)")
	fs.StringArrayVar(&f.policyDigests, "policy-digest", nil, "the decision was made under this policy set `sha256:HEX` (repeatable; airlock policy digest DIR prints it)")
	fs.StringVar(&f.policyDir, "policy", "", "re-evaluate each decision's recorded evidence under this policy `DIR` (as the gate's policy input) and report whether it would still pass")
	fs.BoolVar(&f.requirePass, "require-policy-pass", false, "with --policy: a decision that would now be denied fails")
	// Revocation and freshness.
	fs.StringArrayVar(&f.revocations, "revocations", nil, "revocation bundles `PATH` (file, JSONL or directory; repeatable), besides those found among the bundles, the release and the attestation store")
	fs.StringVar(&f.revokerSAN, "revoker-identity", "", "who may revoke: exact certificate `SAN` (issuer from --revoker-oidc-issuer, else --certificate-oidc-issuer, else GitHub's; default: the decision's own signer)")
	fs.StringVar(&f.revokerIssuer, "revoker-oidc-issuer", "", "the revoker's OIDC issuer `URL`")
	fs.StringVar(&f.revokerWorkflow, "revoker-workflow", "", "who may revoke, by signing workflow `OWNER/REPO/.github/workflows/FILE[@REF]`")
	fs.BoolVar(&f.latest, "latest", false, "fail every allow a newer allow for the same subject and environment supersedes")
	// How.
	if report {
		fs.StringVarP(&f.format, "format", "o", "table", "output `table|json` (--output is the same flag)")
	}
	fs.IntVar(&f.jobs, "jobs", 0, "concurrent verifications `N` (default: CPUs)")
	fs.DurationVar(&f.timeout, "timeout", defaultVerifyTimeout, "deadline `DURATION` over the whole run: TUF, GitHub, blob storage and verification (at most 30m)")
	if report {
		aliasFlag(fs, "output", "format")
	}
	return f
}

// verifyResult is a finished verification and what its failure message
// needs.
type verifyResult struct {
	rep              *verify.Report
	source, ofAssets string
}

// outcome is nil only if everything asked for verified.
func (r verifyResult) outcome() error {
	rep := r.rep
	if len(rep.Bundles) == 0 {
		return denied("no attestation found: " + r.source)
	}
	if !rep.Verified {
		badBundles, badArtifacts := rep.Failures()
		revoked := ""
		for _, b := range rep.Bundles {
			if rv := b.Revoked; rv != nil {
				revoked += fmt.Sprintf("; %s: revoked at %s by %s: %s", safe(b.Bundle), rv.RevokedAt.UTC().Format(time.RFC3339), safe(rv.By), safe(rv.Reason))
			}
		}
		return denied(fmt.Sprintf("verification failed: %d of %d bundle(s) failed, %d of %d artifact(s) without a verified attestation%s%s",
			badBundles, len(rep.Bundles), badArtifacts, len(rep.Artifacts), r.ofAssets, revoked))
	}
	return nil
}

// --timeout's default and bound, as the gate's `timeout` input.
const (
	defaultVerifyTimeout = 2 * time.Minute
	maxVerifyTimeout     = 30 * time.Minute
)

// run checks the flags' combinations, then loads trust, artifacts and
// bundles and verifies, all under one --timeout deadline. Its error is for
// what stops the run (usage, trust material, network, the deadline); failed
// bundles are in the report.
func (f *verifyFlags) run(ctx context.Context, artifactPaths []string, getenv func(string) string, stdio Stdio) (verifyResult, error) {
	if f.timeout <= 0 || f.timeout > maxVerifyTimeout {
		return verifyResult{}, fault.Usagef("verify: --timeout: %s is not a duration between 0 and %s", f.timeout, maxVerifyTimeout)
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	res, err := f.runWithin(ctx, artifactPaths, getenv, stdio)
	// Past the deadline nothing is trusted to be whole: a report finished
	// only in part, or a dependency that did not answer, is exit 3, with the
	// dependency named by the error it stopped in.
	if ctx.Err() != nil && (err != nil || !res.rep.Verified) {
		if err == nil {
			err = errors.New("verification did not finish")
		}
		return verifyResult{}, fault.Operationalf("%w (--timeout %s exceeded)", err, f.timeout)
	}
	return res, err
}

func (f *verifyFlags) runWithin(ctx context.Context, artifactPaths []string, getenv func(string) string, stdio Stdio) (verifyResult, error) {
	bundles, digests, policyDigests, assetGlobs := f.bundles, f.digests, f.policyDigests, f.assetGlobs
	trustedRoot, keyPath, offline, tuf, id := &f.trustedRoot, &f.keyPath, &f.offline, f.tuf, f.id
	predicateType, anyContent, includeDeny, at, policyDir := &f.predicateType, &f.anyContent, &f.includeDeny, &f.at, &f.policyDir
	requirePass, release, rootFromRelease, apiURL, jobs := &f.requirePass, &f.release, &f.rootFromRelease, &f.apiURL, &f.jobs
	var err error
	switch {
	case *requirePass && *policyDir == "":
		return verifyResult{}, fault.Usagef("verify: --require-policy-pass needs --policy DIR")
	case *release != "" && *offline:
		return verifyResult{}, fault.Usagef("verify: --release downloads the release's bundles: not with --offline (download them and use --bundle)")
	case len(assetGlobs) > 0 && (*release == "" || len(artifactPaths) > 0 || len(digests) > 0):
		return verifyResult{}, fault.Usagef("verify: --assets selects which assets of --release must be covered: not with ARTIFACT or --digest, and only with --release")
	case *release != "" && len(bundles) > 0:
		return verifyResult{}, fault.Usagef("verify: give --release or --bundle, not both")
	case *rootFromRelease && *release == "":
		return verifyResult{}, fault.Usagef("verify: --trusted-root-from-release needs --release")
	case *rootFromRelease && *trustedRoot != "":
		return verifyResult{}, fault.Usagef("verify: give --trusted-root or --trusted-root-from-release, not both")
	case len(bundles) == 0 && *release == "" && id.Repo != "" && (len(digests) > 0 || len(artifactPaths) > 0) && *offline:
		return verifyResult{}, fault.Usagef("verify: querying GitHub's attestation store needs the network: not with --offline (give --bundle)")
	case len(bundles) == 0 && *release == "" && id.Repo == "":
		return verifyResult{}, fault.Usagef("verify: no bundle: give --bundle PATH, --release OWNER/REPO@TAG, or --repo OWNER/REPO to query GitHub's attestation store")
	case *trustedRoot != "" && tuf.URL+tuf.RootPath != "":
		return verifyResult{}, fault.Usagef("verify: give --trusted-root or --tuf-url/--tuf-root, not both")
	case *rootFromRelease && tuf.URL+tuf.RootPath != "":
		return verifyResult{}, fault.Usagef("verify: give --trusted-root-from-release or --tuf-url/--tuf-root, not both")
	case len(artifactPaths) == 0 && len(digests) == 0 && *release == "":
		return verifyResult{}, fault.Usagef("verify: no artifact: name ARTIFACT files or give --digest ALG:HEX")
	}

	for _, g := range assetGlobs {
		if _, err := path.Match(g, ""); err != nil {
			return verifyResult{}, fault.Usagef("verify: --assets %q: %v", g, err)
		}
	}
	var rel releaseRef
	if *release != "" {
		if rel, err = parseReleaseRef(*release); err != nil {
			return verifyResult{}, err
		}
	}
	cfg := verify.Config{Identity: id, PredicateType: *predicateType, Any: *anyContent, IncludeDeny: *includeDeny,
		Workers: *jobs, Now: time.Now, RequirePolicyPass: *requirePass, PolicyDigests: policyDigests}
	cfg.Revocations, cfg.Latest = f.revocations, f.latest
	if f.revokerIssuer != "" && f.revokerSAN == "" && f.revokerWorkflow == "" {
		return verifyResult{}, fault.Usagef("verify: --revoker-oidc-issuer needs --revoker-identity or --revoker-workflow")
	}
	if f.revokerSAN != "" || f.revokerWorkflow != "" {
		cfg.Revoker = verify.Identity{SAN: f.revokerSAN, SignerWorkflow: f.revokerWorkflow,
			Issuer: orDefault(f.revokerIssuer, orDefault(id.Issuer, verify.GitHubActionsIssuer))}
	}
	if *at != "" {
		if cfg.At, err = time.Parse(time.RFC3339, *at); err != nil {
			return verifyResult{}, fault.Usagef("verify: --at: %q is not an RFC 3339 time", *at)
		}
	}
	if err := tuf.validate(); err != nil {
		return verifyResult{}, err
	}
	if *trustedRoot != "" {
		if cfg.TrustedRoots, err = readFileOrStdin(*trustedRoot, stdio, verify.MaxTrustedRootBytes); err != nil {
			return verifyResult{}, fmt.Errorf("verify: --trusted-root: %w", err)
		}
	} else if !*rootFromRelease && (*keyPath == "" || tuf.URL != "") {
		tuf.Offline = *offline
		if cfg.TrustedRoots, err = tuf.trustedRoots(ctx, stdio); err != nil {
			return verifyResult{}, err
		}
	}
	if *keyPath != "" {
		if cfg.Key, err = readFileOrStdin(*keyPath, stdio, 64<<10); err != nil {
			return verifyResult{}, fmt.Errorf("verify: --key: %w", err)
		}
	}
	var artifacts []verify.Artifact
	for _, p := range artifactPaths {
		a, err := verify.ArtifactFromFile(p)
		if err != nil {
			return verifyResult{}, fmt.Errorf("verify: %w", err)
		}
		artifacts = append(artifacts, a)
	}
	for _, d := range digests {
		a, err := verify.ParseDigest(d)
		if err != nil {
			return verifyResult{}, fmt.Errorf("verify: --digest: %w", err)
		}
		artifacts = append(artifacts, a)
	}

	if *policyDir != "" {
		srcs, err := policySources(*policyDir, "")
		if err != nil {
			return verifyResult{}, fmt.Errorf("verify: --policy: %w", err)
		}
		eng, err := engine().LoadPolicy(ctx, srcs...)
		if err != nil {
			return verifyResult{}, fmt.Errorf("verify: --policy %s: %w", *policyDir, err)
		}
		cfg.Policy = eng
	}

	// Bundles from GitHub are fetched before the verifier is built: with
	// --trusted-root-from-release the trust material comes with them.
	var fetched []verify.Bundle
	source, ofAssets := "", ""
	fromGitHub := len(bundles) == 0
	if fromGitHub {
		gh, err := newGitHubSource(*apiURL, getenv)
		if err != nil {
			return verifyResult{}, fmt.Errorf("verify: %w", err)
		}
		if *release != "" {
			files, err := gh.releaseBundles(ctx, rel, *rootFromRelease)
			if err != nil {
				return verifyResult{}, err
			}
			if files.root != nil {
				cfg.TrustedRoots = files.root
			}
			fetched = files.bundles
			source = "release " + rel.String() + " has no *.sigstore.json asset"
			if len(artifacts) == 0 {
				selected := selectAssets(files.assets, assetGlobs)
				if len(selected) == 0 && len(files.assets) > 0 {
					return verifyResult{}, fault.Usagef("verify: --release %s: no asset matches --assets %q (its assets: %s)", rel, []string(assetGlobs), assetNames(files.assets))
				}
				if artifacts, err = gh.assetArtifacts(ctx, rel, selected); err != nil {
					return verifyResult{}, err
				}
				ofAssets = fmt.Sprintf(" (the artifacts: the %d asset(s) of release %s; for a decision about the tag's commit give --digest gitCommit:SHA)", len(artifacts), rel)
			}
		} else {
			owner, repo, err := parseRepo(id.Repo)
			if err != nil {
				return verifyResult{}, err
			}
			if fetched, err = gh.storeBundles(ctx, owner, repo, artifacts); err != nil {
				return verifyResult{}, err
			}
			source = "GitHub's attestation store of " + id.Repo + " holds none for the given artifact(s)"
		}
	}

	v, err := verify.New(cfg)
	if err != nil {
		return verifyResult{}, fmt.Errorf("verify: %w", err)
	}
	var rep *verify.Report
	if fromGitHub {
		rep, err = v.VerifyBundles(ctx, source, fetched, artifacts)
	} else {
		rep, err = v.Verify(ctx, bundles, artifacts)
	}
	if err != nil {
		return verifyResult{}, fmt.Errorf("verify: %w", err)
	}
	return verifyResult{rep: rep, source: source, ofAssets: ofAssets}, nil
}

// safe renders text that came from a bundle (or from errors quoting it) so
// it cannot forge table rows or terminal escapes.
func safe(s string) string {
	if s == "" {
		return "-"
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			q := strconv.QuoteToASCII(s)
			return q[1 : len(q)-1]
		}
	}
	return s
}

func writeTable(w io.Writer, rep *verify.Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "BUNDLE\tRESULT\tSIGNER\tPREDICATE\tDECISION\tPOLICY\tNOT AFTER")
	for _, b := range rep.Bundles {
		result := "verified"
		if !b.Verified {
			result = "FAILED"
		}
		signer := ""
		if b.Identity != nil {
			signer = b.Identity.SAN
			if signer == "" && b.Identity.PublicKey != "" {
				signer = "key " + b.Identity.PublicKey
			}
		}
		notAfter := ""
		if b.NotAfter != nil {
			notAfter = b.NotAfter.UTC().Format(time.RFC3339)
		}
		policy := ""
		if b.Policy != nil {
			// sha256: and 12 hex digits tell policies apart in a table;
			// --format json has the whole digest and the sources.
			policy = b.Policy.Digest
			if len(policy) > len("sha256:")+12 {
				policy = policy[:len("sha256:")+12] + "…"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", safe(b.Bundle), result, safe(signer), safe(b.PredicateType), safe(b.Decision), safe(policy), safe(notAfter))
	}
	tw.Flush()
	for _, b := range rep.Bundles {
		for _, e := range b.Errors {
			fmt.Fprintf(w, "  %s: %s\n", safe(b.Bundle), safe(e))
		}
	}
	for _, e := range rep.Errors {
		fmt.Fprintf(w, "  %s\n", safe(e))
	}
	writeRevocations(w, rep)
	writeReevaluations(w, rep)
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ARTIFACT\tDIGEST\tRESULT")
	for _, a := range rep.Artifacts {
		result := fmt.Sprintf("verified by %d bundle(s)", len(a.Bundles))
		if !a.Verified {
			result = "FAILED: " + strings.Join(a.Errors, "; ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", safe(a.Artifact), safe(a.Digest), safe(result))
	}
	tw.Flush()
	bad, _ := rep.Failures()
	fmt.Fprintf(w, "\n%d bundle(s): %d verified, %d failed\n", len(rep.Bundles), len(rep.Bundles)-bad, bad)
}

// writeRevocations shows what became of each revocation that names a
// decision of the run, and which allows newer ones supersede.
func writeRevocations(w io.Writer, rep *verify.Report) {
	if len(rep.Revocations) > 0 {
		fmt.Fprintf(w, "\nrevocations (%d read):\n", rep.RevocationsRead)
	}
	for _, r := range rep.Revocations {
		if r.Counted {
			fmt.Fprintf(w, "  %s: counted: revokes %s\n", safe(r.Bundle), safe(strings.Join(r.Revokes, ", ")))
		}
		for _, e := range r.Errors {
			fmt.Fprintf(w, "  %s: %s\n", safe(r.Bundle), safe(e))
		}
	}
	header := false
	for _, b := range rep.Bundles {
		if b.SupersededBy == "" || !b.Verified {
			continue // a failed record already says so among its errors
		}
		if !header {
			fmt.Fprintln(w, "\nsuperseded (--latest fails them):")
			header = true
		}
		fmt.Fprintf(w, "  %s: superseded by %s\n", safe(b.Bundle), safe(b.SupersededBy))
	}
}

// writeReevaluations shows, for --policy, whether each decision's recorded
// evidence would pass today.
func writeReevaluations(w io.Writer, rep *verify.Report) {
	header := false
	for _, b := range rep.Bundles {
		r := b.Reevaluation
		if r == nil {
			continue
		}
		if !header {
			fmt.Fprintf(w, "\nre-evaluated under --policy (%s):\n", safe(r.PolicyDigest))
			header = true
		}
		if r.Allow {
			fmt.Fprintf(w, "  %s: would still be allowed\n", safe(b.Bundle))
			continue
		}
		fmt.Fprintf(w, "  %s: would now be DENIED\n", safe(b.Bundle))
		for _, reason := range r.Reasons {
			fmt.Fprintf(w, "    [%s] %s\n", safe(reason.Control), safe(reason.Message))
		}
	}
}
