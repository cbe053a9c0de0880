// Package verifytest is a Sigstore deployment that runs in-process, for tests
// and benchmarks: a Fulcio-like CA (root → intermediate → a short-lived leaf
// per signature, with GitHub Actions certificate extensions) and an RFC 3161
// timestamp authority. Bundles come out of sigstore-go's own sign.Bundle, so
// they are real bundle JSON, not hand-made look-alikes.
//
// Trust boundary: none. Keys are generated in memory and thrown away; nothing
// here may be used outside tests.
package verifytest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/digitorus/timestamp"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"google.golang.org/protobuf/encoding/protojson"
)

// Sigstore is one in-process deployment. Its trusted root has the shape of
// GitHub's Sigstore instance: a Fulcio CA and a timestamp authority, no
// transparency log, no CT log.
type Sigstore struct {
	// Now is the clock of the CA and the TSA (default time.Now): signing
	// "in the past" makes certificates and timestamps of that time.
	Now func() time.Time

	rootCert, fulcioCert, tsaRootCert, tsaCert *x509.Certificate
	fulcioKey, tsaKey                          *ecdsa.PrivateKey
	serial                                     int64
}

// New makes a deployment with fresh keys.
func New() (*Sigstore, error) {
	s := &Sigstore{Now: time.Now}
	start := time.Now().Add(-24 * time.Hour)
	end := start.Add(20 * 365 * 24 * time.Hour)
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	if s.rootCert, err = s.issue(&x509.Certificate{
		Subject:   pkix.Name{CommonName: "verifytest root", Organization: []string{"airlock test"}},
		NotBefore: start, NotAfter: end, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}, nil, rootKey.Public(), rootKey); err != nil {
		return nil, err
	}
	if s.fulcioKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return nil, err
	}
	if s.fulcioCert, err = s.issue(&x509.Certificate{
		Subject:   pkix.Name{CommonName: "verifytest fulcio intermediate", Organization: []string{"airlock test"}},
		NotBefore: start, NotAfter: end, IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	}, s.rootCert, s.fulcioKey.Public(), rootKey); err != nil {
		return nil, err
	}
	tsaRootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	if s.tsaRootCert, err = s.issue(&x509.Certificate{
		Subject:   pkix.Name{CommonName: "verifytest tsa root", Organization: []string{"airlock test"}},
		NotBefore: start, NotAfter: end, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}, nil, tsaRootKey.Public(), tsaRootKey); err != nil {
		return nil, err
	}
	if s.tsaKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return nil, err
	}
	// RFC 3161 §2.3: the TSA's certificate has exactly one, critical,
	// extended key usage: time stamping.
	eku, err := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 8}})
	if err != nil {
		return nil, err
	}
	if s.tsaCert, err = s.issue(&x509.Certificate{
		Subject:   pkix.Name{CommonName: "verifytest tsa", Organization: []string{"airlock test"}},
		NotBefore: start, NotAfter: end, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: true, Value: eku}},
	}, s.tsaRootCert, s.tsaKey.Public(), tsaRootKey); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Sigstore) issue(tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) (*x509.Certificate, error) {
	s.serial++
	tmpl.SerialNumber = big.NewInt(s.serial)
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// TrustedRoot is the deployment's trusted root JSON.
func (s *Sigstore) TrustedRoot() ([]byte, error) {
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01,
		[]root.CertificateAuthority{&root.FulcioCertificateAuthority{
			Root: s.rootCert, Intermediates: []*x509.Certificate{s.fulcioCert},
			ValidityPeriodStart: s.rootCert.NotBefore, URI: "https://fulcio.verifytest.invalid",
		}},
		nil,
		[]root.TimestampingAuthority{&root.SigstoreTimestampingAuthority{
			Root: s.tsaRootCert, Leaf: s.tsaCert,
			ValidityPeriodStart: s.tsaRootCert.NotBefore, URI: "https://tsa.verifytest.invalid",
		}},
		nil)
	if err != nil {
		return nil, err
	}
	return tr.MarshalJSON()
}

// Signer is the identity Fulcio would certify.
type Signer struct {
	// SAN is a URI (GitHub workflows) or an e-mail address.
	SAN    string
	Issuer string
	certificate.Extensions
}

// GitHubIssuer is GitHub.com's Actions OIDC issuer.
const GitHubIssuer = "https://token.actions.githubusercontent.com"

// GitHubWorkflow is the identity Fulcio certifies for a GitHub Actions job:
// the SAN is the workflow at ref, and the extensions are copied from the
// job's token as Fulcio does.
func GitHubWorkflow(repo, workflowPath, ref string) Signer {
	wf := "https://github.com/" + repo + "/" + workflowPath + "@" + ref
	return Signer{SAN: wf, Issuer: GitHubIssuer, Extensions: certificate.Extensions{
		BuildSignerURI:      wf,
		BuildSignerDigest:   strings.Repeat("a", 40),
		RunnerEnvironment:   "github-hosted",
		SourceRepositoryURI: "https://github.com/" + repo,
		SourceRepositoryRef: ref,
		BuildConfigURI:      wf,
		BuildTrigger:        "push",
		RunInvocationURI:    "https://github.com/" + repo + "/actions/runs/1/attempts/1",
	}}
}

func utf8Ext(oid asn1.ObjectIdentifier, v string) (pkix.Extension, error) {
	b, err := asn1.MarshalWithParams(v, "utf8")
	return pkix.Extension{Id: oid, Value: b}, err
}

// GetCertificate is the Fulcio half: a ten-minute leaf for the keypair.
type fulcio struct {
	s      *Sigstore
	signer Signer
}

func (f fulcio) GetCertificate(_ context.Context, kp sign.Keypair, _ *sign.CertificateProviderOptions) ([]byte, error) {
	now := f.s.Now()
	tmpl := &x509.Certificate{
		NotBefore:   now.Add(-time.Second),
		NotAfter:    now.Add(10 * time.Minute),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	}
	if u, err := url.Parse(f.signer.SAN); err == nil && u.Scheme != "" {
		tmpl.URIs = []*url.URL{u}
	} else {
		tmpl.EmailAddresses = []string{f.signer.SAN}
	}
	e := f.signer.Extensions
	pairs := []struct {
		oid asn1.ObjectIdentifier
		v   string
	}{
		{certificate.OIDIssuerV2, f.signer.Issuer},
		{certificate.OIDBuildSignerURI, e.BuildSignerURI},
		{certificate.OIDBuildSignerDigest, e.BuildSignerDigest},
		{certificate.OIDRunnerEnvironment, e.RunnerEnvironment},
		{certificate.OIDSourceRepositoryURI, e.SourceRepositoryURI},
		{certificate.OIDSourceRepositoryDigest, e.SourceRepositoryDigest},
		{certificate.OIDSourceRepositoryRef, e.SourceRepositoryRef},
		{certificate.OIDBuildConfigURI, e.BuildConfigURI},
		{certificate.OIDBuildTrigger, e.BuildTrigger},
		{certificate.OIDRunInvocationURI, e.RunInvocationURI},
	}
	for _, p := range pairs {
		if p.v == "" {
			continue
		}
		ext, err := utf8Ext(p.oid, p.v)
		if err != nil {
			return nil, err
		}
		tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, ext)
	}
	// Serial numbers only need to be unique per CA; random ones keep
	// concurrent signing free of shared state.
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	der, err := x509.CreateCertificate(rand.Reader, tmpl, f.s.fulcioCert, kp.GetPublicKey(), f.s.fulcioKey)
	return der, err
}

// tsaTransport answers RFC 3161 requests itself, so sign.Bundle's real
// timestamp client is used without a network.
type tsaTransport struct{ s *Sigstore }

func (t tsaTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		return nil, err
	}
	req, err := timestamp.ParseRequest(body)
	if err != nil {
		return nil, err
	}
	ts := timestamp.Timestamp{
		HashAlgorithm: req.HashAlgorithm, HashedMessage: req.HashedMessage,
		Time: t.s.Now(), Nonce: req.Nonce, Policy: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 2},
		ExtraExtensions: req.Extensions,
	}
	resp, err := ts.CreateResponseWithOpts(t.s.tsaCert, t.s.tsaKey, crypto.SHA256)
	if err != nil {
		return nil, err
	}
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/timestamp-reply"}},
		Body: io.NopCloser(bytes.NewReader(resp)), Request: r}, nil
}

func (s *Sigstore) options(signer *Signer) sign.BundleOptions {
	opts := sign.BundleOptions{TimestampAuthorities: []*sign.TimestampAuthority{sign.NewTimestampAuthority(&sign.TimestampAuthorityOptions{
		URL: "https://tsa.verifytest.invalid/api/v1/timestamp", Transport: tsaTransport{s},
	})}}
	if signer != nil {
		opts.CertificateProvider = fulcio{s, *signer}
	}
	return opts
}

func marshal(content sign.Content, kp sign.Keypair, opts sign.BundleOptions) ([]byte, error) {
	b, err := sign.Bundle(content, kp, opts)
	if err != nil {
		return nil, err
	}
	return protojson.Marshal(b)
}

// Attest signs an in-toto statement as a DSSE envelope with a fresh key and
// a leaf certificate for signer, timestamped by the TSA.
func (s *Sigstore) Attest(signer Signer, statement []byte) ([]byte, error) {
	kp, err := sign.NewEphemeralKeypair(nil)
	if err != nil {
		return nil, err
	}
	return marshal(&sign.DSSEData{Data: statement, PayloadType: "application/vnd.in-toto+json"}, kp, s.options(&signer))
}

// SignMessage signs an artifact's bytes (a message signature, as cosign
// sign-blob makes).
func (s *Sigstore) SignMessage(signer Signer, artifact []byte) ([]byte, error) {
	kp, err := sign.NewEphemeralKeypair(nil)
	if err != nil {
		return nil, err
	}
	return marshal(&sign.PlainData{Data: artifact}, kp, s.options(&signer))
}

// Key is a long-lived signing key for key-signed bundles.
type Key struct{ kp *sign.EphemeralKeypair }

// NewKey makes an ECDSA P-256 key.
func NewKey() (*Key, error) {
	kp, err := sign.NewEphemeralKeypair(nil)
	return &Key{kp}, err
}

// PublicPEM is the key's public half, as --key reads it.
func (k *Key) PublicPEM() ([]byte, error) {
	s, err := k.kp.GetPublicKeyPem()
	return []byte(s), err
}

// AttestWithKey signs a statement with the key (no certificate),
// timestamped by the TSA.
func (s *Sigstore) AttestWithKey(k *Key, statement []byte) ([]byte, error) {
	return marshal(&sign.DSSEData{Data: statement, PayloadType: "application/vnd.in-toto+json"}, k.kp, s.options(nil))
}

// Subject names an artifact by its bytes.
func Subject(name string, content []byte) map[string]any {
	d := sha256.Sum256(content)
	return map[string]any{"name": name, "digest": map[string]string{"sha256": hex.EncodeToString(d[:])}}
}

// Statement builds an in-toto Statement v1.
func Statement(predicateType string, predicate any, subjects ...map[string]any) ([]byte, error) {
	if len(subjects) == 0 {
		return nil, fmt.Errorf("statement: no subject")
	}
	return json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"subject":       subjects,
		"predicateType": predicateType,
		"predicate":     predicate,
	})
}
