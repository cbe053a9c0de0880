package attest

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/airlock-dev/airlock/internal/endpoint"
	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/httpx"
	"github.com/airlock-dev/airlock/internal/keyfile"
)

// Signed is a finished, not yet verified, Sigstore bundle.
type Signed struct {
	// Bundle is the Sigstore bundle v0.3 as JSON.
	Bundle []byte
	// Statement is the exact DSSE payload that was signed.
	Statement []byte
}

// Signer signs an in-toto statement into a Sigstore bundle.
type Signer interface {
	Sign(ctx context.Context, statement []byte) (*Signed, error)
	// Expectation says how a bundle this signer made must verify.
	Expectation() Expectation
}

// Expectation is what Verify demands of a bundle.
type Expectation struct {
	// Material is the trusted root (keyless) or the public key (key signer).
	Material root.TrustedMaterial
	// TrustedRootJSON is the trusted root Material came from, published
	// next to the bundle so auditors verify offline (keyless only).
	TrustedRootJSON []byte
	// Keyless: the certificate must name this identity and issuer.
	SAN, Issuer string
	// PublicKeyPEM is the key signer's public key; KeyHint its bundle hint.
	PublicKeyPEM []byte
	KeyHint      string
	// Timestamps and TlogEntries are how many of each the bundle must carry
	// and verify.
	Timestamps, TlogEntries int
}

// Services are the Sigstore endpoints of a keyless signer. A private
// Sigstore deployment sets its own URLs here.
type Services struct {
	FulcioURL string
	RekorURL  string // empty: no transparency log entry
	TSAURL    string // empty: no RFC 3161 timestamp
}

// KeylessConfig configures keyless signing.
type KeylessConfig struct {
	Services Services
	// IDToken is the job's OIDC token with audience "sigstore" (a secret).
	IDToken string
	// TrustedRootJSON is the trusted root of these services (a
	// trusted_root.json); the bundle must verify against it.
	TrustedRootJSON []byte
	// SAN and Issuer are the identity the certificate must carry.
	SAN, Issuer string
	HTTPClient  *http.Client
	Retry       Retry
	Now         func() time.Time
}

// KeylessSigner signs with a short-lived Fulcio certificate for the job's
// OIDC identity.
type KeylessSigner struct {
	cfg  KeylessConfig
	root *root.TrustedRoot
}

var _ Signer = (*KeylessSigner)(nil)

// NewKeylessSigner checks cfg. Signing needs at least one source of signed
// time (a Rekor entry or a timestamp): a Fulcio certificate lives ten
// minutes, so without one the bundle would stop verifying almost at once.
func NewKeylessSigner(cfg KeylessConfig) (*KeylessSigner, error) {
	if cfg.HTTPClient == nil || cfg.Now == nil {
		return nil, fault.Configf("keyless signer: HTTPClient and Now are required")
	}
	if strings.Count(cfg.IDToken, ".") != 2 {
		return nil, fault.Configf("keyless signer: expected an OIDC token (a compact JWT)")
	}
	if cfg.SAN == "" || cfg.Issuer == "" {
		return nil, fault.Configf("keyless signer: expected identity: certificate SAN and issuer")
	}
	for _, u := range []struct{ name, v string }{{"fulcio-url", cfg.Services.FulcioURL}, {"rekor-url", cfg.Services.RekorURL}, {"tsa-url", cfg.Services.TSAURL}} {
		if u.v == "" && u.name != "fulcio-url" {
			continue
		}
		if err := checkServiceURL(u.name, u.v); err != nil {
			return nil, err
		}
	}
	if cfg.Services.RekorURL == "" && cfg.Services.TSAURL == "" {
		return nil, fault.Configf("keyless signer: neither a Rekor nor a timestamp authority URL: the certificate would outlive nothing")
	}
	tr, err := root.NewTrustedRootFromJSON(cfg.TrustedRootJSON)
	if err != nil {
		return nil, fault.Configf("keyless signer: trusted root: %w", err)
	}
	if len(tr.FulcioCertificateAuthorities()) == 0 {
		return nil, fault.Configf("keyless signer: trusted root has no certificate authority")
	}
	if cfg.Services.TSAURL != "" && len(tr.TimestampingAuthorities()) == 0 {
		return nil, fault.Configf("keyless signer: a timestamp authority is configured but the trusted root has none")
	}
	if cfg.Services.RekorURL != "" && len(tr.RekorLogs()) == 0 {
		return nil, fault.Configf("keyless signer: Rekor is configured but the trusted root has no transparency log")
	}
	cfg.Retry = cfg.Retry.withDefaults()
	return &KeylessSigner{cfg: cfg, root: tr}, nil
}

// checkServiceURL allows https, and http only on loopback (local test
// services): the OIDC token goes to Fulcio.
func checkServiceURL(name, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fault.Configf("input %s: expected an absolute URL without credentials, query or fragment", name)
	}
	switch {
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && endpoint.IsLoopback(u.Hostname()):
		return nil
	default:
		return fault.Configf("input %s: %q: expected https (plain http only on loopback)", name, u.Redacted())
	}
}

// Expectation implements Signer.
func (s *KeylessSigner) Expectation() Expectation {
	e := Expectation{Material: s.root, TrustedRootJSON: s.cfg.TrustedRootJSON, SAN: s.cfg.SAN, Issuer: s.cfg.Issuer}
	if s.cfg.Services.TSAURL != "" {
		e.Timestamps = 1
	}
	if s.cfg.Services.RekorURL != "" {
		e.TlogEntries = 1
	}
	return e
}

func (s *KeylessSigner) transport(ctx context.Context, service string, pass ...int) *serviceTransport {
	base := s.cfg.HTTPClient.Transport
	if base == nil {
		base = httpx.DefaultTransport()
	}
	t := &serviceTransport{ctx: ctx, service: service, base: base, retry: s.cfg.Retry, now: s.cfg.Now, redact: []string{s.cfg.IDToken}, pass: map[int]bool{}}
	for _, p := range pass {
		t.pass[p] = true
	}
	return t
}

// Sign implements Signer: a fresh ECDSA P-256 key, a Fulcio certificate for
// it, the DSSE signature, then the Rekor entry and/or timestamp.
func (s *KeylessSigner) Sign(ctx context.Context, statement []byte) (*Signed, error) {
	kp, err := sign.NewEphemeralKeypair(nil)
	if err != nil {
		return nil, fault.Operationalf("sign: generate key: %w", err)
	}
	fulcio := sign.NewFulcio(&sign.FulcioOptions{
		BaseURL:   strings.TrimSuffix(s.cfg.Services.FulcioURL, "/"),
		Timeout:   -1, // the transport times each attempt
		Retries:   0,  // the transport retries
		Transport: s.transport(ctx, ServiceFulcio),
	})
	opts := sign.BundleOptions{
		Context:                    ctx,
		CertificateProvider:        named{ServiceFulcio, fulcio},
		CertificateProviderOptions: &sign.CertificateProviderOptions{IDToken: s.cfg.IDToken},
	}
	if s.cfg.Services.RekorURL != "" {
		rc, err := newRekorClient(s.cfg.Services.RekorURL, s.transport(ctx, ServiceRekor, http.StatusConflict))
		if err != nil {
			return nil, fault.Configf("input rekor-url: %w", err)
		}
		opts.TransparencyLogs = []sign.Transparency{namedTlog{sign.NewRekor(&sign.RekorOptions{
			BaseURL: s.cfg.Services.RekorURL, Timeout: -1, Client: rc,
		})}}
	}
	var tsa *sign.TimestampAuthority
	if s.cfg.Services.TSAURL != "" {
		tsa = sign.NewTimestampAuthority(&sign.TimestampAuthorityOptions{
			URL: s.cfg.Services.TSAURL, Timeout: -1, Retries: 0, Transport: s.transport(ctx, ServiceTSA),
		})
	}
	return signBundle(ctx, statement, kp, opts, tsa, s.cfg.IDToken)
}

// signBundle runs sign.Bundle, then adds the RFC 3161 timestamp itself: a
// timestamp authority's failures are then reported as such instead of as
// an anonymous error from inside sign.Bundle.
func signBundle(ctx context.Context, statement []byte, kp sign.Keypair, opts sign.BundleOptions, tsa *sign.TimestampAuthority, secret string) (*Signed, error) {
	content := &sign.DSSEData{Data: statement, PayloadType: PayloadType}
	pb, err := sign.Bundle(content, kp, opts)
	if err != nil {
		return nil, signError(err, secret)
	}
	if tsa != nil {
		env := pb.GetDsseEnvelope()
		if env == nil || len(env.GetSignatures()) != 1 {
			return nil, fault.Operationalf("sign: expected one DSSE signature in the bundle")
		}
		ts, err := tsa.GetTimestamp(ctx, env.GetSignatures()[0].GetSig())
		if err != nil {
			return nil, signError(fmt.Errorf("%s: %w", ServiceTSA, err), secret)
		}
		vm := pb.GetVerificationMaterial()
		if vm.TimestampVerificationData == nil {
			vm.TimestampVerificationData = &protobundle.TimestampVerificationData{}
		}
		vm.TimestampVerificationData.Rfc3161Timestamps = append(vm.TimestampVerificationData.Rfc3161Timestamps,
			&protocommon.RFC3161SignedTimestamp{SignedTimestamp: ts})
	}
	b, err := protojson.Marshal(pb)
	if err != nil {
		return nil, fault.Operationalf("sign: encode bundle: %w", err)
	}
	return &Signed{Bundle: b, Statement: statement}, nil
}

// signError keeps a ServiceError as the cause (it names the service and is
// already clean of secrets); any other error is scrubbed of the secret.
func signError(err error, secret string) error {
	if se, ok := serviceError(err); ok {
		return fault.Operational(fmt.Errorf("sign the decision: %w", se))
	}
	msg := err.Error()
	if secret != "" {
		msg = strings.ReplaceAll(msg, secret, "[redacted]")
	}
	return fault.Operational(fmt.Errorf("sign the decision: %s", msg))
}

// named prefixes a certificate provider's own errors (a malformed answer)
// with the service's name.
type named struct {
	service string
	p       sign.CertificateProvider
}

func (n named) GetCertificate(ctx context.Context, kp sign.Keypair, o *sign.CertificateProviderOptions) ([]byte, error) {
	b, err := n.p.GetCertificate(ctx, kp, o)
	if err != nil {
		if _, ok := serviceError(err); ok {
			return nil, err
		}
		return nil, fmt.Errorf("%s: %w", n.service, err)
	}
	return b, nil
}

type namedTlog struct{ t sign.Transparency }

func (n namedTlog) GetTransparencyLogEntry(ctx context.Context, pem []byte, b *protobundle.Bundle) error {
	if err := n.t.GetTransparencyLogEntry(ctx, pem, b); err != nil {
		if _, ok := serviceError(err); ok {
			return err
		}
		return fmt.Errorf("%s: %w", ServiceRekor, err)
	}
	return nil
}

// KeyConfig configures signing with a private key (air-gapped users).
type KeyConfig struct {
	// PrivateKeyPEM is a PKCS#8, SEC 1 (EC) or PKCS#1 (RSA) private key, not
	// encrypted (a secret).
	PrivateKeyPEM []byte
	// TSAURL optionally adds an RFC 3161 timestamp; TrustedRootJSON must
	// then hold that authority.
	TSAURL          string
	TrustedRootJSON []byte
	HTTPClient      *http.Client
	Retry           Retry
	Now             func() time.Time
}

// KeySigner signs with a long-lived private key; the bundle carries the
// public key's hint, not a certificate.
type KeySigner struct {
	cfg  KeyConfig
	kp   *keyPair
	tsas *root.TrustedRoot
}

var _ Signer = (*KeySigner)(nil)

// CheckPrivateKey reports whether pemBytes is a private key NewKeySigner
// accepts, for configuration checks before any request. Errors never quote
// the PEM.
func CheckPrivateKey(pemBytes []byte) error {
	_, err := parsePrivateKey(pemBytes)
	return err
}

// NewKeySigner parses the key. Errors never quote the PEM.
func NewKeySigner(cfg KeyConfig) (*KeySigner, error) {
	if cfg.HTTPClient == nil || cfg.Now == nil {
		return nil, fault.Configf("key signer: HTTPClient and Now are required")
	}
	kp, err := parsePrivateKey(cfg.PrivateKeyPEM)
	if err != nil {
		return nil, err
	}
	s := &KeySigner{cfg: cfg, kp: kp}
	if cfg.TSAURL != "" {
		if err := checkServiceURL("tsa-url", cfg.TSAURL); err != nil {
			return nil, err
		}
		tr, err := root.NewTrustedRootFromJSON(cfg.TrustedRootJSON)
		if err != nil || len(tr.TimestampingAuthorities()) == 0 {
			return nil, fault.Configf("key signer: a timestamp authority needs a trusted root that holds it")
		}
		s.tsas = tr
	}
	s.cfg.Retry = cfg.Retry.withDefaults()
	return s, nil
}

// Expectation implements Signer.
func (s *KeySigner) Expectation() Expectation {
	pemKey, _ := s.kp.GetPublicKeyPem()
	e := Expectation{PublicKeyPEM: []byte(pemKey), KeyHint: string(s.kp.hint)}
	verifier, err := signature.LoadDefaultVerifier(s.kp.pub)
	if err == nil {
		keys := map[string]*root.ExpiringKey{string(s.kp.hint): root.NewExpiringKey(verifier, time.Time{}, time.Time{})}
		var m root.TrustedMaterial = root.NewTrustedPublicKeyMaterialFromMapping(keys)
		if s.tsas != nil {
			m = root.TrustedMaterialCollection{m, s.tsas}
			e.Timestamps = 1
			e.TrustedRootJSON = s.cfg.TrustedRootJSON
		}
		e.Material = m
	}
	return e
}

// Sign implements Signer.
func (s *KeySigner) Sign(ctx context.Context, statement []byte) (*Signed, error) {
	var tsa *sign.TimestampAuthority
	if s.cfg.TSAURL != "" {
		t := &serviceTransport{ctx: ctx, service: ServiceTSA, base: s.cfg.HTTPClient.Transport, retry: s.cfg.Retry, now: s.cfg.Now}
		if t.base == nil {
			t.base = httpx.DefaultTransport()
		}
		tsa = sign.NewTimestampAuthority(&sign.TimestampAuthorityOptions{URL: s.cfg.TSAURL, Timeout: -1, Transport: t})
	}
	return signBundle(ctx, statement, s.kp, sign.BundleOptions{Context: ctx}, tsa, "")
}

// keyPair is a sign.Keypair over a parsed private key.
type keyPair struct {
	priv crypto.Signer
	pub  crypto.PublicKey
	alg  signature.AlgorithmDetails
	hint []byte
}

var _ sign.Keypair = (*keyPair)(nil)

func parsePrivateKey(pemBytes []byte) (*keyPair, error) {
	signer, _, err := keyfile.Parse(pemBytes)
	if err != nil {
		return nil, err
	}
	alg, err := signature.GetDefaultAlgorithmDetails(signer.Public())
	if err != nil {
		return nil, fault.Configf("signing key: unsupported key: %w", err)
	}
	der, err := x509.MarshalPKIXPublicKey(signer.Public())
	if err != nil {
		return nil, fault.Configf("signing key: public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return &keyPair{priv: signer, pub: signer.Public(), alg: alg, hint: []byte(base64.StdEncoding.EncodeToString(sum[:]))}, nil
}

func (k *keyPair) GetHashAlgorithm() protocommon.HashAlgorithm { return k.alg.GetProtoHashType() }
func (k *keyPair) GetSigningAlgorithm() protocommon.PublicKeyDetails {
	return k.alg.GetSignatureAlgorithm()
}
func (k *keyPair) GetHint() []byte                { return k.hint }
func (k *keyPair) GetPublicKey() crypto.PublicKey { return k.pub }
func (k *keyPair) GetKeyAlgorithm() string {
	switch k.alg.GetKeyType() {
	case signature.ECDSA:
		return "ECDSA"
	case signature.RSA:
		return "RSA"
	case signature.ED25519:
		return "ED25519"
	default:
		return ""
	}
}

func (k *keyPair) GetPublicKeyPem() (string, error) {
	b, err := cryptoutils.MarshalPublicKeyToPEM(k.pub)
	return string(b), err
}

func (k *keyPair) SignData(_ context.Context, data []byte) ([]byte, []byte, error) {
	hf := k.alg.GetHashType()
	digest := data
	if hf != crypto.Hash(0) {
		h := hf.New()
		h.Write(data)
		digest = h.Sum(nil)
	}
	sig, err := k.priv.Sign(rand.Reader, digest, hf)
	if err != nil {
		return nil, nil, fmt.Errorf("sign with key: %w", err)
	}
	return sig, digest, nil
}
