package gate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/airlock-dev/airlock/internal/attest"
	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/ghapi"
	"github.com/airlock-dev/airlock/internal/identity"
	"github.com/airlock-dev/airlock/internal/tufroot"
)

// Signer kinds (input signer).
const (
	SignerNone     = "none"
	SignerSigstore = "sigstore"
	SignerKey      = "key"
)

// Where the signature's time comes from (input transparency-log).
const (
	LogAuto  = "auto"  // public repositories: Rekor; private and internal: a timestamp authority
	LogRekor = "rekor" // a Rekor entry
	LogTSA   = "tsa"   // an RFC 3161 timestamp
)

// Public-good Sigstore, and GitHub's Sigstore instance for private
// repositories (as actions/attest uses them).
var (
	PublicGoodServices = attest.Services{FulcioURL: "https://fulcio.sigstore.dev", RekorURL: "https://rekor.sigstore.dev"}
	GitHubServices     = attest.Services{FulcioURL: "https://fulcio.githubapp.com", TSAURL: "https://timestamp.githubapp.com/api/v1/timestamp"}
)

// ResolveServices fills the services the configuration leaves empty: a
// public repository signs with public-good Sigstore and a Rekor entry,
// others with GitHub's instance and a timestamp, unless Log says otherwise.
func ResolveServices(ac AttestConfig, visibility string) (attest.Services, error) {
	mode := ac.Log
	if mode == "" || mode == LogAuto {
		mode = LogTSA
		if visibility == "public" {
			mode = LogRekor
		}
	}
	def := GitHubServices
	if visibility == "public" {
		def = PublicGoodServices
	}
	s := ac.Services
	if s.FulcioURL == "" {
		s.FulcioURL = def.FulcioURL
	}
	switch mode {
	case LogRekor:
		if s.RekorURL == "" {
			s.RekorURL = PublicGoodServices.RekorURL
		}
		s.TSAURL = ""
	case LogTSA:
		if s.TSAURL == "" {
			s.TSAURL = GitHubServices.TSAURL
		}
		s.RekorURL = ""
	default:
		return s, fault.Configf("input transparency-log: %q: expected auto, rekor or tsa", ac.Log)
	}
	return s, nil
}

// DefaultDecisionTTL is how long a decision is valid unless the workflow
// asks for less (policy caps it).
const DefaultDecisionTTL = time.Hour

// SigstoreAudience is the audience Fulcio accepts.
const SigstoreAudience = "sigstore"

// TrustedRootAsset is the release asset name of the trusted root.
const TrustedRootAsset = "trusted_root.json"

// AttestConfig is how the decision is signed and where it is published.
type AttestConfig struct {
	Signer string
	// TTL is the requested validity; 0 means DefaultDecisionTTL. MaxTTL
	// (from policy) caps it.
	TTL    time.Duration
	MaxTTL time.Duration
	// Subjects are globs over the release's asset names; empty: the commit.
	Subjects   []string
	ReleaseTag string
	AttestDeny bool
	// Services and TrustedRootJSON configure keyless signing. Empty URLs
	// are chosen by Log and the repository's visibility (ResolveServices).
	Services        attest.Services
	Log             string // LogAuto, LogRekor, LogTSA
	TrustedRootJSON []byte
	// TUF is where the trusted root comes from when TrustedRootJSON is
	// empty: the repository given, or else the one matching the default
	// Fulcio (public-good for public repositories, GitHub's instance for
	// the others).
	TUF TUFConfig
	// KeyPEM is the key signer's private key (a secret).
	KeyPEM []byte
	// PublishAttestation posts the bundle to the attestations API.
	PublishAttestation bool
	UploadURL          string
	ServerURL          string
	OutDir             string
	Version            string
}

// TUFConfig names a TUF repository holding the trusted root. URL and Root
// go together; both empty means the default for the repository.
type TUFConfig struct {
	URL      string
	Root     []byte
	CacheDir string
}

// Repository picks the TUF repository of the trusted root for a
// repository of this visibility, the same way ResolveServices picks Fulcio.
func (t TUFConfig) Repository(visibility string) tufroot.Repository {
	switch {
	case t.URL != "":
		return tufroot.Repository{URL: t.URL, Root: t.Root}
	case visibility == "public":
		return tufroot.PublicGood()
	default:
		return tufroot.GitHub()
	}
}

// AttestDeps are the side effects of the attestation step.
type AttestDeps struct {
	HTTPClient *http.Client
	Now        func() time.Time
	Mask       func(string)
	Retry      attest.Retry
}

// Attestation is what the step produced.
type Attestation struct {
	BundlePath      string
	TrustedRootPath string
	AssetName       string
	Published       bool
	AttestationID   int64
	AttestationURL  string
	Predicate       *attest.Predicate
	// Skipped says why nothing was signed (empty when signed).
	Skipped string
}

// Validate rejects an attestation configuration that cannot work.
func (a AttestConfig) Validate() error {
	switch a.Signer {
	case SignerNone:
		return nil
	case SignerSigstore:
		if err := a.validateTrust(); err != nil {
			return err
		}
		if _, err := ResolveServices(a, ""); err != nil {
			return err
		}
	case SignerKey:
		if len(a.KeyPEM) == 0 {
			return fault.Configf("signer key: the private key variable is empty")
		}
		// Parsed now, not when signing: a bad key is refused before the
		// first request.
		if err := attest.CheckPrivateKey(a.KeyPEM); err != nil {
			return err
		}
	default:
		return fault.Configf("input signer: %q: expected sigstore, key or none", a.Signer)
	}
	if a.TTL < 0 {
		return fault.Configf("input decision-ttl: expected > 0, got %s", a.TTL)
	}
	if a.MaxTTL <= 0 {
		return fault.Configf("policy param attest.max_decision_ttl_seconds: expected > 0")
	}
	if len(a.Subjects) > 0 && a.ReleaseTag == "" {
		return fault.Configf("input subjects: release asset globs need input release-tag")
	}
	for _, g := range a.Subjects {
		if _, err := path.Match(g, ""); err != nil {
			return fault.Configf("input subjects: %q: %w", g, err)
		}
	}
	return nil
}

// validateTrust rejects ambiguous or incomplete trust: one source of the
// trusted root, and a custom Fulcio never judged by a default root that
// cannot know its CA.
func (a AttestConfig) validateTrust() error {
	hasTUF := a.TUF.URL != "" || len(a.TUF.Root) > 0
	switch {
	case len(a.TrustedRootJSON) > 0 && hasTUF:
		return fault.Configf("input trusted-root: give either a trusted root file or tuf-url and tuf-root, not both")
	case hasTUF && (a.TUF.URL == "" || len(a.TUF.Root) == 0):
		return fault.Configf("inputs tuf-url and tuf-root: give both (the repository and the root.json that anchors trust in it)")
	case hasTUF:
		if err := tufroot.CheckURL(a.TUF.URL); err != nil {
			return fault.Configf("input tuf-url: %w", err)
		}
	case len(a.TrustedRootJSON) == 0 && a.Services.FulcioURL != "":
		return fault.Configf("input trusted-root: a custom fulcio-url needs its trusted root: give trusted-root, or tuf-url and tuf-root")
	}
	if len(a.TrustedRootJSON) > 0 {
		if err := attest.CheckTrustedRoot(a.TrustedRootJSON); err != nil {
			return fault.Configf("input trusted-root: %w", err)
		}
	}
	if len(a.TrustedRootJSON) == 0 && a.TUF.CacheDir == "" {
		return fault.Configf("attestation: no TUF cache directory")
	}
	return nil
}

// Signed is a decision signed, verified and written to OutDir, not yet
// published.
type Signed struct {
	Attestation
	bundle, trustedRoot []byte
	owner, repo         string
	claims              *identity.Claims
	gh                  *ghapi.Client
	release             *ghapi.Release
	assets              []ghapi.Asset
}

// Sign signs the decision in res, verifies the bundle and writes it to
// ac.OutDir. A nil *Signed with a nil error means nothing was to be signed
// (signer none). Any failure after the decision is an error: "decision
// made but not attested" never ends in exit 0.
func Sign(ctx context.Context, cfg Config, ac AttestConfig, res *Result, deps AttestDeps) (*Signed, error) {
	if ac.Signer == SignerNone || ac.Signer == "" {
		return &Signed{Attestation: Attestation{Skipped: "signer is none"}}, nil
	}
	if err := ac.Validate(); err != nil {
		return nil, err
	}
	if ac.OutDir == "" {
		return nil, fault.Configf("attestation: no output directory")
	}
	if deps.HTTPClient == nil || deps.Now == nil {
		return nil, fault.Configf("attest: HTTPClient and Now are required")
	}
	mask := deps.Mask
	if mask == nil {
		mask = func(string) {}
	}
	verdict := res.Decision.Verdict()
	claims, _ := res.Evidence.Identity.Claims.(*identity.Claims)
	if res.Decision.Allow && (claims == nil || !res.Evidence.Identity.Verified) {
		return nil, fault.Configf("attestation: an allow without a verified identity cannot be signed (gate.Evaluate refuses such an allow)")
	}
	if claims == nil || !res.Evidence.Identity.Verified {
		// Nothing verified names the run: there is no identity to sign as
		// or to name the subject by. The deny stands, unsigned.
		return &Signed{Attestation: Attestation{Skipped: "the run's identity did not verify, so there is no identity to sign the deny as"}}, nil
	}
	fail := func(err error) (*Signed, error) { return nil, notAttested(verdict, err) }

	owner, repo, ok := strings.Cut(claims.Repository, "/")
	if !ok {
		return nil, fault.Operationalf("attest: verified repository claim %q is not owner/name", claims.Repository)
	}
	out := &Signed{owner: owner, repo: repo, claims: claims}
	if ac.ReleaseTag != "" {
		var opts []ghapi.Option
		if ac.UploadURL != "" {
			opts = append(opts, ghapi.WithUploadURL(ac.UploadURL))
		}
		c, err := ghapi.New(cfg.APIURL, cfg.GitHubToken, deps.HTTPClient, opts...)
		if err != nil {
			return nil, err
		}
		out.gh = c
		if out.release, err = c.ReleaseByTag(ctx, owner, repo, ac.ReleaseTag); err != nil {
			return fail(fmt.Errorf("find the release: %w", err))
		}
		if out.release.Immutable && !out.release.Draft {
			return nil, fault.Configf("release %s of %s is published and immutable: its assets cannot change. Attach the decision before publishing: create the release as a draft, run airlock, then publish", ac.ReleaseTag, claims.Repository)
		}
		if out.assets, err = c.ReleaseAssets(ctx, owner, repo, out.release.ID); err != nil {
			return fail(err)
		}
	}
	subjects, err := subjectsFor(ac, claims, out.assets)
	if err != nil {
		return nil, err
	}

	validity, err := DecisionValidity(ac, deps.Now())
	if err != nil {
		return nil, err
	}
	if res.Validity != nil {
		validity = *res.Validity
	}
	pred := attest.NewPredicate(res.Evidence, res.Decision, claims, ac.Version, validity)
	pred.Credential = res.Credential
	statement, err := attest.NewStatement(subjects, pred)
	if err != nil {
		return nil, fault.Operational(err)
	}

	signer, err := newSigner(ctx, cfg, ac, deps, claims, mask)
	if err != nil {
		return fail(err)
	}
	signed, err := signer.Sign(ctx, statement)
	if err != nil {
		return fail(err)
	}
	exp := signer.Expectation()
	verified, err := attest.Verify(signed, exp, verdict)
	if err != nil {
		return fail(err)
	}

	out.Predicate = verified
	out.AssetName = assetName(claims, res.Evidence.Request.Environment)
	out.bundle, out.trustedRoot = signed.Bundle, exp.TrustedRootJSON
	out.BundlePath = filepath.Join(ac.OutDir, out.AssetName)
	if err := os.WriteFile(out.BundlePath, append(signed.Bundle, '\n'), 0o644); err != nil {
		return fail(fmt.Errorf("write %s: %w", out.BundlePath, err))
	}
	if len(out.trustedRoot) > 0 {
		out.TrustedRootPath = filepath.Join(ac.OutDir, TrustedRootAsset)
		if err := os.WriteFile(out.TrustedRootPath, out.trustedRoot, 0o644); err != nil {
			return fail(fmt.Errorf("write %s: %w", out.TrustedRootPath, err))
		}
	}
	return out, nil
}

// DecisionValidity is the window a decision made now is valid for: the
// requested TTL (DefaultDecisionTTL when none), capped by policy's MaxTTL.
func DecisionValidity(ac AttestConfig, now time.Time) (attest.Validity, error) {
	ttl := ac.TTL
	if ttl == 0 {
		ttl = DefaultDecisionTTL
	}
	if ac.MaxTTL > 0 {
		ttl = min(ttl, ac.MaxTTL)
	}
	v, err := attest.NewValidity(now, ttl)
	if err != nil {
		return v, fault.Config(err)
	}
	return v, nil
}

// Publish attaches the signed decision to the release and stores it in the
// attestations API: an allow always, a deny only with AttestDeny (and a
// deny removes this attempt's earlier asset).
func Publish(ctx context.Context, cfg Config, ac AttestConfig, res *Result, s *Signed, deps AttestDeps) (*Attestation, error) {
	if s == nil {
		return nil, fault.Configf("publish: nothing was signed")
	}
	out := s.Attestation
	if out.Skipped != "" {
		return &out, nil
	}
	fail := func(err error) (*Attestation, error) { return nil, notAttested(res.Decision.Verdict(), err) }
	gh := s.gh
	publish := res.Decision.Allow || ac.AttestDeny
	if s.release != nil {
		if publish {
			if err := replaceAsset(ctx, gh, s.owner, s.repo, s.release.ID, s.assets, out.AssetName, s.bundle); err != nil {
				return fail(err)
			}
			if len(s.trustedRoot) > 0 {
				if err := uploadTrustedRoot(ctx, gh, s.owner, s.repo, s.release.ID, s.assets, s.trustedRoot); err != nil {
					return fail(err)
				}
			}
			out.Published = true
		} else if err := removeOwn(ctx, gh, s.owner, s.repo, s.assets, out.AssetName); err != nil {
			// A deny of this attempt must not leave an earlier allow of the
			// same attempt on the release.
			return fail(err)
		}
	}
	if publish && ac.PublishAttestation {
		if gh == nil {
			var err error
			if gh, err = ghapi.New(cfg.APIURL, cfg.GitHubToken, deps.HTTPClient); err != nil {
				return nil, err
			}
		}
		id, err := gh.CreateAttestation(ctx, s.owner, s.repo, s.bundle)
		if err != nil {
			return fail(fmt.Errorf("store in the attestations API: %w", err))
		}
		out.AttestationID = id
		if ac.ServerURL != "" {
			out.AttestationURL = strings.TrimSuffix(ac.ServerURL, "/") + "/" + s.claims.Repository + "/attestations/" + strconv.FormatInt(id, 10)
		}
		out.Published = true
	}
	return &out, nil
}

// notAttested classifies a failure after the decision: the workflow's
// configuration stays exit 2; anything else is operational.
func notAttested(verdict string, err error) error {
	if k := fault.KindOf(err); k == fault.KindConfig || k == fault.KindUsage {
		return err
	}
	return fault.Operationalf("decision %s made but not attested: %w", verdict, err)
}

func newSigner(ctx context.Context, cfg Config, ac AttestConfig, deps AttestDeps, claims *identity.Claims, mask func(string)) (attest.Signer, error) {
	switch ac.Signer {
	case SignerKey:
		return attest.NewKeySigner(attest.KeyConfig{
			PrivateKeyPEM: ac.KeyPEM, TSAURL: ac.Services.TSAURL, TrustedRootJSON: ac.TrustedRootJSON,
			HTTPClient: deps.HTTPClient, Retry: deps.Retry, Now: deps.Now,
		})
	default:
		services, err := ResolveServices(ac, claims.RepositoryVisibility)
		if err != nil {
			return nil, err
		}
		rootJSON := ac.TrustedRootJSON
		if len(rootJSON) == 0 {
			tc := tufroot.Client{HTTPClient: deps.HTTPClient, CacheDir: ac.TUF.CacheDir}
			if rootJSON, err = tc.TrustedRoot(ctx, ac.TUF.Repository(claims.RepositoryVisibility)); err != nil {
				return nil, fmt.Errorf("trusted root: %w", err)
			}
		}
		tok, err := identity.Fetch(ctx, deps.HTTPClient, cfg.TokenRequestURL, cfg.TokenRequestToken, SigstoreAudience)
		if err != nil {
			return nil, fmt.Errorf("request the signing token: %w", err)
		}
		mask(tok)
		return attest.NewKeylessSigner(attest.KeylessConfig{
			Services: services, IDToken: tok, TrustedRootJSON: rootJSON,
			// Fulcio's github-workflow type names the job's workflow.
			SAN: "https://github.com/" + claims.JobWorkflowRef, Issuer: claims.Issuer,
			HTTPClient: deps.HTTPClient, Retry: deps.Retry, Now: deps.Now,
		})
	}
}

var unsafeName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`[^A-Za-z0-9._-]+`) })

// assetName is unique per run attempt and environment, and carries no
// verdict: a re-run of the same attempt replaces its own asset whatever it
// decided.
func assetName(c *identity.Claims, env string) string {
	name := fmt.Sprintf("airlock-decision-%s-%s-%s", env, c.RunID, c.RunAttempt)
	return unsafeName().ReplaceAllString(name, "_") + ".sigstore.json"
}

func subjectsFor(ac AttestConfig, c *identity.Claims, assets []ghapi.Asset) ([]attest.Subject, error) {
	if len(ac.Subjects) == 0 {
		name := c.Repository + "@" + c.Ref
		if ac.ReleaseTag != "" {
			name = c.Repository + "@refs/tags/" + ac.ReleaseTag
		}
		return []attest.Subject{{Name: name, Digest: map[string]string{"gitCommit": c.SHA}}}, nil
	}
	var out []attest.Subject
	for _, a := range assets {
		if strings.HasSuffix(a.Name, ".sigstore.json") || a.Name == TrustedRootAsset {
			continue
		}
		for _, g := range ac.Subjects {
			if ok, _ := path.Match(g, a.Name); !ok {
				continue
			}
			alg, hexd, ok := strings.Cut(a.Digest, ":")
			if !ok || alg != "sha256" {
				return nil, fault.Operationalf("subjects: release asset %q has no sha256 digest (GitHub reported %q)", a.Name, a.Digest)
			}
			out = append(out, attest.Subject{Name: a.Name, Digest: map[string]string{"sha256": hexd}})
			break
		}
	}
	if len(out) == 0 {
		return nil, fault.Configf("subjects: no asset of release %s matches %q", ac.ReleaseTag, ac.Subjects)
	}
	return out, nil
}

// replaceAsset uploads name, replacing an asset of the same name (this run
// attempt's own, by construction of the name); it never touches others.
func replaceAsset(ctx context.Context, gh *ghapi.Client, owner, repo string, releaseID int64, assets []ghapi.Asset, name string, data []byte) error {
	if err := removeOwn(ctx, gh, owner, repo, assets, name); err != nil {
		return err
	}
	_, err := gh.UploadReleaseAsset(ctx, owner, repo, releaseID, name, "application/json", data)
	var exists *ghapi.AlreadyExistsError
	if errors.As(err, &exists) {
		// Raced with ourselves (a retried upload that had landed).
		now, lerr := gh.ReleaseAssets(ctx, owner, repo, releaseID)
		if lerr != nil {
			return lerr
		}
		if err := removeOwn(ctx, gh, owner, repo, now, name); err != nil {
			return err
		}
		_, err = gh.UploadReleaseAsset(ctx, owner, repo, releaseID, name, "application/json", data)
	}
	if err != nil {
		return fmt.Errorf("upload %s: %w", name, err)
	}
	return nil
}

func removeOwn(ctx context.Context, gh *ghapi.Client, owner, repo string, assets []ghapi.Asset, name string) error {
	for _, a := range assets {
		if a.Name == name {
			if err := gh.DeleteReleaseAsset(ctx, owner, repo, a.ID); err != nil {
				return fmt.Errorf("replace %s: %w", name, err)
			}
		}
	}
	return nil
}

// uploadTrustedRoot attaches the trusted root once: an identical one
// already there is kept; a different one (a rotation) gets its own name.
func uploadTrustedRoot(ctx context.Context, gh *ghapi.Client, owner, repo string, releaseID int64, assets []ghapi.Asset, root []byte) error {
	sum := sha256.Sum256(root)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	name := TrustedRootAsset
	for _, a := range assets {
		if a.Digest == digest {
			return nil
		}
		if a.Name == name {
			name = "trusted_root-" + hex.EncodeToString(sum[:6]) + ".json"
		}
	}
	for _, a := range assets {
		if a.Name == name {
			return nil
		}
	}
	_, err := gh.UploadReleaseAsset(ctx, owner, repo, releaseID, name, "application/json", root)
	var exists *ghapi.AlreadyExistsError
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("upload %s: %w", name, err)
	}
	return nil
}
