package cli

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/airlock-dev/airlock/internal/actionio"
	"github.com/airlock-dev/airlock/internal/attest"
	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/gate"
	"github.com/airlock-dev/airlock/internal/ghapi"
	"github.com/airlock-dev/airlock/internal/verify"
)

const revokeLong = `Signs a revocation of one decision, as the gate signs (keyless as this job's workflow, or with a
key), and publishes it where the decision lives: next to the decision's bundle on the release, and
in the attestation store. From then on ` + "`airlock verify`" + ` fails the decision: "revoked at … by …:
reason".

The decision is named by exactly one of --bundle, --release (with --decision when the release
holds more than one), or --repo with --digest (the attestation store, by an artifact's sha256).
GITHUB_TOKEN is needed to publish (contents: write for the release, attestations: write for the
store). Every flag, the key and the trusted root are read before the first request.`

const revokeExample = `  # in a workflow_dispatch job of the promotion workflow (permissions: id-token: write, contents: write)
  airlock revoke --signer sigstore --release acme/agent@v1.4.0 \
    --reason "QA token found in production logs"

  # with a key, the bundle handed to verifiers (--revocations) rather than published
  airlock revoke --signer key --signing-key-env REVOKE_KEY --bundle decision.sigstore.json \
    --reason "superseded" --publish-release=false --publish-attestation=false --out .`

func newRevokeCmd(e *env) *cobra.Command {
	c := &revokeConfig{}
	cmd := &cobra.Command{
		Use:     "revoke --reason TEXT --signer sigstore|key (--bundle FILE | --release OWNER/REPO@TAG | --repo OWNER/REPO --digest sha256:HEX)",
		Short:   "sign a revocation of one decision and publish it where the decision lives",
		Long:    revokeLong,
		Example: revokeExample,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRevoke(cmd.Context(), c, e.getenv, e.stdio)
		},
	}
	cmd.DisableFlagsInUseLine = true
	fs := cmd.Flags()
	// The decision.
	fs.StringVar(&c.bundlePath, "bundle", "", "a decision bundle `FILE`")
	fs.StringVar(&c.release, "release", "", "the release `OWNER/REPO@TAG` the decision is attached to")
	fs.StringVar(&c.decision, "decision", "", "which decision, `NAME|sha256:HEX`: the asset NAME on --release, or the payload digest among the store's (needed when there is more than one)")
	fs.StringVar(&c.repo, "repo", "", "with --digest: look the decision up in the attestation store of `OWNER/REPO`")
	fs.StringVar(&c.digest, "digest", "", "an artifact's digest `sha256:HEX`, with --repo")
	// Why and who.
	fs.StringVar(&c.reason, "reason", "", "why the decision no longer counts `TEXT` (required)")
	fs.StringVar(&c.flags.signer, "signer", "", "`sigstore|key` (required): keyless from a workflow (the job's OIDC token; needs permissions: id-token: write), or a key")
	fs.StringVar(&c.flags.keyEnv, "signing-key-env", defaultSigningKeyEnv, "with --signer key: the variable `NAME` holding the PEM private key")
	fs.StringVar(&c.flags.fulcio, "fulcio-url", "", "Fulcio `URL`, as the gate's input")
	fs.StringVar(&c.flags.tsa, "tsa-url", "", "timestamp authority `URL`, as the gate's input")
	fs.StringVar(&c.flags.rekor, "rekor-url", "", "Rekor `URL`, as the gate's input")
	fs.StringVar(&c.flags.tlog, "transparency-log", gate.LogAuto, "`auto|rekor|tsa`, as the gate's input")
	fs.StringVar(&c.flags.trustedRoot, "trusted-root", "", "trusted_root.json `FILE`, as the gate's input")
	fs.StringVar(&c.flags.tufURL, "tuf-url", "", "TUF repository `URL`, as the gate's input (with --tuf-root)")
	fs.StringVar(&c.flags.tufRoot, "tuf-root", "", "root.json `FILE` that anchors trust in --tuf-url")
	fs.StringVar(&c.flags.issuer, "oidc-issuer", gate.DefaultIssuer, "the job token's issuer `URL`")
	// Where it goes.
	fs.StringVar(&c.out, "out", "", "`DIR` the revocation bundle is written to (default: <workspace>/.airlock/revoke-* in Actions, else .)")
	fs.BoolVar(&c.publishRelease, "publish-release", true, "attach it to --release (--publish-release=false does not)")
	fs.BoolVar(&c.publishAttestation, "publish-attestation", true, "store it in the decision's repository's attestation store (--publish-attestation=false does not)")
	fs.StringVar(&c.apiURL, "github-api-url", "", "REST API `URL` (default $GITHUB_API_URL, else api.github.com)")
	fs.DurationVar(&c.timeout, "timeout", defaultTimeout, "deadline `DURATION` over the whole run (at most 30m)")
	setExitCodes(cmd,
		"0  signed and published",
		"2  usage or configuration",
		"3  operational (nothing counts as revoked unless exit 0)")
	return cmd
}

// revokeConfig is every flag of `airlock revoke`, parsed and checked before
// any request, file read from the network or signature.
type revokeConfig struct {
	bundlePath, release, decision, repo, digest, reason, out, apiURL string
	publishRelease, publishAttestation                               bool
	rel                                                              releaseRef
	gate                                                             gate.Config
	attest                                                           gate.AttestConfig
	timeout                                                          time.Duration
	flags                                                            revokeFlags
}

// revokeFlags are the flags parseRevoke turns into the gate's configuration.
type revokeFlags struct {
	signer, keyEnv, fulcio, tsa, rekor, tlog, trustedRoot, tufURL, tufRoot, issuer string
}

func parseRevoke(c *revokeConfig, getenv func(string) string, stdio Stdio) (*revokeConfig, error) {
	f := c.flags
	signer, keyEnv, fulcio, tsa, rekor, tlog := f.signer, f.keyEnv, f.fulcio, f.tsa, f.rekor, f.tlog
	trustedRoot, tufURL, tufRoot, issuer := f.trustedRoot, f.tufURL, f.tufRoot, f.issuer

	sources := 0
	for _, set := range []bool{c.bundlePath != "", c.release != "", c.digest != ""} {
		if set {
			sources++
		}
	}
	switch {
	case strings.TrimSpace(c.reason) == "":
		return nil, fault.Usagef("revoke: --reason is required: say why the decision no longer counts")
	case signer == "":
		return nil, fault.Usagef("revoke: --signer is required: sigstore or key")
	case signer != gate.SignerSigstore && signer != gate.SignerKey:
		return nil, fault.Usagef("revoke: --signer: %q: expected sigstore or key (a revocation is always signed)", signer)
	case sources != 1:
		return nil, fault.Usagef("revoke: name the decision with exactly one of --bundle FILE, --release OWNER/REPO@TAG, or --repo OWNER/REPO --digest sha256:HEX")
	case c.digest != "" && c.repo == "":
		return nil, fault.Usagef("revoke: --digest looks the decision up in an attestation store: give --repo OWNER/REPO")
	case c.release != "" && c.repo != "":
		return nil, fault.Usagef("revoke: --release names the repository: not with --repo")
	case c.decision != "" && c.bundlePath != "":
		return nil, fault.Usagef("revoke: --decision picks among a release's or a store's decisions: not with --bundle")
	case c.timeout <= 0 || c.timeout > maxVerifyTimeout:
		return nil, fault.Usagef("revoke: --timeout: %s is not a duration between 0 and %s", c.timeout, maxVerifyTimeout)
	}
	if err := attest.CheckReason(c.reason); err != nil {
		return nil, fault.Usagef("revoke: --reason: %w", err)
	}
	if c.release != "" {
		var err error
		if c.rel, err = parseReleaseRef(c.release); err != nil {
			return nil, fault.Usagef("revoke: --release: expected OWNER/REPO@TAG, got %q", c.release)
		}
		c.repo = c.rel.owner + "/" + c.rel.repo
	}
	if c.repo != "" {
		if _, _, err := parseRepo(c.repo); err != nil {
			return nil, fault.Usagef("revoke: --repo: expected OWNER/REPO, got %q", c.repo)
		}
	}
	if c.digest != "" {
		a, err := verify.ParseDigest(c.digest)
		if _, ok := a.Digests["sha256"]; err != nil || !ok {
			return nil, fault.Usagef("revoke: --digest: expected sha256:HEX (the store is indexed by sha256), got %q", c.digest)
		}
	}
	if c.release != "" && c.decision != "" && strings.HasPrefix(c.decision, "sha256:") {
		return nil, fault.Usagef("revoke: --decision with --release is the asset name, got %q", c.decision)
	}
	if c.digest != "" && c.decision != "" && !isPayloadDigest(c.decision) {
		return nil, fault.Usagef("revoke: --decision with --digest is the decision's payload digest sha256:HEX, got %q", c.decision)
	}

	c.gate = gate.Config{Issuer: issuer, Audience: defaultAudience,
		TokenRequestURL: getenv("ACTIONS_ID_TOKEN_REQUEST_URL"), TokenRequestToken: getenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN"),
		APIURL: orDefault(c.apiURL, orDefault(getenv("GITHUB_API_URL"), defaultGitHubAPIURL)), GitHubToken: getenv("GITHUB_TOKEN")}
	c.attest = gate.AttestConfig{Signer: signer, Log: tlog, TUF: gate.TUFConfig{URL: tufURL},
		Services:           attestServices(fulcio, rekor, tsa),
		PublishAttestation: c.publishAttestation && c.repo != "", Version: Version, MaxTTL: gate.DefaultDecisionTTL}
	if signer == gate.SignerSigstore && (c.gate.TokenRequestURL == "" || c.gate.TokenRequestToken == "") {
		return nil, fault.Usagef("revoke: --signer sigstore signs as this job's workflow: ACTIONS_ID_TOKEN_REQUEST_URL and _TOKEN are not set (run it in a workflow with permissions: id-token: write, or use --signer key)")
	}
	if (c.release != "" && c.publishRelease || c.attest.PublishAttestation) && c.gate.GitHubToken == "" {
		return nil, fault.Usagef("revoke: publishing needs GITHUB_TOKEN (or --publish-release=false --publish-attestation=false and hand the bundle to verifiers with --revocations)")
	}
	var err error
	if trustedRoot != "" {
		if c.attest.TrustedRootJSON, err = os.ReadFile(trustedRoot); err != nil {
			return nil, fault.Configf("revoke: --trusted-root: %w", err)
		}
	}
	if tufRoot != "" {
		if c.attest.TUF.Root, err = os.ReadFile(tufRoot); err != nil {
			return nil, fault.Configf("revoke: --tuf-root: %w", err)
		}
	}
	if signer == gate.SignerSigstore && len(c.attest.TrustedRootJSON) == 0 {
		if c.attest.TUF.CacheDir, err = tufCacheDir(getenv); err != nil {
			return nil, err
		}
	}
	if signer == gate.SignerKey {
		key := getenv(keyEnv)
		if key == "" {
			return nil, fault.Configf("revoke: --signer key: environment variable %s is empty", keyEnv)
		}
		actionsMask(getenv, stdio)(key)
		c.attest.KeyPEM = []byte(key)
	}
	// The key and the trusted root are parsed now, not when signing: a bad
	// one is refused before the first request.
	if len(c.attest.TrustedRootJSON) > 0 {
		if err := attest.CheckTrustedRoot(c.attest.TrustedRootJSON); err != nil {
			return nil, fmt.Errorf("revoke: --trusted-root %s: %w", trustedRoot, err)
		}
	}
	if signer == gate.SignerKey {
		if _, err := attest.NewKeySigner(attest.KeyConfig{PrivateKeyPEM: c.attest.KeyPEM, TSAURL: tsa,
			TrustedRootJSON: c.attest.TrustedRootJSON, HTTPClient: httpClient(), Now: time.Now}); err != nil {
			return nil, fmt.Errorf("revoke: --signer key (%s): %w", keyEnv, err)
		}
	}
	if err := c.attest.Validate(); err != nil {
		return nil, fmt.Errorf("revoke: %w", err)
	}
	if c.bundlePath != "" && c.bundlePath != "-" {
		if _, err := os.Stat(c.bundlePath); err != nil {
			return nil, fault.Usagef("revoke: --bundle: %w", err)
		}
	}
	switch {
	case c.out != "":
		if st, err := os.Stat(c.out); err != nil || !st.IsDir() {
			return nil, fault.Usagef("revoke: --out %q: not a directory", c.out)
		}
	case getenv("GITHUB_WORKSPACE") != "":
		// A fresh folder under <workspace>/.airlock, made when signing.
		if _, err := workspaceDir(getenv); err != nil {
			return nil, err
		}
	default:
		c.out = "."
	}
	return c, nil
}

// actionsMask masks a secret in a workflow's log. Outside Actions nothing
// reads ::add-mask::, and printing it would show the secret.
func actionsMask(getenv func(string) string, stdio Stdio) func(string) {
	if getenv("GITHUB_ACTIONS") != "true" {
		return func(string) {}
	}
	return actionio.New(getenv, stdio.Out).Mask
}

func attestServices(fulcio, rekor, tsa string) attest.Services {
	return attest.Services{FulcioURL: fulcio, RekorURL: rekor, TSAURL: tsa}
}

func isPayloadDigest(s string) bool {
	hx, ok := strings.CutPrefix(s, "sha256:")
	_, err := hex.DecodeString(hx)
	return ok && len(hx) == 64 && err == nil && strings.ToLower(hx) == hx
}

func runRevoke(ctx context.Context, flags *revokeConfig, getenv func(string) string, stdio Stdio) error {
	c, err := parseRevoke(flags, getenv, stdio)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	req := gate.RevokeRequest{Reason: c.reason}
	if c.repo != "" {
		req.Owner, req.Repo, _ = parseRepo(c.repo)
	}
	if c.release != "" && c.publishRelease {
		req.Tag = c.rel.tag
	}
	if req.Decision, req.DecisionName, err = c.findDecision(ctx, getenv, stdio); err != nil {
		return err
	}
	ac := c.attest
	if ac.OutDir = c.out; ac.OutDir == "" {
		ws, err := workspaceDir(getenv)
		if err != nil {
			return err
		}
		if ac.OutDir, err = newRunDir(ws, "revoke-"); err != nil {
			return err
		}
	}
	hc := httpClient()
	// The job's tokens are masked as the gate masks them.
	deps := gate.AttestDeps{HTTPClient: hc, Now: time.Now, Mask: actionsMask(getenv, stdio)}
	signed, err := gate.SignRevocation(ctx, c.gate, ac, req, deps)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdio.Out, "signed the revocation of %s (decision %s) as %s, written to %s\n",
		safe(req.DecisionName), signed.Predicate.Revoked.PayloadDigest, safe(signed.Predicate.Revoker.Identity), signed.Path)
	pub, err := gate.PublishRevocation(ctx, c.gate, ac, req, signed, deps)
	if err != nil {
		return err
	}
	if pub.ReleaseAsset != "" {
		fmt.Fprintf(stdio.Out, "  attached to release %s as %s\n", c.rel, pub.ReleaseAsset)
	}
	if pub.AttestationID != 0 {
		fmt.Fprintf(stdio.Out, "  stored in the attestation store of %s (id %d)\n", c.repo, pub.AttestationID)
	}
	if pub.ReleaseAsset == "" && pub.AttestationID == 0 {
		fmt.Fprintf(stdio.Out, "  not published: it counts where verifiers are given it (--revocations %s)\n", signed.Path)
		return nil
	}
	fmt.Fprintf(stdio.Out, "revoked: verifiers now fail this decision: %s\n", safe(c.reason))
	return nil
}

// findDecision reads the decision bundle: a file, an asset of the release,
// or a record of the attestation store. Nothing is verified: a revocation
// only names the decision.
func (c *revokeConfig) findDecision(ctx context.Context, getenv func(string) string, stdio Stdio) ([]byte, string, error) {
	if c.bundlePath != "" {
		b, err := readFileOrStdin(c.bundlePath, stdio, verify.MaxBundleBytes)
		if err != nil {
			return nil, "", fmt.Errorf("revoke: --bundle: %w", err)
		}
		return b, c.bundlePath, nil
	}
	g, err := newGitHubSource(c.apiURL, getenv)
	if err != nil {
		return nil, "", fmt.Errorf("revoke: %w", err)
	}
	if c.release != "" {
		return c.releaseDecision(ctx, g.gh)
	}
	owner, repo, _ := parseRepo(c.repo)
	found, err := g.gh.Attestations(ctx, owner, repo, c.digest)
	if err != nil && !ghapi.IsNotFound(err) {
		return nil, "", fmt.Errorf("revoke: attestation store of %s: %w", c.repo, err)
	}
	var names []string
	var pick []byte
	for _, a := range found {
		if a.Err != nil {
			continue
		}
		ref, err := attest.InspectDecision(a.Bundle)
		if err != nil {
			continue // a revocation, or another tool's attestation
		}
		names = append(names, ref.PayloadDigest)
		if c.decision == "" || c.decision == ref.PayloadDigest {
			if pick != nil && c.decision == "" {
				return nil, "", fault.Usagef("revoke: the attestation store of %s holds several decisions for %s: pick one with --decision (%s)", c.repo, c.digest, strings.Join(names, ", "))
			}
			pick = a.Bundle
		}
	}
	if pick == nil {
		return nil, "", fault.Usagef("revoke: the attestation store of %s holds no decision %sfor %s (decisions: %s)", c.repo, c.decision+" ", c.digest, orDefault(strings.Join(names, ", "), "none"))
	}
	return pick, c.repo + " attestations/" + c.digest, nil
}

func (c *revokeConfig) releaseDecision(ctx context.Context, gh *ghapi.Client) ([]byte, string, error) {
	rel, err := gh.ReleaseByTag(ctx, c.rel.owner, c.rel.repo, c.rel.tag)
	if err != nil {
		return nil, "", fmt.Errorf("revoke: --release %s: %w", c.rel, err)
	}
	if c.publishRelease && rel.Immutable && !rel.Draft {
		// Refused before anything is signed: the revocation could not go
		// next to the decision.
		return nil, "", fault.Usagef("revoke: release %s is published and immutable: it cannot take the revocation. Give --publish-release=false (it still goes to the attestation store) and hand the bundle to verifiers with --revocations", c.rel)
	}
	assets, err := gh.ReleaseAssets(ctx, c.rel.owner, c.rel.repo, rel.ID)
	if err != nil {
		return nil, "", fmt.Errorf("revoke: --release %s: %w", c.rel, err)
	}
	var decisions []ghapi.Asset
	for _, a := range assets {
		if strings.HasPrefix(a.Name, "airlock-decision-") && strings.HasSuffix(a.Name, ".sigstore.json") || a.Name == c.decision {
			decisions = append(decisions, a)
		}
	}
	if c.decision != "" {
		decisions = selectAssets(decisions, []string{c.decision})
	}
	switch {
	case len(decisions) == 0 && c.decision != "":
		return nil, "", fault.Usagef("revoke: --release %s has no asset %q (its assets: %s)", c.rel, c.decision, assetNames(assets))
	case len(decisions) == 0:
		return nil, "", fault.Usagef("revoke: --release %s has no airlock-decision-*.sigstore.json asset", c.rel)
	case len(decisions) > 1:
		return nil, "", fault.Usagef("revoke: --release %s has %d decisions: pick one with --decision NAME (%s)", c.rel, len(decisions), assetNames(decisions))
	}
	data, err := gh.DownloadReleaseAsset(ctx, c.rel.owner, c.rel.repo, decisions[0].ID)
	if err != nil {
		return nil, "", fmt.Errorf("revoke: --release %s: %w", c.rel, err)
	}
	return data, decisions[0].Name, nil
}
