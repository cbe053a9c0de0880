// Package opa builds, signs and evaluates the grants bundle (internal/grants)
// with OPA: Build and Signer for `airlock grants export`, Evaluator for
// in-process calls. Only airlock-rego links it (internal/engine; README,
// "Install").
package opa

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"encoding/pem"
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/grants"
	"github.com/airlock-dev/airlock/internal/keyfile"
)

// Signer signs the bundle in OPA's format (.signatures.json: a JWT listing
// each file's SHA-256), so that `opa run --verification-key` refuses a
// bundle changed after export.
type Signer struct {
	key   string // PEM; never formatted into an error
	alg   string
	keyID string
}

// NewSigner reads one PEM private key (keyfile.Parse: PKCS #8, PKCS #1 RSA
// or SEC 1 EC) and picks the JWS algorithm from it: RS256 for RSA, ES256/ES384/ES512 for
// P-256/P-384/P-521, EdDSA for Ed25519. keyID names the key as
// `opa run --verification-key-id` does (OPA's default is "default").
func NewSigner(pemKey []byte, keyID string) (*Signer, error) {
	if keyID == "" {
		keyID = "default"
	}
	key, blk, err := keyfile.Parse(pemKey)
	if err != nil {
		return nil, err
	}
	s := &Signer{key: string(pem.EncodeToMemory(blk)), keyID: keyID}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			return nil, fault.Configf("signing key: RSA key of %d bits, expected at least 2048", k.N.BitLen())
		}
		s.alg = "RS256"
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			s.alg = "ES256"
		case elliptic.P384():
			s.alg = "ES384"
		case elliptic.P521():
			s.alg = "ES512"
		default:
			return nil, fault.Configf("signing key: unsupported EC curve")
		}
	case ed25519.PrivateKey:
		s.alg = "EdDSA"
	default:
		return nil, fault.Configf("signing key: unsupported key type %T", key)
	}
	return s, nil
}

// Alg is the JWS algorithm, for `opa run --signing-alg`.
func (s *Signer) Alg() string { return s.alg }

// KeyID is the key id, for `opa run --verification-key-id`.
func (s *Signer) KeyID() string { return s.keyID }

// Build writes the OPA bundle (.tar.gz): .manifest (revision = the
// decision digest, roots = [grants.Root], Rego v1), data.json with the decision
// under data.airlock.grants.decision, and the module; signed when s is not
// nil. The module is compiled against the data first: a bundle OPA would
// refuse is never written.
func Build(ctx context.Context, d grants.Decision, s *Signer) ([]byte, error) {
	b, err := newBundle(d)
	if err != nil {
		return nil, err
	}
	if _, err := prepare(ctx, b, "data."+grants.Package+".response"); err != nil {
		return nil, fault.Configf("grants: the exported module does not compile: %w", err)
	}
	if s != nil {
		cfg := bundle.NewSigningConfig(s.key, s.alg, "")
		if err := b.GenerateSignature(cfg, s.keyID, true); err != nil {
			return nil, fault.Configf("grants: sign the bundle with the %s key %q: failed", s.alg, s.keyID)
		}
	}
	var out bytes.Buffer
	if err := bundle.NewWriter(&out).UseModulePath(true).DisableFormat(true).Write(*b); err != nil {
		return nil, fault.Operationalf("grants: write bundle: %w", err)
	}
	return out.Bytes(), nil
}

func newBundle(d grants.Decision) (*bundle.Bundle, error) {
	raw, err := json.Marshal(d)
	if err != nil {
		return nil, fault.Operationalf("grants: encode decision: %w", err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fault.Operationalf("grants: encode decision: %w", err)
	}
	mod, err := ast.ParseModuleWithOpts(grants.ModulePath, grants.Module, ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err != nil {
		return nil, fault.Configf("grants: parse module: %w", err)
	}
	roots := []string{grants.Root}
	v1 := 1
	b := &bundle.Bundle{
		Manifest: bundle.Manifest{Revision: d.DecisionDigest, Roots: &roots, RegoVersion: &v1,
			Metadata: map[string]any{"airlock": map[string]any{"notAfter": d.NotAfter, "policy_digest": d.PolicyDigest}}},
		Data:    map[string]any{"airlock": map[string]any{"grants": map[string]any{"decision": doc}}},
		Modules: []bundle.ModuleFile{{URL: grants.ModulePath, Path: grants.ModulePath, Raw: []byte(grants.Module), Parsed: mod}},
	}
	return b, nil
}

func prepare(ctx context.Context, b *bundle.Bundle, query string) (rego.PreparedEvalQuery, error) {
	return rego.New(
		rego.Query(query),
		rego.ParsedBundle("airlock-grants", b),
		rego.SetRegoVersion(ast.RegoV1),
		rego.StrictBuiltinErrors(false),
	).PrepareForEval(ctx)
}

// ReadDecision reads data.airlock.grants.decision back from a bundle.
func ReadDecision(tarball []byte) (grants.Decision, error) {
	b, err := bundle.NewReader(bytes.NewReader(tarball)).WithSkipBundleVerification(true).Read()
	if err != nil {
		return grants.Decision{}, fmt.Errorf("read bundle: %w", err)
	}
	var d grants.Decision
	a, _ := b.Data["airlock"].(map[string]any)
	g, _ := a["grants"].(map[string]any)
	raw, err := json.Marshal(g["decision"])
	if err != nil {
		return grants.Decision{}, err
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		return grants.Decision{}, fmt.Errorf("read bundle: decision: %w", err)
	}
	return d, nil
}
