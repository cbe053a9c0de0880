package gate

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/airlock-dev/airlock/internal/attest"
	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/ghapi"
	"github.com/airlock-dev/airlock/internal/identity"
)

// RevokeRequest is which decision to revoke, why, and where the revocation
// goes: where the decision lives.
type RevokeRequest struct {
	// Decision is the decision's bundle; DecisionName where it was found.
	Decision     []byte
	DecisionName string
	Reason       string
	// Owner/Repo name the repository whose release (Tag) and attestation
	// store (ac.PublishAttestation) receive the revocation. Empty Tag: no
	// release asset.
	Owner, Repo, Tag string
}

// SignedRevocation is a revocation signed, verified and written to
// ac.OutDir, not yet published.
type SignedRevocation struct {
	Path      string
	AssetName string
	Predicate *attest.RevocationPredicate
	bundle    []byte
	root      []byte
}

// RevocationPrefix starts the file and asset name of every revocation.
const RevocationPrefix = "airlock-revocation-"

// SignRevocation signs the revocation of req.Decision exactly as the gate
// signs a decision: keyless as the job's workflow (its OIDC token, verified
// first, names the revoker) or with the key. The bundle is verified before
// it is written; nothing is published here.
func SignRevocation(ctx context.Context, cfg Config, ac AttestConfig, req RevokeRequest, deps AttestDeps) (*SignedRevocation, error) {
	if ac.Signer != SignerSigstore && ac.Signer != SignerKey {
		return nil, fault.Configf("signer: %q: a revocation must be signed: expected sigstore or key", ac.Signer)
	}
	if ac.MaxTTL == 0 {
		ac.MaxTTL = DefaultDecisionTTL // a revocation has no validity window
	}
	if err := ac.Validate(); err != nil {
		return nil, err
	}
	if ac.OutDir == "" {
		return nil, fault.Configf("revoke: no output directory")
	}
	if deps.HTTPClient == nil || deps.Now == nil {
		return nil, fault.Configf("revoke: HTTPClient and Now are required")
	}
	if err := attest.CheckReason(req.Reason); err != nil {
		return nil, fault.Config(err)
	}
	ref, err := attest.InspectDecision(req.Decision)
	if err != nil {
		return nil, fault.Configf("revoke %s: %w", req.DecisionName, err)
	}
	mask := deps.Mask
	if mask == nil {
		mask = func(string) {}
	}

	var claims *identity.Claims
	revoker := attest.Revoker{}
	if ac.Signer == SignerSigstore {
		// The revoker is who the verified token says ran this job; the
		// certificate Fulcio issues names the same workflow.
		if claims, err = Identify(ctx, cfg, Deps{HTTPClient: deps.HTTPClient, Now: deps.Now, Mask: mask}); err != nil {
			return nil, fmt.Errorf("revoke: the job's identity: %w", err)
		}
		revoker = attest.Revoker{Identity: "https://github.com/" + claims.JobWorkflowRef, Issuer: claims.Issuer,
			Repository: claims.Repository, RunID: claims.RunID, RunAttempt: claims.RunAttempt, Actor: claims.Actor}
	}
	signer, err := newSigner(ctx, cfg, ac, deps, claims, mask)
	if err != nil {
		return nil, notRevoked(err)
	}
	exp := signer.Expectation()
	if ac.Signer == SignerKey {
		revoker.Identity = "key:" + exp.KeyHint
	} else {
		revoker.Identity = exp.SAN
	}
	pred := attest.RevocationPredicate{
		Revoked: attest.RevokedDecision{PayloadDigest: ref.PayloadDigest, PredicateType: attest.PredicateType,
			Environment: ref.Environment, IssuedAt: ref.IssuedAt, Bundle: req.DecisionName},
		Reason: req.Reason, RevokedAt: deps.Now().UTC().Truncate(time.Second), Revoker: revoker,
		Airlock: attest.Tool{Version: ac.Version},
	}
	statement, err := attest.NewRevocationStatement(ref, pred)
	if err != nil {
		return nil, fault.Config(err)
	}
	signed, err := signer.Sign(ctx, statement)
	if err != nil {
		return nil, notRevoked(err)
	}
	verified, err := attest.VerifyRevocation(signed, exp)
	if err != nil {
		return nil, notRevoked(fault.Operational(err))
	}
	hx := strings.TrimPrefix(ref.PayloadDigest, "sha256:")
	out := &SignedRevocation{Predicate: verified, bundle: signed.Bundle, root: exp.TrustedRootJSON,
		AssetName: fmt.Sprintf("%s%s-%d.sigstore.json", RevocationPrefix, hx[:16], pred.RevokedAt.Unix())}
	out.Path = filepath.Join(ac.OutDir, out.AssetName)
	if err := os.WriteFile(out.Path, append(signed.Bundle, '\n'), 0o644); err != nil {
		return nil, notRevoked(fmt.Errorf("write %s: %w", out.Path, err))
	}
	// The trusted root is the decision's: the auditor already has it, and
	// a file of that name in OutDir is not this command's to replace.
	return out, nil
}

// RevocationPublished says where a revocation went.
type RevocationPublished struct {
	ReleaseAsset  string // "" when not attached to a release
	AttestationID int64
}

// PublishRevocation attaches the revocation to the decision's release (next
// to the decision's bundle) and stores it in the attestation store, where
// verifiers look for decisions. A published, immutable release cannot take
// it: that is a configuration error naming the other places.
func PublishRevocation(ctx context.Context, cfg Config, ac AttestConfig, req RevokeRequest, s *SignedRevocation, deps AttestDeps) (*RevocationPublished, error) {
	if s == nil {
		return nil, fault.Configf("publish: nothing was signed")
	}
	out := &RevocationPublished{}
	if req.Tag == "" && !ac.PublishAttestation {
		return out, nil
	}
	var opts []ghapi.Option
	if ac.UploadURL != "" {
		opts = append(opts, ghapi.WithUploadURL(ac.UploadURL))
	}
	gh, err := ghapi.New(cfg.APIURL, cfg.GitHubToken, deps.HTTPClient, opts...)
	if err != nil {
		return nil, err
	}
	if req.Tag != "" {
		rel, err := gh.ReleaseByTag(ctx, req.Owner, req.Repo, req.Tag)
		if err != nil {
			return nil, notRevoked(fmt.Errorf("find the release %s/%s@%s: %w", req.Owner, req.Repo, req.Tag, err))
		}
		if rel.Immutable && !rel.Draft {
			return nil, fault.Configf("release %s of %s/%s is published and immutable: it cannot take the revocation. Publish it to the attestation store (--publish-attestation) and hand %s to verifiers (--revocations DIR)", req.Tag, req.Owner, req.Repo, s.Path)
		}
		assets, err := gh.ReleaseAssets(ctx, req.Owner, req.Repo, rel.ID)
		if err != nil {
			return nil, notRevoked(err)
		}
		if err := replaceAsset(ctx, gh, req.Owner, req.Repo, rel.ID, assets, s.AssetName, s.bundle); err != nil {
			return nil, notRevoked(err)
		}
		if len(s.root) > 0 {
			if err := uploadTrustedRoot(ctx, gh, req.Owner, req.Repo, rel.ID, assets, s.root); err != nil {
				return nil, notRevoked(err)
			}
		}
		out.ReleaseAsset = s.AssetName
	}
	if ac.PublishAttestation {
		id, err := gh.CreateAttestation(ctx, req.Owner, req.Repo, s.bundle)
		if err != nil {
			return nil, notRevoked(fmt.Errorf("store in the attestations API: %w", err))
		}
		out.AttestationID = id
	}
	return out, nil
}

// notRevoked classifies a failure to sign or publish: the configuration
// stays exit 2, anything else is operational. The decision still counts.
func notRevoked(err error) error {
	if k := fault.KindOf(err); k == fault.KindConfig || k == fault.KindUsage {
		return err
	}
	return fault.Operationalf("revocation not published (the decision still counts): %w", err)
}
