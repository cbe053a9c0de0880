// Package audit answers, for every release and every deployment of a set of
// repositories, whether it was covered by a verified, unrevoked allow
// decision that was valid when it happened: the auditor's question asked of
// a whole organization at once.
//
// Trust boundary: everything GitHub answers is untrusted; only what
// internal/verify verifies counts. A record is covered only by a decision
// that verifies against the trusted roots and the pinned signer, names this
// environment, and (with PolicyDigests) a reviewed policy.
package audit

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/ghapi"
	"github.com/airlock-dev/airlock/internal/verify"
)

// Status of one release or deployment.
const (
	Covered   = "covered"
	Uncovered = "uncovered" // no decision at all, or none for this environment
	Revoked   = "revoked"
	Expired   = "expired" // the decision had expired (or was not yet issued) at the time
	Failed    = "failed"  // decisions exist but none verifies
)

// Config is one audit run.
type Config struct {
	Repos       []ghapi.Repo
	Since       time.Time
	Environment string
	// SignerWorkflow is the pinned gate workflow; "{repo}" stands for each
	// audited OWNER/REPO.
	SignerWorkflow string
	Issuer         string
	SourceRef      string
	PolicyDigests  []string
	Revoker        verify.Identity
	Revocations    []string
	TrustedRoots   []byte
	// Concurrency bounds the repositories audited at once.
	Concurrency int
	// Blobs, when set, keeps release bundles by digest between runs.
	Blobs BlobStore
	// Progress, when set, is told of each finished repository.
	Progress func(done, total int, repo string, records int)
}

// BlobStore keeps content by "sha256:HEX".
type BlobStore interface {
	Get(digest string) ([]byte, bool)
	Put(digest string, data []byte)
}

// Record is one release or deployment and what covers it.
type Record struct {
	Kind   string    `json:"kind"` // "release" or "deployment"
	Repo   string    `json:"repo"`
	Ref    string    `json:"ref"` // the tag, or the deployment id
	Commit string    `json:"commit,omitempty"`
	URL    string    `json:"url,omitempty"`
	Time   time.Time `json:"time"` // published / deployed at: when the decision had to hold
	Status string    `json:"status"`
	// Decisions are the verified allow decisions that cover it.
	Decisions []string `json:"decisions"`
	// Reasons say why it is not covered.
	Reasons []string `json:"reasons"`
	// Notes are what an auditor should know of a covered one too: a
	// revocation that did not count (and why), a decision superseded later.
	Notes []string `json:"notes"`
}

// Summary counts records by status.
type Summary struct {
	Total     int `json:"total"`
	Covered   int `json:"covered"`
	Uncovered int `json:"uncovered"`
	Revoked   int `json:"revoked"`
	Expired   int `json:"expired"`
	Failed    int `json:"failed"`
}

// Report is an audit's result.
type Report struct {
	Environment  string    `json:"environment"`
	Since        time.Time `json:"since,omitzero"`
	Repositories []string  `json:"repositories"`
	Summary      Summary   `json:"summary"`
	Records      []Record  `json:"records"`
}

// Run audits every repository. Its error is for what stops the run (a
// GitHub answer it cannot do without, the deadline); the records finished
// before are in the report it returns with the error.
func Run(ctx context.Context, gh *ghapi.Client, cfg Config) (*Report, error) {
	if cfg.Environment == "" {
		return nil, fault.Usagef("audit: no environment")
	}
	if cfg.SignerWorkflow == "" {
		return nil, fault.Usagef("audit: no signer workflow: pin the gate's workflow (--signer-workflow)")
	}
	if len(cfg.Repos) == 0 {
		return nil, fault.Usage(ErrNoRepositories)
	}
	rep := &Report{Environment: cfg.Environment, Since: cfg.Since, Records: []Record{}, Repositories: []string{}}
	for _, r := range cfg.Repos {
		rep.Repositories = append(rep.Repositories, r.String())
	}
	if err := CheckIdentity(cfg); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	jobs := make(chan ghapi.Repo)
	var (
		mu    sync.Mutex
		done  int
		first error
	)
	workers := min(max(cfg.Concurrency, 1), len(cfg.Repos))
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for r := range jobs {
				recs, err := cfg.auditRepo(ctx, gh, r)
				mu.Lock()
				if err != nil && first == nil {
					first = err
					cancel(err)
				}
				if err == nil {
					rep.Records = append(rep.Records, recs...)
					done++
					if cfg.Progress != nil {
						cfg.Progress(done, len(cfg.Repos), r.String(), len(recs))
					}
				}
				mu.Unlock()
			}
		})
	}
feed:
	for _, r := range cfg.Repos {
		select {
		case jobs <- r:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	slices.SortFunc(rep.Records, func(a, b Record) int {
		return cmp.Or(cmp.Compare(a.Repo, b.Repo), cmp.Compare(a.Kind, b.Kind), b.Time.Compare(a.Time), cmp.Compare(a.Ref, b.Ref))
	})
	rep.Summary = summarize(rep.Records)
	if first == nil && ctx.Err() != nil {
		first = fault.Operational(ctx.Err())
	}
	if first != nil {
		return rep, fmt.Errorf("audit stopped after %d of %d repositories: %w", done, len(cfg.Repos), first)
	}
	return rep, nil
}

func summarize(recs []Record) Summary {
	s := Summary{Total: len(recs)}
	for _, r := range recs {
		switch r.Status {
		case Covered:
			s.Covered++
		case Uncovered:
			s.Uncovered++
		case Revoked:
			s.Revoked++
		case Expired:
			s.Expired++
		default:
			s.Failed++
		}
	}
	return s
}

// CheckIdentity checks the signer identity, digests and revoker of cfg as
// the first repository would use them: a typo is a usage error before any
// request.
func CheckIdentity(cfg Config) error {
	if len(cfg.Repos) == 0 {
		return fault.Usage(ErrNoRepositories)
	}
	return verify.Check(cfg.verifyConfig(cfg.Repos[0], time.Now()))
}

// verifier checks decisions of repo as they stood at at.
func (cfg Config) verifier(repo ghapi.Repo, at time.Time) (*verify.Verifier, error) {
	return verify.New(cfg.verifyConfig(repo, at))
}

func (cfg Config) verifyConfig(repo ghapi.Repo, at time.Time) verify.Config {
	id := verify.Identity{
		Repo:           repo.String(),
		SignerWorkflow: strings.ReplaceAll(cfg.SignerWorkflow, "{repo}", repo.String()),
		Issuer:         cmp.Or(cfg.Issuer, verify.GitHubActionsIssuer),
		SourceRef:      cfg.SourceRef,
	}
	return verify.Config{
		TrustedRoots: cfg.TrustedRoots, Identity: id, PolicyDigests: cfg.PolicyDigests,
		At: at, Now: time.Now, Revocations: cfg.Revocations, Revoker: cfg.Revoker, Workers: 1,
		// A decision revoked since is what an auditor must see, even if the
		// deployment came before the revocation.
		RevokedAnyTime: true,
	}
}

func (cfg Config) auditRepo(ctx context.Context, gh *ghapi.Client, repo ghapi.Repo) ([]Record, error) {
	// One verifier per repository (its identity), checked at each record's
	// own time.
	v, err := cfg.verifier(repo, time.Now())
	if err != nil {
		return nil, err
	}
	releases, err := gh.ListReleases(ctx, repo.Owner, repo.Name, cfg.Since)
	if err != nil {
		return nil, err
	}
	deployments, err := gh.ListDeployments(ctx, repo.Owner, repo.Name, cfg.Environment, cfg.Since)
	if err != nil {
		return nil, err
	}
	var out []Record
	for _, rel := range releases {
		if rel.Draft {
			continue // not released
		}
		rec, err := cfg.auditRelease(ctx, gh, v, repo, rel)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	for _, d := range deployments {
		rec, err := cfg.auditDeployment(ctx, gh, v, repo, d)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, nil
}

// TrustedRootAsset is the asset name the gate publishes its trust material
// under; it is never an artifact that needs a decision.
const TrustedRootAsset = "trusted_root.json"

func (cfg Config) auditRelease(ctx context.Context, gh *ghapi.Client, v *verify.Verifier, repo ghapi.Repo, rel ghapi.ReleaseListing) (Record, error) {
	at := rel.PublishedAt
	if at.IsZero() {
		at = rel.CreatedAt
	}
	rec := Record{Kind: "release", Repo: repo.String(), Ref: rel.Tag, URL: rel.HTMLURL, Time: at}
	var bundles []verify.Bundle
	var artifacts []verify.Artifact
	for _, a := range rel.Assets {
		switch {
		case strings.HasSuffix(a.Name, ".sigstore.json"):
			data, err := cfg.download(ctx, gh, repo, a)
			if err != nil {
				return Record{}, err
			}
			bundles = append(bundles, verify.Bundle{Name: rel.Tag + "/" + a.Name, Data: data})
		case a.Name == TrustedRootAsset:
		default:
			art, err := AssetArtifact(ctx, gh, repo.Owner, repo.Name, a)
			if err != nil {
				return Record{}, err
			}
			artifacts = append(artifacts, art)
		}
	}
	if len(artifacts) == 0 {
		// A release of source only: the decision is about the tag's commit,
		// which the deployments part audits.
		rec.Status, rec.Decisions, rec.Reasons = Covered, []string{}, []string{}
		rec.Notes = []string{"no asset besides bundles and " + TrustedRootAsset + ": the tag's commit is audited by its deployments"}
		return rec, nil
	}
	return cfg.judge(ctx, rec, v.AtTime(at), at, bundles, artifacts)
}

func (cfg Config) auditDeployment(ctx context.Context, gh *ghapi.Client, v *verify.Verifier, repo ghapi.Repo, d ghapi.Deployment) (Record, error) {
	rec := Record{Kind: "deployment", Repo: repo.String(), Ref: fmt.Sprint(d.ID), Commit: d.SHA, Time: d.CreatedAt}
	digest := "gitCommit:" + d.SHA
	found, err := gh.Attestations(ctx, repo.Owner, repo.Name, digest)
	if err != nil && !ghapi.IsNotFound(err) {
		return Record{}, err
	}
	var bundles []verify.Bundle
	for i, a := range found {
		bundles = append(bundles, verify.Bundle{Name: fmt.Sprintf("attestations/%s #%d", digest, i+1), Data: a.Bundle, Err: a.Err})
	}
	art, err := verify.ParseDigest(digest)
	if err != nil {
		return Record{}, fault.Operationalf("deployment %d: %w", d.ID, err)
	}
	art.Name = repo.String() + "@" + d.SHA
	return cfg.judge(ctx, rec, v.AtTime(d.CreatedAt), d.CreatedAt, bundles, []verify.Artifact{art})
}

// judge verifies bundles about artifacts as of at and sets the record's
// status: covered only if every artifact is covered by a verified allow for
// this environment.
func (cfg Config) judge(ctx context.Context, rec Record, v *verify.Verifier, at time.Time, bundles []verify.Bundle, artifacts []verify.Artifact) (Record, error) {
	rec.Decisions, rec.Reasons, rec.Notes = []string{}, []string{}, []string{}
	if len(bundles) == 0 {
		rec.Status, rec.Reasons, rec.Notes = Uncovered, []string{"no decision found"}, []string{}
		return rec, nil
	}
	vr, err := v.VerifyBundles(ctx, rec.Kind+" "+rec.Ref, bundles, artifacts)
	if err != nil {
		return Record{}, err
	}
	byName := map[string]*verify.Record{}
	for i := range vr.Bundles {
		byName[vr.Bundles[i].Bundle] = &vr.Bundles[i]
	}
	covered, otherEnv := true, map[string]bool{}
	var artifactReasons []string
	for _, a := range vr.Artifacts {
		ok := false
		for _, name := range a.Bundles {
			b := byName[name]
			if b == nil || !b.Verified || b.Decision != "allow" {
				continue
			}
			if b.Environment != cfg.Environment {
				otherEnv[b.Environment] = true
				continue
			}
			ok = true
			if !slices.Contains(rec.Decisions, name) {
				rec.Decisions = append(rec.Decisions, name)
			}
		}
		if !ok {
			covered = false
			if !a.Verified {
				artifactReasons = append(artifactReasons, a.Artifact+": "+strings.Join(a.Errors, "; "))
			}
		}
	}
	for _, r := range vr.Revocations {
		if !r.Counted {
			for _, e := range r.Errors {
				rec.Notes = append(rec.Notes, "ignored revocation "+r.Bundle+": "+e)
			}
		}
	}
	for _, b := range vr.Bundles {
		if b.SupersededBy != "" && b.Verified {
			rec.Notes = append(rec.Notes, b.Bundle+": superseded by "+b.SupersededBy+" (it was valid at the time)")
		}
	}
	if covered {
		rec.Status = Covered
		return rec, nil
	}
	status := Failed
	for _, b := range vr.Bundles {
		if b.Revoked != nil {
			status = Revoked
			when := ""
			if b.Revoked.RevokedAt.After(at) {
				when = fmt.Sprintf(" (after this %s at %s)", rec.Kind, at.UTC().Format(time.RFC3339))
			}
			rec.Reasons = append(rec.Reasons, fmt.Sprintf("%s: revoked at %s%s by %s: %s", b.Bundle, b.Revoked.RevokedAt.UTC().Format(time.RFC3339), when, b.Revoked.By, b.Revoked.Reason))
			continue
		}
		for _, e := range b.Errors {
			if status == Failed && (strings.HasPrefix(e, "decision expired") || strings.HasPrefix(e, "decision not yet issued")) {
				status = Expired
			}
			rec.Reasons = append(rec.Reasons, b.Bundle+": "+e)
		}
	}
	if len(otherEnv) > 0 && status == Failed {
		envs := slices.Sorted(func(yield func(string) bool) {
			for e := range otherEnv {
				if !yield(e) {
					return
				}
			}
		})
		status = Uncovered
		rec.Reasons = append(rec.Reasons, fmt.Sprintf("decisions allow environment %q only, not %q", envs, cfg.Environment))
	}
	if len(rec.Reasons) == 0 {
		// What the bundles say is more precise; the artifacts' own lines
		// say only that nothing verified covers them.
		rec.Reasons = artifactReasons
	}
	rec.Status = status
	if len(rec.Reasons) > 8 {
		rec.Reasons = append(rec.Reasons[:8], fmt.Sprintf("and %d more", len(rec.Reasons)-8))
	}
	return rec, nil
}

// download returns a bundle asset, from the blob store when GitHub's
// digest of it is already there.
func (cfg Config) download(ctx context.Context, gh *ghapi.Client, repo ghapi.Repo, a ghapi.Asset) ([]byte, error) {
	if cfg.Blobs != nil && a.Digest != "" {
		if data, ok := cfg.Blobs.Get(a.Digest); ok && digestOf(data) == a.Digest {
			return data, nil
		}
	}
	data, err := gh.DownloadReleaseAsset(ctx, repo.Owner, repo.Name, a.ID)
	if err != nil {
		return nil, err
	}
	if a.Digest != "" && digestOf(data) != a.Digest {
		// Verification would fail the bundle anyway; the store must not keep
		// bytes under a digest they do not have.
		return data, nil
	}
	if cfg.Blobs != nil && a.Digest != "" {
		cfg.Blobs.Put(a.Digest, data)
	}
	return data, nil
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// AssetArtifact makes an asset an artifact named by its asset name, with the
// sha256 GitHub reports (the digest the gate signs release assets by); an
// asset GitHub reports no digest for is downloaded and hashed as it streams.
// A malformed digest fails that artifact, never the run.
func AssetArtifact(ctx context.Context, gh *ghapi.Client, owner, repo string, a ghapi.Asset) (verify.Artifact, error) {
	if a.Digest == "" {
		h := sha256.New()
		n, err := gh.StreamReleaseAsset(ctx, owner, repo, a.ID, h, ghapi.MaxStreamedAssetBytes)
		if err != nil {
			return verify.Artifact{}, fmt.Errorf("hash asset %q (GitHub reports no digest): %w", a.Name, err)
		}
		if a.Size > 0 && n != a.Size {
			return verify.Artifact{}, fault.Operationalf("hash asset %q: downloaded %d bytes, GitHub lists %d", a.Name, n, a.Size)
		}
		return verify.Artifact{Name: a.Name, Digests: map[string][]byte{"sha256": h.Sum(nil)}}, nil
	}
	hx, ok := strings.CutPrefix(a.Digest, "sha256:")
	raw, err := hex.DecodeString(hx)
	if !ok || err != nil || len(raw) != sha256.Size {
		d := a.Digest
		if len(d) > 80 {
			d = d[:80] + "…"
		}
		return verify.Artifact{Name: a.Name,
			Failure: fmt.Sprintf("release asset %q: GitHub reported digest %q: expected sha256: and 64 hex digits", a.Name, d)}, nil
	}
	return verify.Artifact{Name: a.Name, Digests: map[string][]byte{"sha256": raw}}, nil
}

// ErrNoRepositories is a run with nothing to audit.
var ErrNoRepositories = errors.New("no repository to audit")
