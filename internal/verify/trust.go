package verify

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/airlock-dev/airlock/internal/fault"
)

// MaxTrustedRootBytes caps a trusted root file. Real ones are a few KiB; a
// JSONL of every root GitHub and public-good ever published stays far below.
const MaxTrustedRootBytes = 8 << 20

// trustDomain is one trusted root with the verifiers its contents call for,
// built once and shared by every worker (sigstore-go verifiers are
// read-only after construction).
type trustDomain struct {
	name string
	// forCert verifies bundles signed with a Fulcio certificate, forKey
	// bundles signed with --key. They differ only in the SCT requirement:
	// a public key cannot carry an SCT.
	forCert, forKey *sgverify.Verifier
	profile         string
}

// parseTrustedRoots reads one trusted root (JSON) or several (JSONL, or
// concatenated JSON values). Any root that does not parse is a configuration
// error: a verifier that silently drops a root it was told to trust would
// report failures nobody can explain, and one that keeps a half-parsed root
// could trust what it should not.
func parseTrustedRoots(data []byte) ([]*root.TrustedRoot, error) {
	if len(data) > MaxTrustedRootBytes {
		return nil, fault.Configf("trusted root: larger than %d bytes", MaxTrustedRootBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var roots []*root.TrustedRoot
	for i := 1; ; i++ {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fault.Configf("trusted root %d: not JSON: %w", i, err)
		}
		tr, err := root.NewTrustedRootFromJSON(raw)
		if err != nil {
			return nil, fault.Configf("trusted root %d: %w", i, err)
		}
		roots = append(roots, tr)
	}
	if len(roots) == 0 {
		return nil, fault.Configf("trusted root: no root found in the file")
	}
	return roots, nil
}

// thresholds derives what a bundle must carry from what the root offers, so
// that a root describing a deployment with a transparency log can never be
// satisfied by a bundle that skipped the log:
//   - a root with transparency logs requires a log entry and an observer
//     timestamp (the log's integrated time or an RFC 3161 timestamp);
//   - a root with timestamp authorities and no logs (GitHub's instance)
//     requires an RFC 3161 timestamp;
//   - a root with CT logs requires an SCT in the Fulcio certificate.
//
// withKey builds the variant for key-signed bundles (no SCT). A root with
// neither logs nor timestamp authorities can still anchor key signatures
// (nothing to time them against), but never a short-lived certificate.
func thresholds(tm root.TrustedMaterial, withKey bool) ([]sgverify.VerifierOption, string) {
	var opts []sgverify.VerifierOption
	hasTlog := len(tm.RekorLogs()) > 0
	hasTSA := len(tm.TimestampingAuthorities()) > 0
	var profile string
	switch {
	case hasTlog:
		opts = append(opts, sgverify.WithTransparencyLog(1), sgverify.WithObserverTimestamps(1))
		profile = "transparency log"
	case hasTSA:
		opts = append(opts, sgverify.WithSignedTimestamps(1))
		profile = "timestamp authority"
	case withKey:
		opts = append(opts, sgverify.WithNoObserverTimestamps())
		profile = "key"
	default:
		// Nothing in the root can time a signature: require an observer
		// timestamp anyway, which no bundle can satisfy against this root.
		opts = append(opts, sgverify.WithObserverTimestamps(1))
		profile = "no time source"
	}
	if !withKey && len(tm.CTLogs()) > 0 {
		opts = append(opts, sgverify.WithSignedCertificateTimestamps(1))
		profile += " + CT"
	}
	// Airlock reads the predicate itself from the verified payload, so
	// sigstore-go need not build a structpb tree of it for every bundle.
	opts = append(opts, sgverify.WithoutStatementPredicate())
	return opts, profile
}

// keyMaterial wraps a PEM public key as trusted material that answers every
// key hint: the operator named exactly one key, so any hint in the bundle is
// just a hint.
func keyMaterial(pemKey []byte) (root.TrustedMaterial, string, error) {
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(pemKey)
	if err != nil {
		return nil, "", fault.Configf("key: %w", err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, "", fault.Configf("key: %w", err)
	}
	sum := sha256.Sum256(der)
	id := "sha256:" + hex.EncodeToString(sum[:])
	v, err := signature.LoadDefaultVerifier(pub)
	if err != nil {
		return nil, "", fault.Configf("key: %w", err)
	}
	// Validity is open: a bare public key carries no validity period.
	k := root.NewExpiringKey(v, time.Time{}, time.Time{})
	return root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) { return k, nil }), id, nil
}

// newTrustDomains builds one domain per trusted root (with the key added to
// each when given), or a key-only domain when no root is given. keyID is the
// SHA-256 fingerprint of the operator's key: records name it rather than
// the hint a bundle claims.
func newTrustDomains(rootsJSON, pemKey []byte) (domains []trustDomain, keyID string, err error) {
	var key root.TrustedMaterial
	if len(pemKey) > 0 {
		if key, keyID, err = keyMaterial(pemKey); err != nil {
			return nil, "", err
		}
	}
	var materials []root.TrustedMaterial
	var names []string
	if len(rootsJSON) > 0 {
		roots, err := parseTrustedRoots(rootsJSON)
		if err != nil {
			return nil, "", err
		}
		for i, tr := range roots {
			var tm root.TrustedMaterial = tr
			if key != nil {
				tm = root.TrustedMaterialCollection{tr, key}
			}
			materials = append(materials, tm)
			names = append(names, fmt.Sprintf("trusted root %d", i+1))
		}
	} else if key != nil {
		materials = append(materials, key)
		names = append(names, "key")
	} else {
		return nil, "", fault.Usagef("no trust material: give a trusted root or a key")
	}
	domains = make([]trustDomain, 0, len(materials))
	for i, tm := range materials {
		d := trustDomain{name: names[i]}
		certOpts, profile := thresholds(tm, false)
		keyOpts, _ := thresholds(tm, true)
		if d.forCert, err = sgverify.NewVerifier(tm, certOpts...); err != nil {
			return nil, "", fault.Configf("%s: %w", names[i], err)
		}
		if d.forKey, err = sgverify.NewVerifier(tm, keyOpts...); err != nil {
			return nil, "", fault.Configf("%s: %w", names[i], err)
		}
		d.profile = profile
		domains = append(domains, d)
	}
	return domains, keyID, nil
}
