package cli

import (
	"context"
	"encoding/hex"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/airlock-dev/airlock/internal/audit"
	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/ghapi"
	"github.com/airlock-dev/airlock/internal/verify"
)

// Where `airlock verify` finds bundles on GitHub: a release's assets, or the
// repository's attestation store. What comes back is only bytes to verify;
// the token (optional: public repositories need none) is read here and goes
// nowhere but ghapi.

const defaultGitHubAPIURL = "https://api.github.com"

// githubSource is the GitHub side of one verify run.
type githubSource struct {
	gh     *ghapi.Client
	authed bool
}

func newGitHubSource(apiURL string, getenv func(string) string) (*githubSource, error) {
	if apiURL == "" {
		apiURL = getenv("GITHUB_API_URL")
	}
	if apiURL == "" {
		apiURL = defaultGitHubAPIURL
	}
	token := getenv("GITHUB_TOKEN")
	var gh *ghapi.Client
	var err error
	if token != "" {
		gh, err = ghapi.New(apiURL, token, httpClient())
	} else {
		gh, err = ghapi.NewAnonymous(apiURL, httpClient())
	}
	if err != nil {
		return nil, err
	}
	return &githubSource{gh: gh, authed: token != ""}, nil
}

// releaseRef is OWNER/REPO@TAG.
type releaseRef struct{ owner, repo, tag string }

func (r releaseRef) String() string { return r.owner + "/" + r.repo + "@" + r.tag }

func parseReleaseRef(s string) (releaseRef, error) {
	full, tag, ok := strings.Cut(s, "@")
	owner, repo, ok2 := strings.Cut(full, "/")
	if !ok || !ok2 || owner == "" || repo == "" || tag == "" || strings.Contains(repo, "/") {
		return releaseRef{}, fault.Usagef("verify: --release: expected OWNER/REPO@TAG, got %q", s)
	}
	return releaseRef{owner, repo, tag}, nil
}

func parseRepo(s string) (owner, repo string, err error) {
	owner, repo, ok := strings.Cut(s, "/")
	if !ok || owner == "" || repo == "" || strings.Contains(repo, "/") {
		return "", "", fault.Usagef("verify: --repo: expected OWNER/REPO, got %q", s)
	}
	return owner, repo, nil
}

// trustedRootAsset is the name the gate publishes the trusted root under.
const trustedRootAsset = "trusted_root.json"

// releaseFiles is what verify reads from a release: its bundles, its
// trusted root (when asked for), and every other asset: what it ships.
type releaseFiles struct {
	bundles []verify.Bundle
	root    []byte
	assets  []ghapi.Asset
}

// releaseBundles downloads every *.sigstore.json asset of a release, and its
// trusted_root.json when withRoot, and lists the other assets. A release
// that cannot be found is an operational failure that says why it may be
// hidden.
func (g *githubSource) releaseBundles(ctx context.Context, ref releaseRef, withRoot bool) (*releaseFiles, error) {
	rel, err := g.gh.ReleaseByTag(ctx, ref.owner, ref.repo, ref.tag)
	if ghapi.IsNotFound(err) {
		hint := "draft releases and private repositories are visible only with a token: set GITHUB_TOKEN"
		if g.authed {
			hint = "the token cannot see it (drafts need a token that may push to the repository)"
		}
		return nil, fault.Operationalf("verify: --release %s: no such release (HTTP 404): it does not exist, or %s", ref, hint)
	}
	if err != nil {
		return nil, fmt.Errorf("verify: --release %s: %w", ref, err)
	}
	assets, err := g.gh.ReleaseAssets(ctx, ref.owner, ref.repo, rel.ID)
	if err != nil {
		return nil, fmt.Errorf("verify: --release %s: %w", ref, err)
	}
	out := &releaseFiles{}
	for _, a := range assets {
		isBundle := strings.HasSuffix(strings.ToLower(a.Name), ".sigstore.json")
		if !isBundle && a.Name != trustedRootAsset {
			out.assets = append(out.assets, a)
			continue
		}
		if !isBundle && !withRoot {
			continue
		}
		data, err := g.gh.DownloadReleaseAsset(ctx, ref.owner, ref.repo, a.ID)
		if err != nil {
			return nil, fmt.Errorf("verify: --release %s: %w", ref, err)
		}
		if isBundle {
			out.bundles = append(out.bundles, verify.Bundle{Name: ref.String() + "/" + a.Name, Data: data})
		} else {
			out.root = data
		}
	}
	if withRoot && out.root == nil {
		return nil, denied(fmt.Sprintf("verify: --trusted-root-from-release: release %s has no %s asset", ref, trustedRootAsset))
	}
	return out, nil
}

// selectAssets keeps the assets whose names match one of globs (path.Match,
// as the gate's subjects input); no globs keeps all.
func selectAssets(assets []ghapi.Asset, globs []string) []ghapi.Asset {
	if len(globs) == 0 {
		return assets
	}
	var out []ghapi.Asset
	for _, a := range assets {
		if slices.ContainsFunc(globs, func(g string) bool { ok, _ := path.Match(g, a.Name); return ok }) {
			out = append(out, a)
		}
	}
	return out
}

// assetNames lists asset names for a message, quoted and bounded.
func assetNames(assets []ghapi.Asset) string {
	var names []string
	for i, a := range assets {
		if i == 10 {
			names = append(names, fmt.Sprintf("and %d more", len(assets)-i))
			break
		}
		names = append(names, strconv.Quote(clip(a.Name, 80)))
	}
	return strings.Join(names, ", ")
}

// assetArtifacts makes each asset an artifact named by its asset name, with
// the sha256 GitHub reports for it: the digest the gate signs release assets
// by (internal/gate's subjectsFor). An asset GitHub reports no digest for
// (older GitHub, GHES) is downloaded and hashed as it streams. A digest that
// is there but malformed fails that asset in the report: the auditor sees
// which one, and the run cannot pass.
func (g *githubSource) assetArtifacts(ctx context.Context, ref releaseRef, assets []ghapi.Asset) ([]verify.Artifact, error) {
	if len(assets) == 0 {
		return nil, fault.Usagef("verify: --release %s: no asset to verify besides *.sigstore.json and %s: name the artifact (ARTIFACT, or --digest ALG:HEX; a decision about the tag's commit: --digest gitCommit:SHA)",
			ref, trustedRootAsset)
	}
	out := make([]verify.Artifact, 0, len(assets))
	for _, a := range assets {
		art, err := audit.AssetArtifact(ctx, g.gh, ref.owner, ref.repo, a)
		if err != nil {
			return nil, fmt.Errorf("verify: --release %s: %w", ref, err)
		}
		out = append(out, art)
	}
	return out, nil
}

// clip shortens s to at most n bytes, on a character boundary, marking the
// cut: text from a service goes into messages quoted and bounded.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := 0
	for i := range s {
		if i > n {
			break
		}
		cut = i
	}
	return s[:cut] + "…"
}

// storeBundles asks the attestation store for each artifact's sha256 (the
// digest GitHub indexes by). A 404 means none; GitHub answers it also for an
// unknown or hidden repository, which is no attestation either.
func (g *githubSource) storeBundles(ctx context.Context, owner, repo string, artifacts []verify.Artifact) ([]verify.Bundle, error) {
	var out []verify.Bundle
	for _, a := range artifacts {
		d, ok := a.Digests["sha256"]
		if !ok {
			return nil, fault.Usagef("verify: GitHub's attestation store is indexed by sha256: %s has no sha256 digest", a.Name)
		}
		digest := "sha256:" + hex.EncodeToString(d)
		found, err := g.gh.Attestations(ctx, owner, repo, digest)
		if ghapi.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("verify: %w", err)
		}
		for i, a := range found {
			// A record whose bundle_url did not yield a bundle stays in the
			// batch as a failed bundle: skipping it would hide a record.
			out = append(out, verify.Bundle{Name: fmt.Sprintf("%s/%s attestations/%s #%d", owner, repo, digest, i+1), Data: a.Bundle, Err: a.Err})
		}
	}
	return out, nil
}
