package attest

import (
	"bytes"
	"fmt"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/verify"

	"github.com/airlock-dev/airlock/internal/fault"
)

// Verify checks a bundle this airlock run made before it may be published:
// the signature, certificate chain and timestamps against the trusted
// material, the identity (keyless) or key hint, and that the signed payload
// is exactly the statement airlock meant to sign with the verdict it meant
// to sign. Any failure is operational: the services answered with something
// that does not hold, so nothing is published.
func Verify(s *Signed, e Expectation, wantDecision string) (*Predicate, error) {
	p, err := verifyBundle(s, e, wantDecision)
	if err != nil {
		return nil, fault.Operational(fmt.Errorf("verify the signed decision before publishing: %w", err))
	}
	return p, nil
}

func verifyBundle(s *Signed, e Expectation, wantDecision string) (*Predicate, error) {
	if err := verifySigned(s, e, PredicateType); err != nil {
		return nil, err
	}
	p, err := DecodePredicate(s.Statement)
	if err != nil {
		return nil, err
	}
	if p.Decision != wantDecision {
		return nil, fmt.Errorf("bundle: expected decision %q, got %q", wantDecision, p.Decision)
	}
	return p, nil
}

// verifySigned checks the bundle against the expectation and that its
// payload is exactly s.Statement, a valid statement of predicateType.
func verifySigned(s *Signed, e Expectation, predicateType string) error {
	if e.Material == nil {
		return fmt.Errorf("no trusted material")
	}
	var b bundle.Bundle
	if err := b.UnmarshalJSON(s.Bundle); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	if mt := b.GetMediaType(); mt != "application/vnd.dev.sigstore.bundle.v0.3+json" {
		return fmt.Errorf("bundle: expected media type v0.3, got %q", mt)
	}
	env := b.GetDsseEnvelope()
	if env == nil {
		return fmt.Errorf("bundle: expected a DSSE envelope")
	}
	if env.GetPayloadType() != PayloadType {
		return fmt.Errorf("bundle: expected payload type %q, got %q", PayloadType, env.GetPayloadType())
	}
	if !bytes.Equal(env.GetPayload(), s.Statement) {
		return fmt.Errorf("bundle: the signed payload is not the statement airlock built")
	}

	var vopts []verify.VerifierOption
	if e.Timestamps > 0 {
		vopts = append(vopts, verify.WithSignedTimestamps(e.Timestamps))
	}
	if e.TlogEntries > 0 {
		vopts = append(vopts, verify.WithTransparencyLog(e.TlogEntries))
		if e.Timestamps == 0 {
			vopts = append(vopts, verify.WithIntegratedTimestamps(e.TlogEntries))
		}
	}
	var popts []verify.PolicyOption
	if e.SAN != "" {
		if e.Timestamps == 0 && e.TlogEntries == 0 {
			return fmt.Errorf("a certificate needs a signed time to verify against")
		}
		id, err := verify.NewShortCertificateIdentity(e.Issuer, "", e.SAN, "")
		if err != nil {
			return fmt.Errorf("expected identity: %w", err)
		}
		popts = append(popts, verify.WithCertificateIdentity(id))
	} else {
		if e.KeyHint == "" {
			return fmt.Errorf("neither an identity nor a key to verify against")
		}
		if got := b.GetVerificationMaterial().GetPublicKey().GetHint(); got != e.KeyHint {
			return fmt.Errorf("bundle: expected key hint %q, got %q", e.KeyHint, got)
		}
		if e.Timestamps == 0 {
			vopts = append(vopts, verify.WithNoObserverTimestamps())
		}
		popts = append(popts, verify.WithKey())
	}
	v, err := verify.NewVerifier(e.Material, vopts...)
	if err != nil {
		return fmt.Errorf("verifier: %w", err)
	}
	res, err := v.Verify(&b, verify.NewPolicy(verify.WithoutArtifactUnsafe(), popts...))
	if err != nil {
		return err
	}
	if res.Statement == nil || res.Statement.GetPredicateType() != predicateType {
		return fmt.Errorf("bundle: expected predicate type %q", predicateType)
	}
	_, err = parseStatementOf(env.GetPayload(), predicateType)
	return err
}
