package attest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/airlock-dev/airlock/internal/fault"
)

// RevocationPredicateType names and versions airlock's revocation record.
// Change it on any incompatible change, together with
// schema/revocation-predicate.schema.json.
const RevocationPredicateType = "https://github.com/airlock-dev/airlock/attestation/revocation/v1"

// PayloadSubjectName is the name of the subject that identifies the revoked
// decision by the sha256 of its DSSE payload: the signed statement itself,
// which no re-signing, re-encoding or re-upload of the bundle changes.
const PayloadSubjectName = "airlock-decision-payload"

// MaxReasonBytes bounds a revocation's reason: it is shown to auditors.
const MaxReasonBytes = 1024

// RevocationPredicate is the signed record that a decision no longer
// counts. Its statement's subjects are the decision's DSSE payload digest
// (PayloadSubjectName) and the decision's own subjects, so a lookup by
// artifact (the attestation store) finds it next to the decision.
type RevocationPredicate struct {
	Revoked   RevokedDecision `json:"revoked"`
	Reason    string          `json:"reason"`
	RevokedAt time.Time       `json:"revokedAt"`
	// Revoker is who signed, as the signer saw itself. Verifiers trust the
	// certificate (or key), never this field; it is here for the reader.
	Revoker Revoker `json:"revoker"`
	Airlock Tool    `json:"airlock"`
}

// RevokedDecision identifies the decision revoked.
type RevokedDecision struct {
	// PayloadDigest is "sha256:HEX" of the decision's DSSE payload.
	PayloadDigest string `json:"payloadDigest"`
	PredicateType string `json:"predicateType"`
	// Environment and IssuedAt are copied from the decision, for the reader.
	Environment string     `json:"environment,omitempty"`
	IssuedAt    *time.Time `json:"issuedAt,omitempty"`
	// Bundle is where the decision was found (an asset name, a file).
	Bundle string `json:"bundle,omitempty"`
}

// Revoker is the signer of a revocation: a workflow (keyless) or a key.
type Revoker struct {
	Identity   string `json:"identity"`
	Issuer     string `json:"issuer,omitempty"`
	Repository string `json:"repository,omitempty"`
	RunID      string `json:"run_id,omitempty"`
	RunAttempt string `json:"run_attempt,omitempty"`
	Actor      string `json:"actor,omitempty"`
}

// DecisionRef is what a revocation needs of a decision bundle, read
// without verifying it: revoking names a decision, it does not vouch for
// it, and a revocation of something that never verified revokes nothing.
type DecisionRef struct {
	PayloadDigest string
	Subjects      []Subject
	Environment   string
	IssuedAt      *time.Time
}

// InspectDecision reads a decision bundle's DSSE payload: its digest, its
// subjects and, for the reader, its environment and issue time. The
// payload must be an in-toto statement of airlock's decision type.
func InspectDecision(bundleJSON []byte) (*DecisionRef, error) {
	var b bundle.Bundle
	if err := b.UnmarshalJSON(bundleJSON); err != nil {
		return nil, fmt.Errorf("decision bundle: %w", err)
	}
	env := b.GetDsseEnvelope()
	if env == nil {
		return nil, fmt.Errorf("decision bundle: expected a DSSE envelope")
	}
	if env.GetPayloadType() != PayloadType {
		return nil, fmt.Errorf("decision bundle: expected payload type %q, got %q", PayloadType, env.GetPayloadType())
	}
	payload := env.GetPayload()
	if _, err := ParseStatement(payload); err != nil {
		return nil, fmt.Errorf("decision bundle: %w", err)
	}
	var st struct {
		Subject   []Subject `json:"subject"`
		Predicate struct {
			Issuer   Issuer   `json:"issuer"`
			Validity Validity `json:"validity"`
		} `json:"predicate"`
	}
	if err := json.Unmarshal(payload, &st); err != nil {
		return nil, fmt.Errorf("decision bundle: %w", err)
	}
	sum := sha256.Sum256(payload)
	ref := &DecisionRef{PayloadDigest: "sha256:" + hex.EncodeToString(sum[:]), Subjects: st.Subject, Environment: st.Predicate.Issuer.Environment}
	if t := st.Predicate.Validity.IssuedAt; !t.IsZero() {
		ref.IssuedAt = &t
	}
	return ref, nil
}

// NewRevocationStatement encodes the revocation of d. The reason is
// required, bounded and printable: it is shown to every auditor.
func NewRevocationStatement(d *DecisionRef, p RevocationPredicate) ([]byte, error) {
	if err := CheckReason(p.Reason); err != nil {
		return nil, err
	}
	if p.RevokedAt.IsZero() {
		return nil, fmt.Errorf("revocation: no time")
	}
	if p.Revoker.Identity == "" {
		return nil, fmt.Errorf("revocation: no revoker identity")
	}
	hx, ok := strings.CutPrefix(d.PayloadDigest, "sha256:")
	if !ok || !isDigest("sha256", hx) {
		return nil, fmt.Errorf("revocation: decision payload digest: expected sha256: and 64 lower-case hex digits, got %q", d.PayloadDigest)
	}
	if p.Revoked.PayloadDigest != d.PayloadDigest {
		return nil, fmt.Errorf("revocation: predicate names %q, the subject %q", p.Revoked.PayloadDigest, d.PayloadDigest)
	}
	subjects := append([]Subject{{Name: PayloadSubjectName, Digest: map[string]string{"sha256": hx}}}, d.Subjects...)
	return newStatement(subjects, RevocationPredicateType, p)
}

// CheckReason says why a revocation reason is not acceptable, or nil.
func CheckReason(reason string) error {
	switch {
	case strings.TrimSpace(reason) == "":
		return fmt.Errorf("revocation: reason is empty: say why the decision no longer counts")
	case len(reason) > MaxReasonBytes:
		return fmt.Errorf("revocation: reason is %d bytes, at most %d", len(reason), MaxReasonBytes)
	}
	for _, r := range reason {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("revocation: reason: %q is not printable text", r)
		}
	}
	return nil
}

// CheckTrustedRoot says whether a trusted root parses, so that a command
// can refuse a bad one before it asks anything of anyone.
func CheckTrustedRoot(trustedRootJSON []byte) error {
	if _, err := root.NewTrustedRootFromJSON(trustedRootJSON); err != nil {
		return fault.Configf("trusted root: %w", err)
	}
	return nil
}

// VerifyRevocation checks a revocation bundle this airlock run made before
// it may be published, as Verify does for a decision.
func VerifyRevocation(s *Signed, e Expectation) (*RevocationPredicate, error) {
	if err := verifySigned(s, e, RevocationPredicateType); err != nil {
		return nil, fmt.Errorf("verify the signed revocation before publishing: %w", err)
	}
	var st struct {
		Predicate RevocationPredicate `json:"predicate"`
	}
	if err := json.Unmarshal(s.Statement, &st); err != nil {
		return nil, fmt.Errorf("revocation: %w", err)
	}
	return &st.Predicate, nil
}
